// A breakable TCP forwarder for tests: listens on a loopback address and a
// free port and forwards every connection to a target host:port, so that one
// client's path to a real server (one "pod's" path to Redis or PostgreSQL)
// can be broken while the others' stay up.
//
//   kPass       forwards both ways
//   kRefuse     the listener is closed (connects are refused) and every open
//               connection is reset, both sides
//   kBlackHole  new connections are accepted and held, nothing is forwarded
//               either way on any connection (requests go unanswered)
//
// One thread and poll(): at most kMaxConnections connections (more are
// reset), at most 256 KiB buffered a direction. SetMode returns once the
// thread has applied the mode.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vigil::testing {

class TcpProxy {
 public:
  enum class Mode { kPass, kRefuse, kBlackHole };
  static constexpr int kMaxConnections = 256;

  // Listens on listen_host and a free port (or `listen_port`); throws
  // std::runtime_error when it cannot.
  TcpProxy(std::string target_host, int target_port, std::string listen_host = "127.0.0.1",
           int listen_port = 0);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  int port() const { return port_; }
  const std::string& host() const { return listen_host_; }
  std::string address() const { return listen_host_ + ":" + std::to_string(port_); }

  // Applies `mode` (bounded wait for the thread, 2 s); throws when the
  // listener cannot be bound again on the way back from kRefuse.
  void SetMode(Mode mode);
  Mode mode() const { return applied_.load(); }

  int accepted() const { return accepted_.load(); }  // connections accepted so far
  int open() const { return open_.load(); }          // connections open now

 private:
  struct Pair;
  void Loop();
  void Listen();
  void ApplyMode(Mode mode);
  void Accept();
  void Pump(Pair& p, bool from_client);
  void Flush(Pair& p, bool to_client);

  const std::string target_host_;
  const int target_port_;
  const std::string listen_host_;
  int port_ = 0;
  int listen_fd_ = -1;                        // the loop thread's (and the constructor's)
  std::vector<std::unique_ptr<Pair>> pairs_;  // the loop thread's

  std::mutex mu_;
  std::condition_variable cv_;
  Mode wanted_ = Mode::kPass;  // Guarded by mu_.
  std::string error_;          // Guarded by mu_.
  std::atomic<Mode> applied_{Mode::kPass};
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> open_{0};
  std::thread thread_;
};

}  // namespace vigil::testing
