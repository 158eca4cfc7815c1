// Serves the Api over HTTP. cpp-httplib parses each request and writes each
// response; the connections themselves are ours: a few event-loop threads
// (epoll) hold every open connection, so an idle keep-alive connection, a
// client that sends nothing, or one that sends a byte a second costs a file
// descriptor and a few bytes, never a thread. A request reaches httplib only
// once its request line and headers are complete and within the limits below.
//
// Limits keep a hostile or broken client from holding the agent (SPEC §5;
// README "HTTP limits"):
//   - a request's line and headers must arrive within read_timeout_ms of its
//     first byte (a new connection's first request: of the accept), else 408
//     and the connection is closed (slowloris);
//   - they may take max_header_bytes and kMaxHeaderFields lines, else 431
//     (414 for a request line alone over the limit);
//   - malformed or non-HTTP bytes get 400 as soon as they are seen, a body
//     over max_body_bytes 413, a transfer coding 501, another HTTP version
//     505; each of these closes the connection;
//   - an idle keep-alive connection is closed after keep_alive_timeout_s;
//   - at most max_connections are open: a new one closes the least recently
//     active idle or unfinished one, so new probes always get in;
//   - a response the client does not take within write_timeout_ms is dropped
//     with its connection.
#pragma once

#include <cstddef>
#include <memory>
#include <string>

#include "agent/api.h"

namespace vigil {

struct ServerLimits {
  int threads = 2;  // event-loop threads
  int max_connections = 512;
  int read_timeout_ms = 5000;
  int write_timeout_ms = 5000;
  int keep_alive_timeout_s = 5;  // 0: one request a connection
  size_t max_header_bytes = 8192;
  size_t max_body_bytes = 8192;  // no endpoint reads a body; it is skipped
  int max_requests_per_connection = 1000;
};

// Header lines a request may carry (besides the byte limit).
constexpr int kMaxHeaderFields = 100;

class HttpServer {
 public:
  HttpServer(const Api* api, ServerLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: any free port). Throws std::runtime_error.
  void Bind(const std::string& host, int port);
  int port() const { return port_; }
  // Serves on background threads until Stop().
  void Start();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace vigil
