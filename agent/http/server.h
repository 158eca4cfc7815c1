// Serves the Api over HTTP/1.1, end to end in vigil's own code: a listener
// thread accepts (agent/listener.h), a few event-loop threads (epoll) hold
// every open connection (agent/reactor.h), each request is framed
// (agent/http_framing.h), answered by the pure Api and written by
// agent/http_writer.h. An idle keep-alive connection, a client that sends
// nothing, or one that sends a byte a second costs a file descriptor and a
// few bytes, never a thread. A response is always the whole body: byte
// ranges and compression are not offered, so no request costs more than its
// answer.
//
// Limits keep a hostile or broken client from holding the agent
// (docs/http.md, "Limits"):
//   - a request's line and headers must arrive within read_timeout_ms of its
//     first byte (a new connection's first request: of the accept), else 408
//     and the connection is closed (slowloris);
//   - they may take max_header_bytes and kMaxHeaderFields lines, else 431
//     (414 for a request line alone over the limit);
//   - malformed or non-HTTP bytes get 400 as soon as they are seen, a body
//     over max_body_bytes 413, a transfer coding other than chunked 501,
//     another HTTP version 505; each of these (and every 4xx) closes the
//     connection;
//   - an idle keep-alive connection is closed after keep_alive_timeout_s;
//   - pipelined requests are answered at most Reactor::kRequestsPerWake a
//     connection each time round the loop, and none is read while an answer
//     is unsent: a connection holds one response and one request's bytes;
//   - at most max_connections are open (fewer if the open-file limit is
//     lower): past 7/8 of them a new connection closes one that is idle,
//     lingering or not taking its answer (the oldest first); full, the least
//     recently active of any kind but one accepted less than 100 ms ago
//     (a few of those may stay past the limit; with nothing else to close,
//     the listener leaves new ones queued in the kernel), so new probes
//     always get in;
//   - a response the client does not take within write_timeout_ms is dropped
//     with its connection.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace vigil {

class Api;

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

// Descriptors kept out of max_connections for the checks, the log and the
// process itself.
constexpr size_t kReservedDescriptors = 64;

// Raises the soft open-file limit to the hard one; returns the soft limit.
uint64_t RaiseFileLimit();

class HttpServer {
 public:
  // `warn` gets one line for the log: limits lowered, descriptors running out.
  HttpServer(const Api* api, ServerLimits limits = {},
             std::function<void(const std::string&)> warn = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: any free port). Throws std::runtime_error.
  void Bind(const std::string& host, int port);
  int port() const { return port_; }
  // Serves on background threads until Stop().
  void Start();
  void Stop();

  // max_connections as applied: lowered to fit the open-file limit.
  size_t max_connections() const;
  // Accepts that failed for want of descriptors (EMFILE/ENFILE), since start.
  uint64_t fd_exhaustions() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int port_ = 0;
};

}  // namespace vigil
