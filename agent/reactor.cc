#include "agent/reactor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/http_framing.h"
#include "agent/httplib_bridge.h"

namespace vigil {
namespace {

using SteadyClock = std::chrono::steady_clock;
using TimePoint = SteadyClock::time_point;
using std::chrono::milliseconds;

}  // namespace

Reactor::Reactor(const ServerLimits& limits, Listener* listener, size_t max_connections)
    : limits_(limits), listener_(listener), max_connections_(std::max<size_t>(1, max_connections)) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  wakefd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (epfd_ < 0 || wakefd_ < 0) {
    if (epfd_ >= 0) close(epfd_);
    if (wakefd_ >= 0) close(wakefd_);
    throw std::runtime_error(std::string("cannot create event loop: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.fd = wakefd_;
  epoll_ctl(epfd_, EPOLL_CTL_ADD, wakefd_, &ev);
}

Reactor::~Reactor() {
  Stop();
  close(epfd_);
  close(wakefd_);
}

void Reactor::Stop() {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    stopped_ = true;
  }
  stop_.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wakefd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  for (auto& [fd, c] : conns_) {
    if (!c->dead) close(fd);
  }
  conns_.clear();
  std::lock_guard<std::mutex> lock(inbox_mu_);
  for (int fd : inbox_) close(fd);
  inbox_.clear();
}

void Reactor::Adopt(int fd) {
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    if (stopped_) {
      close(fd);
      return;
    }
    inbox_.push_back(fd);
  }
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wakefd_, &one, sizeof one);
}

void Reactor::Loop() {
  epoll_event events[64];
  while (!stop_.load()) {
    const int n = epoll_wait(epfd_, events, 64, WaitMs(SteadyClock::now()));
    if (n < 0 && errno != EINTR) {
      std::this_thread::sleep_for(milliseconds(10));  // EBADF/EINVAL cannot happen; never spin
      continue;
    }
    const TimePoint now = SteadyClock::now();
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wakefd_) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = read(wakefd_, &v, sizeof v);
        continue;
      }
      auto it = conns_.find(fd);
      if (it == conns_.end() || it->second->dead) continue;
      OnEvent(*it->second, events[i].events, now);
    }
    Reap();
    TakeInbox(now);
    Sweep(now);
    Reap();
  }
}

int Reactor::WaitMs(TimePoint now) const {
  if (earliest_ == TimePoint::max()) return -1;
  if (earliest_ <= now) return 0;
  const auto ms = std::chrono::ceil<milliseconds>(earliest_ - now).count();
  return static_cast<int>(std::min<int64_t>(ms, 60000));
}

void Reactor::TakeInbox(TimePoint now) {
  std::vector<int> fds;
  {
    std::lock_guard<std::mutex> lock(inbox_mu_);
    fds.swap(inbox_);
  }
  for (int fd : fds) {
    // Full: the least recently active connection makes room, so that a
    // kubelet probe always gets in, whoever holds the others.
    if (live_ >= max_connections_ && !EvictOne()) {
      close(fd);
      continue;
    }
    const int flags = fcntl(fd, F_GETFL, 0);
    fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    auto c = std::make_unique<Conn>();
    c->fd = fd;
    c->last_active = ++activity_;
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    ev.data.fd = fd;
    if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
      close(fd);
      continue;
    }
    // The first request must be complete within the read timeout of the
    // accept: a connection that sends nothing is no cheaper to keep.
    SetDeadline(*c, now + milliseconds(limits_.read_timeout_ms));
    Conn& conn = *c;
    conns_[fd] = std::move(c);
    ++live_;
    // A probe's request is usually there already: answer it now, before a
    // flood of connections behind it could make room by closing it.
    OnEvent(conn, EPOLLIN, now);
  }
}

bool Reactor::EvictOne() {
  Conn* victim = nullptr;
  for (auto& [fd, c] : conns_) {
    if (c->dead || c->state == State::kWriting) continue;
    if (victim == nullptr ||
        (c->state == State::kLingering) > (victim->state == State::kLingering) ||
        ((c->state == State::kLingering) == (victim->state == State::kLingering) &&
         c->last_active < victim->last_active)) {
      victim = c.get();
    }
  }
  if (victim == nullptr) return false;
  Close(*victim);
  return true;
}

void Reactor::OnEvent(Conn& c, uint32_t events, TimePoint now) {
  if (c.state == State::kWriting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
      if (Flush(c, now)) Drive(c, now);
    }
    return;
  }
  char buf[16384];
  const ssize_t n = recv(c.fd, buf, sizeof buf, 0);
  if (n > 0) {
    c.last_active = ++activity_;
    if (c.state == State::kLingering) return;  // discarded
    c.in.append(buf, static_cast<size_t>(n));
    Drive(c, now);
  } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    Close(c);  // the client is gone (or closed its side mid-request)
  }
}

