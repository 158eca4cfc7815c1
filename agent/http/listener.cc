#include "agent/http/listener.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace vigil {
namespace {

constexpr int kAcceptBatch = 256;  // then the loop polls again
constexpr size_t kFirstShed = 8;   // connections the loops close, doubling a try
constexpr size_t kMaxShed = 256;
// How often a full server looks again for room (README "HTTP limits").
constexpr int kFullPollMs = 2;
constexpr int kFirstBackoffMs = 5;
constexpr int kMaxBackoffMs = 200;
constexpr int kSocketBufferBytes = 16 * 1024;  // the kernel doubles it

std::string Errno(int e) { return std::strerror(e); }

}  // namespace

Listener::Listener(ListenerHooks hooks) : hooks_(std::move(hooks)) {
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  spare_fd_ = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (wakefd_ < 0) throw std::runtime_error("cannot create eventfd: " + Errno(errno));
}

Listener::~Listener() {
  Stop();
  if (fd_ >= 0) close(fd_);
  if (spare_fd_ >= 0) close(spare_fd_);
  close(wakefd_);
}

void Listener::Bind(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string where = host + ":" + std::to_string(port);
  const std::string service = std::to_string(port);
  const int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &res);
  if (rc != 0) throw std::runtime_error("cannot listen on " + where + ": " + gai_strerror(rc));
  int err = 0;
  for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
    const int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      err = errno;
      continue;
    }
    const int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    // Small kernel buffers, inherited by every accepted socket: a client
    // that never reads stops being answered (and costing CPU) after a few
    // responses, and a thousand of them hold tens of MiB of kernel memory
    // (charged to the pod), not gigabytes. Answers are small.
    const int buffer = kSocketBufferBytes;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
    // A burst of probes and scrapes must not have SYNs dropped: the
    // system's largest backlog, not a handful.
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, SOMAXCONN) == 0) {
      fd_ = fd;
      break;
    }
    err = errno;
    close(fd);
  }
  freeaddrinfo(res);
  if (fd_ < 0) throw std::runtime_error("cannot listen on " + where + ": " + Errno(err));
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
  port_ = ss.ss_family == AF_INET6 ? ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port)
                                   : ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port);
}

void Listener::Start() {
  if (fd_ < 0 || thread_.joinable()) return;
  thread_ = std::thread([this] { Loop(); });
}

void Listener::Stop() {
  stop_.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wakefd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
}

void Listener::Loop() {
  while (!stop_.load()) {
    pollfd p[2] = {{wakefd_, POLLIN, 0}, {fd_, POLLIN, 0}};
    // Backing off: wait the pause out (or a stop), then try again. Full:
    // the same, a short while.
    const bool full = hooks_.full && hooks_.full();
    const bool backing_off = backoff_ms_ > 0 || full;
    const int n = poll(p, backing_off ? 1 : 2,
                       backoff_ms_ > 0 ? backoff_ms_
                       : full          ? kFullPollMs
                                       : -1);
    if (stop_.load()) break;
    if (n < 0) {
      if (errno != EINTR) usleep(10000);  // never spin
      continue;
    }
    if (p[0].revents & POLLIN) {
      uint64_t v;
      [[maybe_unused]] ssize_t r = read(wakefd_, &v, sizeof v);
    }
    if (!backing_off && (p[1].revents & (POLLERR | POLLNVAL))) {
      std::fprintf(stderr, "vigil: the listening socket failed; exiting so that it restarts\n");
      _exit(1);
    }
    if ((backing_off || (p[1].revents & POLLIN)) && !(hooks_.full && hooks_.full())) AcceptAll();
  }
}

// Out of descriptors (or kernel memory): ask the event loops to close
// connections, and back off before the next try.
void Listener::OutOfDescriptors(int e) {
  fd_exhaustions_.fetch_add(1, std::memory_order_relaxed);
  if (exhausted_in_a_row_ == 0 && hooks_.warn) {
    hooks_.warn("cannot accept a connection: " + Errno(e) +
                "; closing the least useful connections to make room");
  }
  const size_t shed = std::min(kMaxShed, kFirstShed << std::min(exhausted_in_a_row_, 8));
  ++exhausted_in_a_row_;
  const size_t still_open = hooks_.shed ? hooks_.shed(shed) : 0;
  // No connection left to close (the descriptors are held elsewhere):
  // the spare descriptor takes the waiting connection and closes it,
  // so its client is told at once instead of hanging.
  if (still_open == 0 && exhausted_in_a_row_ > 1 && spare_fd_ >= 0) {
    close(spare_fd_);
    const int drop = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (drop >= 0) close(drop);
    spare_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  }
  backoff_ms_ = backoff_ms_ == 0 ? kFirstBackoffMs : std::min(backoff_ms_ * 2, kMaxBackoffMs);
}

bool Listener::AcceptAll() {
  for (int i = 0; i < kAcceptBatch; ++i) {
    if (i > 0 && hooks_.full && hooks_.full()) return true;
    const int c = accept4(fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (c >= 0) {
      if (exhausted_in_a_row_ > 0 && hooks_.warn) {
        hooks_.warn("accepting connections again after running out of file descriptors");
      }
      backoff_ms_ = 0;
      exhausted_in_a_row_ = 0;
      hooks_.adopt(c);
      continue;
    }
    const int e = errno;
    switch (e) {
      case EAGAIN:
#if EAGAIN != EWOULDBLOCK
      case EWOULDBLOCK:
#endif
        backoff_ms_ = 0;
        return true;
      case EINTR:
      case ECONNABORTED:  // the client gave up while queued
      case EPROTO:
      case EPERM:  // a firewall rule refused it
        continue;
      case EMFILE:
      case ENFILE:
      case ENOBUFS:
      case ENOMEM:
        OutOfDescriptors(e);
        return false;
      case EBADF:
      case EINVAL:
      case ENOTSOCK:
      case EOPNOTSUPP:
      case EFAULT:
        std::fprintf(stderr, "vigil: accept failed: %s; exiting so that it restarts\n",
                     Errno(e).c_str());
        _exit(1);
      default:
        if (hooks_.warn) hooks_.warn("accept failed: " + Errno(e));
        backoff_ms_ = kMaxBackoffMs;
        return false;
    }
  }
  return true;
}

}  // namespace vigil
