// The listening socket and the thread that accepts on it. Accepted sockets
// go to the event loops (agent/reactor.h); the listener holds none itself.
//
// Out of file descriptors (EMFILE/ENFILE) it does not spin and does not die:
// it asks the event loops to close their least useful connections, retries
// with a growing pause (5 ms up to 200 ms) and a growing number to close;
// when no connection is left to close (the descriptors are held elsewhere)
// it accepts with a spare descriptor kept for the purpose and closes at
// once, so a waiting client gets a clean close instead of a hang. It resumes as
// soon as descriptors come back. Any other failure is reported; a listening
// socket that is gone for good ends the process with status 1, so the
// kubelet restarts it rather than leave a pod that answers nothing.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <thread>

namespace vigil {

struct ListenerHooks {
  // Takes an accepted, non-blocking socket; owns it afterwards.
  std::function<void(int fd)> adopt;
  // Out of descriptors: close up to `n` connections to make room; returns
  // how many connections are open (0: there is nothing left to close).
  std::function<size_t(size_t n)> shed;
  // One line for the log (rate-limited by the caller's reporter).
  std::function<void(const std::string&)> warn;
  // True while no event loop can take a connection without closing one
  // that is too new to close: the listener then leaves connections in the
  // kernel's queue (where a probe's request arrives meanwhile) and looks
  // again in a moment.
  std::function<bool()> full;
};

class Listener {
 public:
  explicit Listener(ListenerHooks hooks);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  // Binds host:port (port 0: any free port) and listens with the system's
  // largest backlog. Throws std::runtime_error naming the address.
  void Bind(const std::string& host, int port);
  int port() const { return port_; }

  void Start();
  void Stop();

  // Accepts refused for want of descriptors, since start.
  uint64_t fd_exhaustions() const { return fd_exhaustions_.load(); }

 private:
  void Loop();
  bool AcceptAll();  // false: back off before the next try
  void OutOfDescriptors(int e);

  ListenerHooks hooks_;
  int fd_ = -1;
  int wakefd_ = -1;
  int spare_fd_ = -1;
  int port_ = 0;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> fd_exhaustions_{0};
  // The accept thread's own.
  int backoff_ms_ = 0;
  int exhausted_in_a_row_ = 0;
};

}  // namespace vigil
