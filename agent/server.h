// Serves the Api over HTTP with cpp-httplib. Limits keep a hostile or broken
// client from holding the agent: request size, header size, read timeout and
// a bounded worker pool (connections beyond it wait in the accept backlog).
#pragma once

#include <memory>
#include <string>
#include <thread>

#include "agent/api.h"

namespace httplib {
class Server;
}

namespace vigil {

struct ServerLimits {
  int threads = 16;
  int read_timeout_ms = 5000;
  int write_timeout_ms = 5000;
  int keep_alive_timeout_s = 5;
  size_t max_body_bytes = 8192;
};

class HttpServer {
 public:
  HttpServer(const Api* api, ServerLimits limits = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds host:port (port 0: any free port). Throws std::runtime_error.
  void Bind(const std::string& host, int port);
  int port() const { return port_; }
  // Serves on a background thread until Stop().
  void Start();
  void Stop();

 private:
  const Api* api_;
  ServerLimits limits_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = 0;
};

}  // namespace vigil
