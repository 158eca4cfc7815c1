// One epoll event-loop thread and the connections it holds (agent/server.h
// says what the limits do). A request reaches httplib only once
// agent/http_framing.h has accepted its head.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "agent/server.h"

namespace vigil {

class Listener;

// One event-loop thread and the connections it holds. Everything but Adopt()
// and Stop() runs on its own thread.
class Reactor {
 public:
  using TimePoint = std::chrono::steady_clock::time_point;

  Reactor(const ServerLimits& limits, Listener* listener, size_t max_connections);
  ~Reactor();
  Reactor(const Reactor&) = delete;
  Reactor& operator=(const Reactor&) = delete;

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Stop();
  void Adopt(int fd);  // any thread; the reactor owns the socket afterwards

 private:
  enum class State { kReading, kWriting, kLingering };
  struct Conn {
    int fd = -1;
    State state = State::kReading;
    std::string in;   // received, not yet answered
    std::string out;  // the response being sent
    size_t out_sent = 0;
    bool in_request = false;  // `in` holds the start of a request
    bool close_after_write = false;
    bool dead = false;
    int served = 0;
    TimePoint deadline;
    uint64_t last_active = 0;  // Reactor::activity_ when it last did something
  };

  void Loop();
  void TakeInbox(TimePoint now);
  void OnEvent(Conn& c, uint32_t events, TimePoint now);
  void Drive(Conn& c, TimePoint now);
  bool Flush(Conn& c, TimePoint now);
  void Refuse(Conn& c, int status, const char* why, TimePoint now);
  void Linger(Conn& c, TimePoint now);
  void Close(Conn& c);
  bool EvictOne();
  void Watch(const Conn& c, uint32_t events);
  void SetDeadline(Conn& c, TimePoint t);
  void Sweep(TimePoint now);
  void Reap();
  int WaitMs(TimePoint now) const;

  const ServerLimits limits_;
  Listener* const listener_;
  const size_t max_connections_;
  int epfd_ = -1;
  int wakefd_ = -1;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::mutex inbox_mu_;
  std::vector<int> inbox_;  // Guarded by inbox_mu_.
  bool stopped_ = false;    // Guarded by inbox_mu_.
  // The reactor thread's own.
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  std::vector<int> dead_;
  size_t live_ = 0;
  TimePoint earliest_ = TimePoint::max();  // no deadline before this
  uint64_t activity_ = 0;                  // orders connections by last activity
};

}  // namespace vigil
