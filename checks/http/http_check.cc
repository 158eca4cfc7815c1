// `http` check kind: one HTTP/1.1 GET per run, 2xx/3xx passes (or exactly
// `expect_status`), redirects are not followed, and `expect_body_contains`
// optionally looks for a substring in the first 64 KiB of the body.
//
// The client is written here over checks/common/net.h rather than taken from
// cpp-httplib: httplib's client resolves the host with a blocking
// getaddrinfo() (no deadline at all when DNS does not answer) and its
// timeouts are per operation (connect, each read, each write), so a server
// that trickles a byte every so often keeps it busy forever. Here every step
// (resolve, connect, send, each read) polls against the one absolute deadline
// of the run.
//
// A fresh connection per run with `Connection: close`, like the kubelet's own
// HTTP probe: the route checked is normally the app's own, on the same pod.
// https:// runs the TLS layer of checks/common/tls.h on that same socket, handshake
// included, under the same deadline; the URL's host is the name verified
// unless tls.server_name says otherwise.
#include "checks/http/http_check.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "checks/common/net.h"
#include "checks/common/tls.h"
#include "checks/common/url.h"
#include "checks/common/version.h"
#include "checks/http/http_response.h"

namespace vigil {
namespace {

std::string Base64(const std::string& in) {
  static const char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += kTable[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

struct HttpCheckConfig {
  HttpUrl url;
  std::optional<TlsConfig> tls;      // https:// only
  std::string expect_body_contains;  // empty: no body check
  int expect_status = 0;             // 0: any 2xx/3xx
};

class HttpCheck final : public Check {
 public:
  explicit HttpCheck(HttpCheckConfig config) : config_(std::move(config)) {
    const HttpUrl& u = config_.url;
    std::string host_header = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    if (u.port != (u.tls ? 443 : 80)) host_header += ":" + std::to_string(u.port);
    request_ = "GET " + u.path_and_query + " HTTP/1.1\r\n";
    request_ += "Host: " + host_header + "\r\n";
    request_ += std::string("User-Agent: vigil/") + kVersion + "\r\n";
    request_ += "Accept: */*\r\n";
    request_ += "Connection: close\r\n";
    if (u.has_userinfo)
      request_ += "Authorization: Basic " + Base64(u.user + ":" + u.password) + "\r\n";
    request_ += "\r\n";
  }

  CheckResult Run(Deadline deadline) override {
    Stream stream;
    CheckResult r = Attempt(stream, deadline);
    if (config_.tls) {
      if (auto not_after = stream.peer_not_after()) tls_not_after_ = not_after;
      r.tls_not_after = tls_not_after_;
      NoteInsecureOnce(*config_.tls, &insecure_noted_, &r);
    }
    return r;
  }

  std::string Target() const override {
    return HostAndPort{config_.url.host, config_.url.port}.ToString();
  }

 private:
  CheckResult Attempt(Stream& stream, Deadline deadline) {
    int fd = -1;
    NetResult c = ConnectTcp(config_.url.host, config_.url.port, deadline, &fd);
    if (c.status == NetStatus::kTimeout) return CheckResult::Timeout(c.error);
    if (c.status != NetStatus::kOk) return CheckResult::Fail(c.kind, c.error);
    stream.Attach(fd);  // closed with the stream, at the end of the run
    if (config_.tls) {
      StreamResult t = stream.StartTls(*config_.tls, config_.url.host, deadline);
      if (t.status == StreamStatus::kTimeout) return HandshakeTimeoutResult();
      if (t.status != StreamStatus::kOk) return CheckResult::Fail(FailureKind::kTls, t.error);
    }

    // Send the request.
    StreamResult w = stream.Write(request_.data(), request_.size(), deadline);
    if (w.status == StreamStatus::kTimeout) return CheckResult::Timeout("sending request");
    if (w.status != StreamStatus::kOk) {
      const std::string why = w.sys_errno != 0 ? std::string(std::strerror(w.sys_errno)) : w.error;
      if (w.kind == FailureKind::kTls) return CheckResult::Fail(FailureKind::kTls, w.error);
      return CheckResult::Fail("sending request: " + why);
    }

    // Status line and headers (skipping interim 1xx responses).
    std::string in;
    HttpResponseHead head;
    if (auto failed = ReadHttpResponseHead(stream, deadline, &in, &head)) return *failed;
    const int status = head.status;

    bool status_ok = config_.expect_status != 0 ? status == config_.expect_status
                                                : (status >= 200 && status < 400);
    if (!status_ok) {
      std::string why = "HTTP " + std::to_string(status);
      if (config_.expect_status != 0) why += ", want " + std::to_string(config_.expect_status);
      return CheckResult::Fail(FailureKind::kStatus, why);
    }

    // Body, up to kHttpMaxBodyBytes: read so that a route that hangs after its
    // headers fails like it does for the kubelet, and for expect_body_contains.
    std::string body;
    if (auto failed = ReadHttpResponseBody(stream, deadline, head, &in, &body)) return *failed;

    if (!config_.expect_body_contains.empty() &&
        body.find(config_.expect_body_contains) == std::string::npos) {
      std::string why = "HTTP " + std::to_string(status) + " but body does not contain " +
                        QuotedForMessage(config_.expect_body_contains);
      if (body.size() >= kHttpMaxBodyBytes) why += " (first 64 KiB searched)";
      return CheckResult::Fail(FailureKind::kBody, why);
    }
    return CheckResult::Pass();
  }

  const HttpCheckConfig config_;
  std::string request_;
  std::optional<int64_t> tls_not_after_;  // of the last handshake
  bool insecure_noted_ = false;
};

}  // namespace

CheckKind HttpCheckKind() {
  CheckKind kind;
  kind.name = "http";
  kind.display_name = "HTTP";
  kind.component_type = "component";
  kind.keys = {"url", "expect_body_contains", "expect_status", kTlsKey};
  kind.default_role = "app";
  kind.create = [](const CheckSpec& spec) -> std::unique_ptr<Check> {
    HttpCheckConfig config;
    std::string url = spec.RequireString("url");
    std::string error;
    bool ok = ParseHttpUrl(url, &config.url, &error);
    // Register the password before any error can surface, in both spellings
    // in which it may appear in printed text.
    if (spec.secrets != nullptr) {
      if (!config.url.password.empty()) spec.secrets->push_back(config.url.password);
      if (!config.url.password_encoded.empty() &&
          config.url.password_encoded != config.url.password) {
        spec.secrets->push_back(config.url.password_encoded);
      }
    }
    if (!ok) throw ConfigError(spec.Field("url"), error);
    config.expect_body_contains = spec.OptionalString("expect_body_contains", "");
    double status = spec.OptionalNumber("expect_status", 0, 100, 599);
    if (status != std::floor(status))
      throw ConfigError(spec.Field("expect_status"), "must be an integer");
    config.expect_status = static_cast<int>(status);
    config.tls = ParseTlsConfig(spec);
    if (config.tls && !config.url.tls) {
      throw ConfigError(spec.Field(kTlsKey), "TLS settings on a plain URL: use https://");
    }
    if (config.url.tls && !config.tls) config.tls = TlsConfig{};
    return std::make_unique<HttpCheck>(std::move(config));
  };
  return kind;
}

}  // namespace vigil
