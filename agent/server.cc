#include "agent/server.h"

#include <httplib.h>

#include <cstring>
#include <stdexcept>

namespace vigil {

HttpServer::HttpServer(const Api* api, ServerLimits limits)
    : api_(api), limits_(limits), server_(std::make_unique<httplib::Server>()) {
  auto& s = *server_;
  const int threads = limits_.threads;
  s.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  s.set_read_timeout(std::chrono::milliseconds(limits_.read_timeout_ms));
  s.set_write_timeout(std::chrono::milliseconds(limits_.write_timeout_ms));
  s.set_keep_alive_timeout(limits_.keep_alive_timeout_s);
  s.set_keep_alive_max_count(1000);
  s.set_payload_max_length(limits_.max_body_bytes);
  s.set_tcp_nodelay(true);

  // Everything is answered before routing: the Api is the router, and a
  // POST without a body (an admin reset from curl) is not refused for its
  // missing Content-Length.
  s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    HttpRequest r;
    r.method = req.method;
    r.target = req.target;
    r.accept = req.get_header_value("Accept");
    r.authorization = req.get_header_value("Authorization");
    HttpResponse out = api_->Handle(r);
    res.status = out.status;
    for (auto& [k, v] : out.headers) res.set_header(k.c_str(), v);
    res.set_content(std::move(out.body), out.content_type.c_str());
    return httplib::Server::HandlerResponse::Handled;
  });
  s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
    res.status = 500;
    res.set_content("{\"error\":\"internal error\",\"status\":500}\n", "application/json");
  });
  s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
    if (!res.body.empty()) return;
    // httplib's own refusals (bad request line, too large, ...): one JSON shape.
    res.set_content(
        "{\"error\":\"request refused\",\"status\":" + std::to_string(res.status) + "}\n",
        "application/json");
  });
}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Bind(const std::string& host, int port) {
  int bound =
      port == 0 ? server_->bind_to_any_port(host) : (server_->bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                             std::strerror(errno));
  }
  port_ = bound;
}

void HttpServer::Start() {
  thread_ = std::thread([this] { server_->listen_after_bind(); });
}

void HttpServer::Stop() {
  if (server_) server_->stop();
  if (thread_.joinable()) thread_.join();
}

}  // namespace vigil
