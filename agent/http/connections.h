// The connections of one event loop (agent/http/reactor.h) and their
// bookkeeping: the epoll registration, each connection's deadline, the order
// of last activity, eviction when full, closing and reaping, and giving
// memory back after a burst. Used on the event loop's thread only, but
// open() may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

namespace vigil {

enum class ConnState { kReading, kWriting, kLingering };

struct Conn {
  using TimePoint = std::chrono::steady_clock::time_point;
  int fd = -1;
  std::string peer;  // the client's address, for the admin route's budget
  ConnState state = ConnState::kReading;
  std::string in;   // received, not yet answered
  std::string out;  // the response being sent
  size_t out_sent = 0;
  bool in_request = false;  // `in` holds the start of a request
  bool close_after_write = false;
  bool continue_sent = false;  // "100 Continue" sent for the current request
  bool queued = false;         // has requests left after its share of a wake-up
  bool dead = false;
  int served = 0;
  TimePoint deadline;
  TimePoint accepted;        // set by the event loop when it takes the socket
  uint64_t last_active = 0;  // Connections' activity count when it last made progress
};

class Connections {
 public:
  using TimePoint = Conn::TimePoint;

  explicit Connections(int epfd) : epfd_(epfd) {}
  Connections(const Connections&) = delete;
  Connections& operator=(const Connections&) = delete;

  // Registers an accepted socket for reading; nullptr (and the socket
  // closed) when epoll refuses it.
  Conn* Add(int fd);
  // The open connection on fd, or nullptr.
  Conn* Find(int fd);
  // Closes the socket; the entry goes at the next Reap().
  void Close(Conn& c);
  void Reap();
  // Closes every socket and forgets them all (the loop has stopped).
  void CloseAll();

  // 0 lingering, 1 not taking its answer or waiting with pipelined
  // requests, 2 idle keep-alive, 3 a request unfinished or not begun.
  static int EvictionRank(const Conn& c);
  // Closes the least useful connection (see the .cc); false when none
  // qualifies. `spare`, when given, is offered each candidate whose request
  // is unfinished or not begun before it is closed (a probe's request may
  // be in its socket, unread): true when it made progress, and another is
  // looked for.
  // With `protect_since`, a connection whose request is not begun or
  // unfinished and that was accepted at or after it is not a candidate.
  bool EvictOne(bool any, const std::function<bool(Conn&)>& spare = {},
                TimePoint protect_since = TimePoint::max());

  // When every open connection is one whose request is not begun or
  // unfinished, accepted at or after `protect_since`: the earliest accept
  // among them; else TimePoint::max() (one could be closed).
  TimePoint OldestProtected(TimePoint protect_since) const;

  void Watch(const Conn& c, uint32_t events);
  void SetDeadline(Conn& c, TimePoint t);
  void Touch(Conn& c) { c.last_active = ++activity_; }
  // epoll_wait's timeout until the earliest deadline (-1: none).
  int WaitMs(TimePoint now) const;
  // Calls `expired` for every open connection whose deadline has passed.
  void Sweep(TimePoint now, const std::function<void(Conn&)>& expired);
  // Gives freed memory back once most of a burst of connections is gone;
  // `idle`: no connection has requests waiting.
  void TrimAfterBurst(bool idle);

  size_t live() const { return live_; }
  size_t open() const { return open_.load(std::memory_order_relaxed); }

 private:
  const int epfd_;
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  Conn* PickVictim(bool any, TimePoint protect_since);

  std::vector<int> dead_;
  size_t live_ = 0;
  std::atomic<size_t> open_{0};
  size_t peak_ = 0;                        // most connections open since memory was last trimmed
  TimePoint earliest_ = TimePoint::max();  // no deadline before this
  uint64_t activity_ = 0;                  // orders connections by last activity
};

}  // namespace vigil
