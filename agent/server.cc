#include "agent/server.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "agent/httplib_bridge.h"
#include "agent/reactor.h"

namespace vigil {

using std::chrono::milliseconds;

struct HttpServer::Impl {
  Impl(const Api* api, const ServerLimits& limits) : listener([this](int fd) { AdoptSocket(fd); }) {
    const size_t threads = static_cast<size_t>(std::max(1, limits.threads));
    const size_t per =
        (static_cast<size_t>(std::max(1, limits.max_connections)) + threads - 1) / threads;
    for (size_t i = 0; i < threads; ++i) {
      reactors.push_back(std::make_unique<Reactor>(limits, &listener, per));
    }
    auto& s = listener;
    // Only for the Keep-Alive header httplib writes: the reactors enforce them.
    s.set_keep_alive_max_count(
        static_cast<size_t>(std::max(1, limits.max_requests_per_connection)));
    s.set_keep_alive_timeout(limits.keep_alive_timeout_s);
    // Everything is answered before routing: the Api is the router, and a
    // POST without a body (an admin reset from curl) is not refused for its
    // missing Content-Length.
    s.set_pre_routing_handler([api](const httplib::Request& req, httplib::Response& res) {
      HttpRequest r;
      r.method = req.method;
      r.target = req.target;
      r.accept = req.get_header_value("Accept");
      r.authorization = req.get_header_value("Authorization");
      HttpResponse out = api->Handle(r);
      res.status = out.status;
      for (auto& [k, v] : out.headers) res.set_header(k.c_str(), v);
      res.set_content(std::move(out.body), out.content_type.c_str());
      return httplib::Server::HandlerResponse::Handled;
    });
    s.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
          res.status = 500;
          res.set_content("{\"error\":\"internal error\",\"status\":500}\n", "application/json");
        });
    s.set_error_handler([](const httplib::Request&, httplib::Response& res) {
      if (!res.body.empty()) return;
      // httplib's own refusals (bad request line, ...): one JSON shape.
      res.set_content(
          "{\"error\":\"request refused\",\"status\":" + std::to_string(res.status) + "}\n",
          "application/json");
    });
  }

  void AdoptSocket(int fd) {
    const size_t i = next.fetch_add(1, std::memory_order_relaxed) % reactors.size();
    reactors[i]->Adopt(fd);
  }

  Listener listener;
  std::vector<std::unique_ptr<Reactor>> reactors;
  std::atomic<size_t> next{0};
  std::thread accept_thread;
  bool started = false;
};

HttpServer::HttpServer(const Api* api, ServerLimits limits)
    : impl_(std::make_unique<Impl>(api, limits)) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Bind(const std::string& host, int port) {
  auto& s = impl_->listener;
  int bound = port == 0 ? s.bind_to_any_port(host) : (s.bind_to_port(host, port) ? port : -1);
  if (bound <= 0) {
    throw std::runtime_error("cannot listen on " + host + ":" + std::to_string(port) + ": " +
                             std::strerror(errno));
  }
  port_ = bound;
  s.RaiseBacklog();
}

void HttpServer::Start() {
  for (auto& r : impl_->reactors) r->Start();
  impl_->accept_thread = std::thread([this] { impl_->listener.listen_after_bind(); });
  impl_->started = true;
  // stop() is a no-op until the accept loop runs: wait for it (bounded).
  for (int i = 0; i < 2000 && !impl_->listener.is_running(); ++i) {
    std::this_thread::sleep_for(milliseconds(1));
  }
}

void HttpServer::Stop() {
  if (!impl_ || !impl_->started) return;
  impl_->started = false;
  // The accept loop first (no new sockets), then the connections.
  impl_->listener.stop();
  if (impl_->accept_thread.joinable()) impl_->accept_thread.join();
  for (auto& r : impl_->reactors) r->Stop();
}

}  // namespace vigil
