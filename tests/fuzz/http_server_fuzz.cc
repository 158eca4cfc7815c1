// The HTTP server itself (agent/server.cc): request framing, the limits,
// pipelining, bodies, the router and the response writer, on a real loopback
// socket in this process. Each input is sent on a new connection, which is
// then half-closed. Properties: the server closes the connection soon after
// (nothing hangs); what comes back is a sequence of well-formed responses
// with known statuses (never a 500); and a fresh /livez still answers 200.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>

#include "agent/http/api.h"
#include "agent/http/server.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using vigil::fuzz::Require;

struct Agent {
  Agent() {
    auto snap = std::make_shared<vigil::HealthSnapshot>();
    vigil::CheckView db;
    db.name = "db";
    db.kind = "postgres";
    db.role = "database";
    db.required = true;
    db.status = vigil::Status::kPass;
    db.ever_passed = true;
    snap->checks.push_back(db);
    snap->started_at = vigil::WallClock::now();
    store.Set(snap);
    vigil::Api::Options o;
    o.admin_token = "tok";
    o.stall_after = std::chrono::hours(24 * 365);  // no scheduler beats here
    o.reset_breaker = [](const std::string& n) { return n == "db"; };
    api = std::make_unique<vigil::Api>(&store, o);
    vigil::ServerLimits limits;
    limits.threads = 1;
    limits.max_connections = 16;
    limits.read_timeout_ms = 1000;
    limits.max_header_bytes = 2048;
    limits.max_body_bytes = 256;
    server = std::make_unique<vigil::HttpServer>(api.get(), limits);
    server->Bind("127.0.0.1", 0);
    server->Start();
  }
  vigil::SnapshotStore store;
  std::unique_ptr<vigil::Api> api;
  std::unique_ptr<vigil::HttpServer> server;
};

// Two connections an input, a few thousand a second: each from its own
// 127.x.y.z, or TIME_WAIT would use up the ephemeral ports of one address.
int Connect(int port) {
  static uint32_t n = 0;
  ++n;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl((127u << 24) | (((n >> 8) % 255 + 1) << 16) | ((n % 255 + 1) << 8) |
                               ((n >> 16) % 254 + 1));
  bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    // Interrupted (libFuzzer's timers): the connect goes on; wait for it.
    int err = errno;
    if (err == EINTR) {
      pollfd p{fd, POLLOUT, 0};
      socklen_t len = sizeof err;
      err = poll(&p, 1, 5000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0
                ? err
                : ETIMEDOUT;
    }
    if (err != 0) {
      std::fprintf(stderr, "connect: %s\n", std::strerror(err));
      std::abort();
    }
  }
  return fd;
}

// Sends `data`, half-closes, reads until the server closes. False when the
// server did not close within `ms`.
bool Exchange(int port, const std::string& data, int ms, std::string* reply) {
  const int fd = Connect(port);
  size_t off = 0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (off < data.size()) {
    ssize_t n = send(fd, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      // The server stopped reading (it refused the request): read instead.
      pollfd p{fd, POLLIN | POLLOUT, 0};
      poll(&p, 1, 10);
      char sink[4096];
      ssize_t r = recv(fd, sink, sizeof sink, MSG_DONTWAIT);
      if (r > 0) reply->append(sink, static_cast<size_t>(r));
      if (r == 0 || std::chrono::steady_clock::now() > end) break;
      continue;
    }
    break;  // reset: the server closed on us
  }
  shutdown(fd, SHUT_WR);
  bool closed = false;
  char buf[16384];
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) <= 0) continue;
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      reply->append(buf, static_cast<size_t>(n));
      continue;
    }
    closed = true;  // EOF or reset
    break;
  }
  close(fd);
  return closed;
}

bool KnownStatus(int s) {
  // 429: repeated wrong admin tokens lock the admin routes for a while.
  for (int k : {100, 200, 400, 401, 404, 405, 408, 413, 414, 416, 417, 429, 431, 501, 503, 505})
    if (s == k) return true;
  return false;
}

// Walks the responses in `reply`: status line, headers, Content-Length body.
void CheckResponses(const std::string& input, const std::string& reply) {
  size_t pos = 0;
  while (pos < reply.size()) {
    Require(reply.compare(pos, 9, "HTTP/1.1 ") == 0, "a response starts with a status line", input,
            reply.substr(pos, 200));
    const int status = std::atoi(reply.substr(pos + 9, 3).c_str());
    Require(KnownStatus(status), "a known status (never 500)", input, reply.substr(pos, 200));
    const size_t head_end = reply.find("\r\n\r\n", pos);
    if (head_end == std::string::npos) return;  // cut short by the close: fine
    const std::string head = reply.substr(pos, head_end - pos);
    size_t length = 0;
    const size_t cl = head.find("\r\nContent-Length: ");
    if (cl != std::string::npos) length = std::strtoul(head.c_str() + cl + 18, nullptr, 10);
    pos = head_end + 4 + length;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Agent* agent = new Agent();
  const int port = agent->server->port();
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::string reply;
  Require(Exchange(port, input, 3000, &reply), "the server closes the connection in time", input,
          reply.substr(0, 300));
  // A response to HEAD carries Content-Length without a body: only check the
  // stream when no HEAD was asked.
  if (input.find("HEAD") == std::string::npos) CheckResponses(input, reply);
  std::string livez;
  Require(Exchange(port, "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n", 3000, &livez),
          "/livez closes after the answer", input, livez);
  Require(livez.rfind("HTTP/1.1 200 ", 0) == 0, "/livez still answers 200", input, livez);
  return 0;
}
