#include "agent/k8s/kube_client.h"

#include <sys/socket.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "checks/common/net.h"
#include "checks/common/tls.h"
#include "checks/common/version.h"
#include "checks/http/http_response.h"

namespace vigil {
namespace {

constexpr size_t kMaxTokenBytes = 64 * 1024;

std::string Trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

const std::string& KubeClient::Token() {
  struct stat st {};
  FileId id;
  if (stat(config_.token_file.c_str(), &st) == 0) {
    id = {st.st_dev, st.st_ino, st.st_size,
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec};
  }
  if (id == token_id_ && !token_.empty()) return token_;
  token_id_ = id;
  std::ifstream in(config_.token_file, std::ios::binary);
  std::ostringstream s;
  if (in) s << in.rdbuf();
  std::string text = s.str();
  token_ = text.size() > kMaxTokenBytes ? "" : Trimmed(std::move(text));
  return token_;
}

std::string KubeClient::RequestText(const std::string& method, const std::string& path,
                                    const std::string& content_type, const std::string& body) {
  std::string host =
      config_.host.find(':') != std::string::npos ? "[" + config_.host + "]" : config_.host;
  if (config_.port != 443) host += ":" + std::to_string(config_.port);
  std::string r = method + " " + config_.base_path + path + " HTTP/1.1\r\nHost: " + host +
                  "\r\nUser-Agent: vigil/" + kVersion + " (events)\r\nAccept: application/json\r\n";
  const std::string& token = Token();
  if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
  if (!body.empty()) {
    r += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n";
  }
  return r + "Connection: close\r\n\r\n" + body;
}

KubeResponse KubeClient::Send(const std::string& method, const std::string& path,
                              const std::string& content_type, const std::string& body,
                              Deadline deadline) {
  KubeResponse out;
  {
    MutexLock lock(mu_);
    if (aborted_) {
      out.error = "stopping";
      return out;
    }
  }
  int fd = -1;
  const NetResult connected = ConnectTcp(config_.host, config_.port, deadline, &fd);
  if (connected.status != NetStatus::kOk) {
    out.timed_out = connected.status == NetStatus::kTimeout;
    out.error = connected.error;
    return out;
  }
  const std::string request = RequestText(method, path, content_type, body);
  return Exchange(fd, request, deadline);
}

KubeResponse KubeClient::Exchange(int fd, const std::string& request, Deadline deadline) {
  KubeResponse out;
  Stream stream;
  stream.Attach(fd);
  {
    MutexLock lock(mu_);
    active_fd_ = fd;
  }
  TlsConfig tls;
  tls.ca_file = config_.ca_file;
  StreamResult r = stream.StartTls(tls, config_.host, deadline);
  if (r.status == StreamStatus::kOk) r = stream.Write(request.data(), request.size(), deadline);
  if (r.status == StreamStatus::kOk) {
    std::string in;
    HttpResponseHead head;
    std::optional<CheckResult> fault = ReadHttpResponseHead(stream, deadline, &in, &head);
    if (!fault) fault = ReadHttpResponseBody(stream, deadline, head, &in, &out.body);
    if (fault) {
      out.timed_out = fault->timed_out;
      out.error = fault->timed_out ? "no answer before the deadline" : fault->reason;
    } else {
      out.status = head.status;
    }
  } else {
    out.timed_out = r.status == StreamStatus::kTimeout;
    out.error = r.status == StreamStatus::kTimeout ? "TLS handshake timeout"
                                                   : (r.error.empty() ? "closed" : r.error);
  }
  {
    MutexLock lock(mu_);
    active_fd_ = -1;
  }
  return out;
}

void KubeClient::Abort() {
  MutexLock lock(mu_);
  aborted_ = true;
  if (active_fd_ >= 0) shutdown(active_fd_, SHUT_RDWR);
}

}  // namespace vigil
