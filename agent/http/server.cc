#include "agent/http/server.h"

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "agent/http/listener.h"
#include "agent/http/reactor.h"

namespace vigil {

uint64_t RaiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(rl.rlim_cur);
}

namespace {

// max_connections, lowered so that the connections and the reserve fit
// under the open-file limit.
size_t FitToFileLimit(size_t wanted, const std::function<void(const std::string&)>& warn) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY) return wanted;
  const uint64_t soft = rl.rlim_cur;
  const uint64_t room = soft > 2 * kReservedDescriptors ? soft - kReservedDescriptors : soft / 2;
  if (wanted <= room) return wanted;
  const size_t fitted = std::max<size_t>(1, static_cast<size_t>(room));
  if (warn) {
    warn("server.max_connections " + std::to_string(wanted) + " does not fit the open-file limit " +
         std::to_string(soft) + " (" + std::to_string(kReservedDescriptors) +
         " kept for checks and logs): serving at most " + std::to_string(fitted) + " connections");
  }
  return fitted;
}

}  // namespace

struct HttpServer::Impl {
  Impl(const Api* api, const ServerLimits& limits, std::function<void(const std::string&)> warn)
      : max_connections(
            FitToFileLimit(static_cast<size_t>(std::max(1, limits.max_connections)), warn)),
        listener(ListenerHooks{[this](int fd) { AdoptSocket(fd); },
                               [this](size_t n) { return ShedConnections(n); }, warn,
                               [this] { return Full(); }}) {
    const size_t threads = static_cast<size_t>(std::max(1, limits.threads));
    const size_t per = std::max<size_t>(1, (max_connections + threads - 1) / threads);
    for (size_t i = 0; i < threads; ++i) {
      reactors.push_back(std::make_unique<Reactor>(limits, api, per));
    }
  }

  // Round robin over the loops that have room; all full, the next one.
  void AdoptSocket(int fd) {
    size_t i = next.fetch_add(1, std::memory_order_relaxed) % reactors.size();
    for (size_t k = 0; k < reactors.size() && reactors[i]->Saturated(); ++k) {
      i = (i + 1) % reactors.size();
    }
    reactors[i]->Adopt(fd);
  }

  bool Full() const {
    for (const auto& r : reactors)
      if (!r->Saturated()) return false;
    return true;
  }

  // Out of descriptors: every loop gives back its share.
  size_t ShedConnections(size_t n) {
    size_t open = 0;
    for (auto& r : reactors) open += r->open_connections();
    for (auto& r : reactors) r->Shed((n + reactors.size() - 1) / reactors.size());
    return open;
  }

  const size_t max_connections;
  std::vector<std::unique_ptr<Reactor>> reactors;
  Listener listener;
  std::atomic<size_t> next{0};
  bool started = false;
};

HttpServer::HttpServer(const Api* api, ServerLimits limits,
                       std::function<void(const std::string&)> warn)
    : impl_(std::make_unique<Impl>(api, limits, std::move(warn))) {}

HttpServer::~HttpServer() { Stop(); }

void HttpServer::Bind(const std::string& host, int port) {
  impl_->listener.Bind(host, port);
  port_ = impl_->listener.port();
}

void HttpServer::Start() {
  for (auto& r : impl_->reactors) r->Start();
  impl_->listener.Start();
  impl_->started = true;
}

void HttpServer::Stop() {
  if (!impl_ || !impl_->started) return;
  impl_->started = false;
  // The accept loop first (no new sockets), then the connections.
  impl_->listener.Stop();
  for (auto& r : impl_->reactors) r->Stop();
}

size_t HttpServer::max_connections() const { return impl_->max_connections; }

uint64_t HttpServer::fd_exhaustions() const { return impl_->listener.fd_exhaustions(); }

}  // namespace vigil
