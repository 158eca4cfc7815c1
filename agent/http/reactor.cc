#include "agent/http/reactor.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "agent/http/api.h"
#include "agent/http/http_framing.h"
#include "agent/http/http_writer.h"

namespace vigil {
namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A buffer that grew for one large answer is given back once it is sent, so
// a burst leaves no memory behind on the connections that stay open.
constexpr size_t kKeepCapacity = 4 * 1024;

// Bytes taken from a socket at a time: a request head is usually a few
// hundred. A client that pipelines more waits in the kernel's buffer, not in
// ours, until its turn.
constexpr size_t kReadChunk = 4 * 1024;

// How long a turn of the loop serves connections with requests left before
// it looks at new connections and events again.
constexpr auto kQueueBudget = std::chrono::milliseconds(2);

// A new connection is kept from being closed to make room for this long,
// with at most kFreshOverflow of them past the limit (each holds a
// descriptor and no buffer).
constexpr auto kFreshConnection = std::chrono::milliseconds(100);
constexpr size_t kFreshOverflow = 64;

// "10.1.2.3" or "::1" ("1.2.3.4" for an IPv4-mapped IPv6 address); "" when
// the socket cannot say.
std::string PeerAddress(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return "";
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
      inet_ntop(AF_INET, &a->sin6_addr.s6_addr[12], buf, sizeof buf);
    } else {
      inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    }
  }
  return buf;
}

void Release(std::string* s) {
  if (s->capacity() > kKeepCapacity) {
    std::string().swap(*s);
  } else {
    s->clear();
  }
}

}  // namespace

Reactor::Reactor(const ServerLimits& limits, const Api* api, size_t max_connections)
    : limits_(limits),
      api_(api),
      max_connections_(std::max<size_t>(1, max_connections)),
      reserved_(std::max<size_t>(1, max_connections_ / 8)) {
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
  conns_ = std::make_unique<Connections>(epfd_);
}

Reactor::~Reactor() {
  Stop();
  close(epfd_);
  close(wakefd_);
}

void Reactor::Stop() {
  {
    MutexLock lock(inbox_mu_);
    stopped_ = true;
  }
  stop_.store(true);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wakefd_, &one, sizeof one);
  if (thread_.joinable()) thread_.join();
  conns_->CloseAll();
  MutexLock lock(inbox_mu_);
  for (int fd : inbox_) close(fd);
  inbox_.clear();
}

void Reactor::Adopt(int fd) {
  {
    MutexLock lock(inbox_mu_);
    if (stopped_) {
      close(fd);
      return;
    }
    inbox_.push_back(fd);
  }
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(wakefd_, &one, sizeof one);
}

void Reactor::Shed(size_t n) {
  shed_.fetch_add(n);
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t w = write(wakefd_, &one, sizeof one);
}

void Reactor::Loop() {
  epoll_event events[64];
  TimePoint now = SteadyClock::now();
  while (!stop_.load()) {
    // Connections with requests left go round again at once, after
    // everyone else's events.
    const int wait = queue_.empty() ? conns_->WaitMs(now) : 0;
    const int n = epoll_wait(epfd_, events, 64, wait);
    if (n < 0 && errno != EINTR) {
      std::this_thread::sleep_for(milliseconds(10));  // EBADF/EINVAL cannot happen; never spin
      continue;
    }
    now = SteadyClock::now();
    // The wake-up is taken before the inbox is: an Adopt() after this read
    // writes again and wakes the next wait, so no socket waits in the inbox
    // for an unrelated event.
    for (int i = 0; i < n; ++i) {
      if (events[i].data.fd == wakefd_) {
        uint64_t v;
        [[maybe_unused]] ssize_t r = read(wakefd_, &v, sizeof v);
      }
    }
    // New connections first: a probe is answered before anyone's backlog.
    TakeInbox(now);
    for (int i = 0; i < n; ++i) {
      const int fd = events[i].data.fd;
      if (fd == wakefd_) continue;
      if (Conn* c = conns_->Find(fd)) OnEvent(*c, events[i].events, now);
    }
    conns_->Reap();
    ServeQueued(now);
    conns_->Reap();
    for (size_t k = shed_.exchange(0); k > 0 && conns_->EvictOne(true); --k) {
    }
    Sweep(now);
    conns_->Reap();
    conns_->TrimAfterBurst(queue_.empty());
    UpdateSaturation(now);
  }
}

bool Reactor::Saturated() const {
  const int64_t until = saturated_until_.load(std::memory_order_relaxed);
  return until != 0 && SteadyClock::now().time_since_epoch().count() < until;
}

// Saturated: full, the overflow for new connections too, and no
// connection but new ones to close; until the oldest of those stops being
// new.
void Reactor::UpdateSaturation(TimePoint now) {
  int64_t until = 0;
  if (conns_->live() >= max_connections_ + kFreshOverflow) {
    const TimePoint oldest = conns_->OldestProtected(now - kFreshConnection);
    if (oldest != TimePoint::max()) until = (oldest + kFreshConnection).time_since_epoch().count();
  }
  saturated_until_.store(until, std::memory_order_relaxed);
}

