// A loopback TCP listener that accepts and closes: a stand-in for "the app's
// own port" in tests.
#pragma once

#include <atomic>
#include <thread>

namespace vigil::testing {

class TcpListener {
 public:
  TcpListener();  // binds 127.0.0.1 on a free port and starts accepting
  ~TcpListener();
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  void Close();  // stop listening: connects are refused afterwards

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace vigil::testing
