// A loopback TCP listener that accepts and closes: a stand-in for "the app's
// own port" in tests, or, given a banner, a plain-text server that speaks
// first, as many do.
#pragma once

#include <atomic>
#include <string>
#include <thread>

namespace vigil::testing {

class TcpListener {
 public:
  // Binds 127.0.0.1 on a free port and starts accepting. With a `banner`,
  // every connection is sent it, then closed once the client sent something
  // or after 1 s (time to read it); without, closed at once.
  explicit TcpListener(std::string banner = "");
  ~TcpListener();
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  void Close();  // stop listening: connects are refused afterwards

 private:
  void Serve(int connection) const;

  const std::string banner_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
};

}  // namespace vigil::testing