void Reactor::TakeInbox(TimePoint now) {
  std::vector<int> fds;
  {
    MutexLock lock(inbox_mu_);
    fds.swap(inbox_);
  }
  for (int fd : fds) {
    // The last `reserved_` slots are for new connections: past that, one
    // that is idle, lingering or not taking its answer makes room. Full, the
    // least recently active of any kind does, so that a kubelet probe always
    // gets in, whoever holds the others.
    if (conns_->live() >= max_connections_ - std::min(reserved_, max_connections_ - 1)) {
      conns_->EvictOne(false);
    }
    if (conns_->live() >= max_connections_ && !MakeRoom(now)) {
      close(fd);
      continue;
    }
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    Conn* c = conns_->Add(fd);
    if (c == nullptr) continue;
    c->accepted = now;
    c->peer = PeerAddress(fd);
    // The first request must be complete within the read timeout of the
    // accept: a connection that sends nothing is no cheaper to keep.
    conns_->SetDeadline(*c, now + milliseconds(limits_.read_timeout_ms));
    // A probe's request is usually there already: answer it now, before a
    // flood of connections behind it could make room by closing it. One
    // answer: a new connection's pipelined rest waits for its turn.
    OnEvent(*c, EPOLLIN, now, /*quota=*/1);
  }
}

// Full: closes one connection for a new one. One whose request is unfinished
// or not begun is read first: a probe whose request has arrived (its event
// not yet taken) is answered, never closed unread.
// Full: makes room for a new connection. A connection whose request is
// unfinished or not begun is read first: a probe whose request has arrived
// (its event not yet taken) is answered, never closed unread. One accepted
// less than kFreshConnection ago is closed only when kFreshOverflow of them
// are open past the limit: a flood of new connections would otherwise cycle
// a probe's out between its connect and its request.
bool Reactor::MakeRoom(TimePoint now) {
  const auto spare = [this, now](Conn& c) {
    const uint64_t before = c.last_active;
    OnEvent(c, EPOLLIN, now, /*quota=*/1);
    return c.dead || c.last_active != before;
  };
  if (conns_->EvictOne(true, spare, now - kFreshConnection)) return true;
  if (conns_->live() < max_connections_ + kFreshOverflow) return true;
  return conns_->EvictOne(true, spare);
}

void Reactor::OnEvent(Conn& c, uint32_t events, TimePoint now, int quota) {
  if (c.state == ConnState::kWriting) {
    if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP)) {
      if (Flush(c, now)) Drive(c, now);
    }
    return;
  }
  if (c.queued) {
    // Not read from until its turn; only a hang-up matters meanwhile.
    if (events & (EPOLLERR | EPOLLHUP)) conns_->Close(c);
    return;
  }
  char buf[kReadChunk];
  size_t room = sizeof buf;
  if (c.state == ConnState::kReading) {
    const size_t limit = InputLimit();
    room = std::min(room, limit > c.in.size() ? limit - c.in.size() : 0);
    if (room == 0) {
      Drive(c, now);  // cannot happen with a framed buffer; never spin on it
      if (!c.dead && c.state == ConnState::kReading && !c.queued) {
        Refuse(c, 431, "request header fields too large", now);
      }
      return;
    }
  }
  const ssize_t n = recv(c.fd, buf, room, 0);
  if (n > 0) {
    conns_->Touch(c);
    if (c.state == ConnState::kLingering) return;  // discarded
    c.in.append(buf, static_cast<size_t>(n));
    Drive(c, now, quota);
  } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
    conns_->Close(c);  // the client is gone (or closed its side mid-request)
  }
}

// Answers the complete requests in `in`, in order, at most kRequestsPerWake
// of them, until a response has to wait for the socket or the connection
// ends. With more left, the connection joins the queue for the next round.
void Reactor::Drive(Conn& c, TimePoint now, int quota) {
  int answered = 0;
  while (!c.dead && c.state == ConnState::kReading) {
    if (!c.in_request) {
      // RFC 9112 2.2: empty lines before a request line are ignored.
      size_t skip = 0;
      while (skip < c.in.size() && (c.in[skip] == '\r' || c.in[skip] == '\n')) ++skip;
      c.in.erase(0, skip);
      if (c.in.empty()) return;
      c.in_request = true;
      if (c.served > 0) conns_->SetDeadline(c, now + milliseconds(limits_.read_timeout_ms));
    }
    if (answered == quota) {
      c.queued = true;
      queue_.push_back(c.fd);
      conns_->Watch(c, 0);
      return;
    }
    const Framed f = FrameRequest(c.in, limits_);
    if (f.frame == Frame::kRefuse) {
      Refuse(c, f.status, f.why, now);
      return;
    }
    if (f.frame == Frame::kNeedMore || c.in.size() < f.head_len + f.body_len) {
      if (f.expect_continue) Continue(c);  // the body is still coming
      return;
    }
    ++answered;
    Answer(c, f);
    if (!Flush(c, now)) return;
  }
}

