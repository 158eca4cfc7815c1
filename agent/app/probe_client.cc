#include "agent/app/probe_client.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <vector>

#include "checks/common/net.h"
#include "checks/common/tls.h"
#include "checks/http/http_response.h"

namespace vigil {
namespace {

// A decimal port; past 65535 it stays 65536 (it reaches nothing).
bool ParsePort(const std::string& s, int* port) {
  if (s.empty()) return false;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = std::min(v * 10 + (c - '0'), 65536);
  }
  *port = v;
  return true;
}

// The bytes of a path that are sent percent-encoded (the rest as given).
std::string EncodePath(const std::string& path) {
  std::string out;
  out.reserve(path.size());
  for (char ch : path) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c >= 0x80 || ch == ' ' || ch == '+' || ch == '\r' || ch == '\n' || ch == '\'' ||
        ch == ',' || ch == ';') {
      char hex[4];
      std::snprintf(hex, sizeof hex, "%%%02X", c);
      out += hex;
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string RequestFor(const ProbeTarget& t) {
  // Port 80 leaves the host as it is, an IPv6 address without brackets too.
  std::string host = t.host;
  if (t.port != 80) {
    if (host.find(':') != std::string::npos) host = "[" + host + "]";
    host += ":" + std::to_string(t.port);
  }
  return "GET " + EncodePath(t.path) +
         " HTTP/1.1\r\n"
         "Accept: */*\r\n"
         "Connection: close\r\n"
         "Host: " +
         host +
         "\r\n"
         "User-Agent: vigil-probe\r\n"
         "\r\n";
}

ProbeFailure ConnectFailure(const NetResult& r) {
  return r.status == NetStatus::kTimeout ? ProbeFailure::kConnectTimeout : ProbeFailure::kConnect;
}

}  // namespace

bool ParseProbeAuthority(const std::string& authority, ProbeTarget* target) {
  std::string host;
  size_t rest = 0;
  if (!authority.empty() && authority[0] == '[') {
    const size_t close = authority.find(']');
    if (close == std::string::npos || close == 1) return false;
    host = authority.substr(1, close - 1);
    if (host.find_first_not_of("0123456789:") != std::string::npos) return false;
    rest = close + 1;
  } else {
    rest = authority.find_first_of(":?#");
    if (rest == std::string::npos) rest = authority.size();
    host = authority.substr(0, rest);
    if (host.empty()) return false;
  }
  target->host = host;
  target->port = 80;
  if (rest == authority.size()) return true;
  return authority[rest] == ':' && ParsePort(authority.substr(rest + 1), &target->port);
}

ProbeAnswer ProbeGet(const ProbeTarget& target, int timeout_ms) {
  const Deadline deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
  ProbeAnswer answer;
  if (target.port < 1 || target.port > 65535) {
    answer.failure = ProbeFailure::kConnect;
    return answer;
  }
  std::vector<Endpoint> endpoints;
  NetResult r = Resolve(target.host, target.port, deadline, &endpoints);
  int fd = -1;
  if (r.status == NetStatus::kOk) r = ConnectTcp(endpoints, deadline, &fd);
  if (r.status != NetStatus::kOk) {
    answer.failure = ConnectFailure(r);
    return answer;
  }
  Stream stream;
  stream.Attach(fd);
  const std::string request = RequestFor(target);
  if (stream.Write(request.data(), request.size(), deadline).status != StreamStatus::kOk) {
    answer.failure = ProbeFailure::kWrite;
    return answer;
  }
  std::string in, body;
  HttpResponseHead head;
  if (ReadHttpResponseHead(stream, deadline, &in, &head) ||
      ReadHttpResponseBody(stream, deadline, head, &in, &body)) {
    answer.failure = ProbeFailure::kRead;
    return answer;
  }
  answer.status = head.status;
  return answer;
}

}  // namespace vigil