// Answers every complete request in `in`, in order, until a response has to
// wait for the socket or the connection ends.
void Reactor::Drive(Conn& c, TimePoint now) {
  while (!c.dead && c.state == State::kReading) {
    if (!c.in_request) {
      // RFC 9112 2.2: empty lines before a request line are ignored.
      size_t skip = 0;
      while (skip < c.in.size() && (c.in[skip] == '\r' || c.in[skip] == '\n')) ++skip;
      c.in.erase(0, skip);
      if (c.in.empty()) return;
      c.in_request = true;
      if (c.served > 0) SetDeadline(c, now + milliseconds(limits_.read_timeout_ms));
    }
    const Framed f = FrameRequest(c.in, limits_);
    if (f.frame == Frame::kNeedMore) return;
    if (f.frame == Frame::kRefuse) {
      Refuse(c, f.status, f.why, now);
      return;
    }
    const size_t total = f.head_len + f.body_len;
    if (c.in.size() < total) return;  // the body is still coming
    ++c.served;
    const bool close_connection = c.served >= limits_.max_requests_per_connection ||
                                  limits_.keep_alive_timeout_s <= 0 || stop_.load();
    bool closed = false;
    HeadStream stream(c.fd, c.in.data(), f.head_len, &c.out);
    const bool ok = listener_->Serve(stream, close_connection, &closed);
    // No endpoint reads a body: it is skipped here.
    c.in.erase(0, total);
    c.in_request = false;
    c.close_after_write = !ok || close_connection || closed;
    if (c.out.empty()) {
      Close(c);
      return;
    }
    if (!Flush(c, now)) return;
  }
}

// Sends what is left of the response. True when the connection is back to
// reading (kept alive); false when it waits for the socket, lingers or closed.
bool Reactor::Flush(Conn& c, TimePoint now) {
  while (c.out_sent < c.out.size()) {
    const ssize_t n =
        send(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_sent += static_cast<size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (c.state != State::kWriting) {
        c.state = State::kWriting;
        Watch(c, EPOLLOUT);
        SetDeadline(c, now + milliseconds(limits_.write_timeout_ms));
      }
      return false;
    }
    Close(c);
    return false;
  }
  c.out.clear();
  c.out_sent = 0;
  c.last_active = ++activity_;
  if (c.close_after_write) {
    Linger(c, now);
    return false;
  }
  if (c.state == State::kWriting) {
    c.state = State::kReading;
    Watch(c, EPOLLIN | EPOLLRDHUP);
  }
  SetDeadline(c, now + std::chrono::seconds(limits_.keep_alive_timeout_s));
  return true;
}

void Reactor::Refuse(Conn& c, int status, const char* why, TimePoint now) {
  c.in.clear();
  c.in_request = false;
  c.out = ErrorResponse(status, why);
  c.out_sent = 0;
  c.close_after_write = true;
  Flush(c, now);
}

// Closes our side for writing and reads until the client closes its own (or
// a short while), so that the last response is not lost to a reset.
void Reactor::Linger(Conn& c, TimePoint now) {
  shutdown(c.fd, SHUT_WR);
  c.in.clear();
  if (c.state != State::kLingering) {
    if (c.state == State::kWriting) Watch(c, EPOLLIN | EPOLLRDHUP);
    c.state = State::kLingering;
  }
  SetDeadline(c, now + milliseconds(std::min(limits_.read_timeout_ms, 1000)));
}

void Reactor::Close(Conn& c) {
  if (c.dead) return;
  epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
  close(c.fd);
  c.dead = true;
  dead_.push_back(c.fd);
  --live_;
}

void Reactor::Reap() {
  for (int fd : dead_) conns_.erase(fd);
  dead_.clear();
}

void Reactor::Watch(const Conn& c, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = c.fd;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Reactor::SetDeadline(Conn& c, TimePoint t) {
  c.deadline = t;
  earliest_ = std::min(earliest_, t);
}

void Reactor::Sweep(TimePoint now) {
  if (now < earliest_) return;
  earliest_ = TimePoint::max();
  for (auto& [fd, cp] : conns_) {
    Conn& c = *cp;
    if (c.dead) continue;
    if (now < c.deadline) {
      earliest_ = std::min(earliest_, c.deadline);
      continue;
    }
    if (c.state == State::kReading && c.in_request) {
      Refuse(c, 408, "request not received in time", now);  // slowloris
    } else {
      Close(c);  // idle past keep-alive, a response not taken, or done lingering
    }
  }
}

}  // namespace vigil
