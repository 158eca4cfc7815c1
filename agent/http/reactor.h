// One epoll event-loop thread and the connections it holds (agent/http/server.h
// says what the limits do; agent/http/connections.h keeps their books). Each
// request goes framing (agent/http/http_framing.h) → the Api → the response
// writer (agent/http/http_writer.h), all on this thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "agent/http/connections.h"
#include "agent/http/http_framing.h"
#include "agent/http/server.h"
#include "checks/common/thread_annotations.h"

namespace vigil {

class Api;

// One event-loop thread and the connections it holds. Everything but
// Adopt(), Shed() and Stop() runs on its own thread.
//
// Fairness: each turn of the loop first answers new connections (one
// request each: a probe's), then the connections with events (at most
// kRequestsPerWake answers each), then, for at most 2 ms, connections that
// had more pipelined requests than that; those wait in a queue, are not read
// from meanwhile, and keep their places when the time runs out. No request
// is read while an answer is unsent, and a socket is read 4 KiB at a time,
// so a connection holds at most one response and a few KiB of input
// (max_header_bytes + max_body_bytes for one large request), whatever its
// client does.
class Reactor {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;
  static constexpr int kRequestsPerWake = 4;

  Reactor(const ServerLimits& limits, const Api* api, size_t max_connections);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop();
  void Adopt(int fd);   // any thread; the reactor owns the socket afterwards
  void Shed(size_t n);  // any thread: close up to n of the least useful connections

  size_t open_connections() const { return conns_->open(); }
  // Any thread: true while a new connection could only get in by closing
  // one accepted less than kFreshConnection ago (see MakeRoom).
  bool Saturated() const;

 private:
  void Loop();
  void TakeInbox(TimePoint now);
  bool MakeRoom(TimePoint now);
  void UpdateSaturation(TimePoint now);
  void OnEvent(Conn& c, uint32_t events, TimePoint now, int quota = kRequestsPerWake);
  void Drive(Conn& c, TimePoint now, int quota = kRequestsPerWake);
  bool Flush(Conn& c, TimePoint now);
  void ServeQueued(TimePoint now);
  void Refuse(Conn& c, int status, const char* why, TimePoint now);
  void Continue(Conn& c);
  void Answer(Conn& c, const Framed& f);
  void Linger(Conn& c, TimePoint now);
  void Sweep(TimePoint now);
  size_t InputLimit() const { return limits_.max_header_bytes + limits_.max_body_bytes + 4; }

  const ServerLimits limits_;
  const Api* const api_;
  const size_t max_connections_;
  const size_t reserved_;  // slots a new connection may take by evicting idle ones
  int epfd_ = -1;
  int wakefd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<size_t> shed_{0};  // connections to close, asked by the listener
  // Saturated until this time (steady clock, ns since its epoch); 0: not.
  std::atomic<int64_t> saturated_until_{0};
  Mutex inbox_mu_;
  std::vector<int> inbox_ VIGIL_GUARDED_BY(inbox_mu_);
  bool stopped_ VIGIL_GUARDED_BY(inbox_mu_) = false;
  // The reactor thread's own (open() excepted).
  std::unique_ptr<Connections> conns_;
  std::vector<int> queue_;  // connections with requests left, in arrival order
};

}  // namespace vigil
