// Raw HTTP clients for the hostile-client tests: a TCP client that sends and
// reads bytes without interpreting them, status-line helpers, and a prober
// that hits /livez on a new connection, as the kubelet does, while a test
// runs.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/agent_process.h"

namespace vigil::testing {

using SteadyClock = std::chrono::steady_clock;

inline long long Ms(SteadyClock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// A raw TCP client: bytes in, bytes out, nothing interpreted.
class Raw {
 public:
  explicit Raw(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~Raw() {
    if (fd_ >= 0) close(fd_);
  }
  Raw(const Raw&) = delete;
  Raw& operator=(const Raw&) = delete;

  bool connected() const { return connected_; }
  int fd() const { return fd_; }

  // False once the server has closed or reset the connection.
  bool Send(const std::string& data) {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = send(fd_, data.data() + off, data.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        pollfd p{fd_, POLLOUT, 0};
        if (poll(&p, 1, 2000) <= 0) return false;  // the server stopped reading
        continue;
      }
      return false;
    }
    return true;
  }

  // Reads until the server closes (EOF or reset) or `ms` pass.
  struct Read {
    std::string data;
    bool closed = false;
    SteadyClock::duration took{};
  };
  Read ReadUntilClosed(int ms) {
    Read r;
    const auto t0 = SteadyClock::now();
    const auto end = t0 + std::chrono::milliseconds(ms);
    char buf[65536];
    while (SteadyClock::now() < end) {
      pollfd p{fd_, POLLIN, 0};
      int left = static_cast<int>(Ms(end - SteadyClock::now()));
      if (poll(&p, 1, std::max(left, 1)) <= 0) continue;
      ssize_t n = recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        r.data.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      r.closed = true;
      break;
    }
    r.took = SteadyClock::now() - t0;
    return r;
  }

  // True when the server has closed the connection (EOF or reset) within `ms`.
  bool ClosedWithin(int ms) { return ReadUntilClosed(ms).closed; }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

// "HTTP/1.1 431 ..." -> 431; 0 when `data` holds no status line.
inline int StatusOf(const std::string& data, size_t from = 0) {
  if (data.compare(from, 5, "HTTP/") != 0 || data.size() < from + 12) return 0;
  return std::atoi(data.substr(from + 9, 3).c_str());
}

// Every status line in a stream of responses, in order.
inline std::vector<int> StatusesOf(const std::string& data) {
  std::vector<int> out;
  for (size_t pos = data.find("HTTP/1."); pos != std::string::npos;
       pos = data.find("HTTP/1.", pos + 1)) {
    if (pos == 0 || data.compare(pos - 1, 1, "\n") == 0) out.push_back(StatusOf(data, pos));
  }
  return out;
}

// Hits /livez on a new connection every 50 ms while a hostile test runs and
// remembers the worst answer.
class Prober {
 public:
  explicit Prober(int port) : port_(port) {
    thread_ = std::thread([this] {
      for (bool first = true; first || !stop_; first = false) {  // at least one probe
        HttpReply r = HttpCall(port_, "GET", "/livez");
        {
          std::lock_guard<std::mutex> lock(mu_);
          ++probes_;
          if (r.status != 200) failures_.push_back(r.status);
          worst_ = std::max(worst_, r.took);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    });
  }
  ~Prober() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int probes() {
    std::lock_guard<std::mutex> lock(mu_);
    return probes_;
  }
  std::vector<int> failures() {
    std::lock_guard<std::mutex> lock(mu_);
    return failures_;
  }
  std::chrono::microseconds worst() {
    std::lock_guard<std::mutex> lock(mu_);
    return worst_;
  }

 private:
  const int port_;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  int probes_ = 0;                      // Guarded by mu_.
  std::vector<int> failures_;           // Guarded by mu_.
  std::chrono::microseconds worst_{0};  // Guarded by mu_.
  std::thread thread_;
};

}  // namespace vigil::testing