// "Expect: 100-continue" with the body still to come: the interim answer,
// once, at once (no route reads a body: it is taken and skipped).
void Reactor::Continue(Conn& c) {
  if (c.continue_sent || !c.out.empty()) return;
  c.continue_sent = true;
  static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
  const ssize_t n = send(c.fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  // A client that leaves no room for 25 bytes is not reading its answers:
  // half an interim answer cannot be finished later, so it is closed.
  if (n >= 0 && n != static_cast<ssize_t>(sizeof kContinue - 1)) conns_->Close(c);
  if (n > 0) conns_->Touch(c);
}

// Answers the complete request at the start of `in` into c.out and takes it
// (head and body) out of `in`.
void Reactor::Answer(Conn& c, const Framed& f) {
  ++c.served;
  HttpRequest req;
  req.method.assign(f.method);
  req.target.assign(f.target);
  req.accept.assign(f.accept);
  req.authorization.assign(f.authorization);
  req.peer = c.peer;
  // No endpoint reads a body: it is skipped with the head.
  c.in.erase(0, f.head_len + f.body_len);
  c.in_request = false;
  c.continue_sent = false;
  HttpResponse res;
  try {
    res = api_->Handle(req);
  } catch (...) {
    res = JsonError(500, "internal error");
  }
  WriteOptions o;
  o.head = req.method == "HEAD";
  // A refusal (any 4xx) closes the connection, as the framing's do.
  o.close = c.served >= limits_.max_requests_per_connection || limits_.keep_alive_timeout_s <= 0 ||
            stop_.load() || f.connection_close || (f.http10 && !f.connection_keep_alive) ||
            (res.status >= 400 && res.status < 500);
  o.keep_alive = f.http10 && !o.close;
  o.keep_alive_timeout_s = limits_.keep_alive_timeout_s;
  c.close_after_write = o.close;
  WriteResponse(res, o, &c.out);
}

void Reactor::ServeQueued(TimePoint now) {
  if (queue_.empty()) return;
  std::vector<int> turn;
  turn.swap(queue_);
  const auto until = SteadyClock::now() + kQueueBudget;
  size_t i = 0;
  for (; i < turn.size(); ++i) {
    // Out of time: the rest keep their places, ahead of those queued now.
    if (i > 0 && SteadyClock::now() >= until) break;
    Conn* cp = conns_->Find(turn[i]);
    if (cp == nullptr) continue;
    Conn& c = *cp;
    if (!c.queued) continue;
    c.queued = false;
    if (c.state != ConnState::kReading) continue;
    conns_->Watch(c, EPOLLIN | EPOLLRDHUP);
    Drive(c, now);
  }
  if (i < turn.size()) {
    std::vector<int> later(turn.begin() + static_cast<std::ptrdiff_t>(i), turn.end());
    later.insert(later.end(), queue_.begin(), queue_.end());
    queue_.swap(later);
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
      conns_->Touch(c);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (c.state != ConnState::kWriting) {
        c.state = ConnState::kWriting;
        conns_->Watch(c, EPOLLOUT);
        conns_->SetDeadline(c, now + milliseconds(limits_.write_timeout_ms));
      }
      return false;
    }
    conns_->Close(c);
    return false;
  }
  Release(&c.out);
  c.out_sent = 0;
  if (c.close_after_write) {
    Linger(c, now);
    return false;
  }
  if (c.state == ConnState::kWriting) {
    c.state = ConnState::kReading;
    conns_->Watch(c, EPOLLIN | EPOLLRDHUP);
  }
  if (c.in.empty()) Release(&c.in);
  conns_->SetDeadline(c, now + std::chrono::seconds(limits_.keep_alive_timeout_s));
  return true;
}

void Reactor::Refuse(Conn& c, int status, const char* why, TimePoint now) {
  Release(&c.in);
  c.in_request = false;
  Release(&c.out);
  WriteOptions o;
  o.close = true;
  WriteResponse(JsonError(status, why), o, &c.out);  // Cache-Control: no-store
  c.out_sent = 0;
  c.close_after_write = true;
  Flush(c, now);
}

// Closes our side for writing and reads until the client closes its own (or
// a short while), so that the last response is not lost to a reset.
void Reactor::Linger(Conn& c, TimePoint now) {
  shutdown(c.fd, SHUT_WR);
  Release(&c.in);
  if (c.state != ConnState::kLingering) {
    c.state = ConnState::kLingering;
    conns_->Watch(c, EPOLLIN | EPOLLRDHUP);
  }
  conns_->SetDeadline(c, now + milliseconds(std::min(limits_.read_timeout_ms, 1000)));
}

void Reactor::Sweep(TimePoint now) {
  conns_->Sweep(now, [&](Conn& c) {
    if (c.state == ConnState::kReading && c.in_request && !c.queued) {
      Refuse(c, 408, "request not received in time", now);  // slowloris
    } else {
      conns_->Close(c);  // idle past keep-alive, a response not taken, or done lingering
    }
  });
}

}  // namespace vigil
