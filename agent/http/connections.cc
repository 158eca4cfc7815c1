#include "agent/http/connections.h"

#include <malloc.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>

namespace vigil {
namespace {

// Connections gone since the peak before the freed memory is handed back.
constexpr size_t kTrimAfterClosing = 64;

}  // namespace

Conn* Connections::Add(int fd) {
  auto c = std::make_unique<Conn>();
  c->fd = fd;
  c->last_active = ++activity_;
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLRDHUP;
  ev.data.fd = fd;
  if (epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    close(fd);
    return nullptr;
  }
  Conn* conn = c.get();
  conns_[fd] = std::move(c);
  ++live_;
  open_.store(live_, std::memory_order_relaxed);
  return conn;
}

Conn* Connections::Find(int fd) {
  auto it = conns_.find(fd);
  if (it == conns_.end() || it->second->dead) return nullptr;
  return it->second.get();
}

void Connections::Close(Conn& c) {
  if (c.dead) return;
  epoll_ctl(epfd_, EPOLL_CTL_DEL, c.fd, nullptr);
  close(c.fd);
  c.dead = true;
  dead_.push_back(c.fd);
  --live_;
  open_.store(live_, std::memory_order_relaxed);
}

void Connections::Reap() {
  for (int fd : dead_) conns_.erase(fd);
  dead_.clear();
}

void Connections::CloseAll() {
  for (auto& [fd, c] : conns_) {
    if (!c->dead) close(fd);
  }
  conns_.clear();
  dead_.clear();
  live_ = 0;
  open_.store(0);
}

int Connections::EvictionRank(const Conn& c) {
  if (c.state == ConnState::kLingering) return 0;
  if (c.state == ConnState::kWriting || c.queued) return 1;
  if (!c.in_request && c.served > 0) return 2;
  return 3;
}

namespace {

// A connection whose request is in its socket is served before it could be
// closed to make room: the least recently active first is the right order
// for clients that send nothing, not for a probe whose bytes arrived after
// its accept (under a flood of new connections it would be the one closed).
constexpr int kSpareTries = 8;

}  // namespace

// The least useful connection: lingering ones first, then those that do not
// take their answers or wait with pipelined requests (the oldest first),
// then idle keep-alive ones; with `any`, also one whose request is
// unfinished or not begun (a slow or brand-new client, unless accepted
// since `protect_since`), the least recently active.
Conn* Connections::PickVictim(bool any, TimePoint protect_since) {
  Conn* victim = nullptr;
  int victim_rank = 4;
  for (auto& [fd, cp] : conns_) {
    Conn& c = *cp;
    if (c.dead) continue;
    const int r = EvictionRank(c);
    if (r == 3 && (!any || c.accepted >= protect_since)) continue;
    if (r < victim_rank || (r == victim_rank && c.last_active < victim->last_active)) {
      victim = &c;
      victim_rank = r;
    }
  }
  return victim;
}

bool Connections::EvictOne(bool any, const std::function<bool(Conn&)>& spare,
                           TimePoint protect_since) {
  for (int tries = 0;; ++tries) {
    Conn* victim = PickVictim(any, protect_since);
    if (victim == nullptr) return false;
    if (spare && tries < kSpareTries && EvictionRank(*victim) == 3 && spare(*victim)) {
      if (victim->dead) return true;  // it went while being served: room made
      continue;
    }
    Close(*victim);
    return true;
  }
}

Connections::TimePoint Connections::OldestProtected(TimePoint protect_since) const {
  TimePoint oldest = TimePoint::max();
  for (const auto& [fd, cp] : conns_) {
    const Conn& c = *cp;
    if (c.dead) continue;
    if (EvictionRank(c) < 3 || c.accepted < protect_since) return TimePoint::max();
    oldest = std::min(oldest, c.accepted);
  }
  return oldest;
}

void Connections::Watch(const Conn& c, uint32_t events) {
  epoll_event ev{};
  ev.events = events;
  ev.data.fd = c.fd;
  epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev);
}

void Connections::SetDeadline(Conn& c, TimePoint t) {
  c.deadline = t;
  earliest_ = std::min(earliest_, t);
}

int Connections::WaitMs(TimePoint now) const {
  if (earliest_ == TimePoint::max()) return -1;
  if (earliest_ <= now) return 0;
  const auto ms = std::chrono::ceil<std::chrono::milliseconds>(earliest_ - now).count();
  return static_cast<int>(std::min<int64_t>(ms, 60000));
}

void Connections::Sweep(TimePoint now, const std::function<void(Conn&)>& expired) {
  if (now < earliest_) return;
  earliest_ = TimePoint::max();
  for (auto& [fd, cp] : conns_) {
    Conn& c = *cp;
    if (c.dead) continue;
    if (now < c.deadline) {
      earliest_ = std::min(earliest_, c.deadline);
      continue;
    }
    expired(c);
  }
}

// A burst of connections (a scrape storm, a flood) leaves their buffers free
// but kept by malloc, in this thread's arena: once most of them are gone,
// give the memory back to the system, so that a pod's memory returns to its
// idle size instead of staying at its peak.
void Connections::TrimAfterBurst(bool idle) {
  peak_ = std::max(peak_, live_);
  if (peak_ < live_ + kTrimAfterClosing || !idle) return;
  peak_ = live_;
  malloc_trim(0);
}

}  // namespace vigil
