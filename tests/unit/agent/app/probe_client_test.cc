// `vigil probe`'s own HTTP client: the URL authorities it accepts, the exact
// request bytes it sends, and how it reads an answer, against a real
// loopback socket.
#include "agent/app/probe_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

namespace vigil {
namespace {

TEST(ProbeClient, ParsesAuthority) {
  ProbeTarget t;
  ASSERT_TRUE(ParseProbeAuthority("127.0.0.1:8086", &t));
  EXPECT_EQ(t.host, "127.0.0.1");
  EXPECT_EQ(t.port, 8086);
  ASSERT_TRUE(ParseProbeAuthority("localhost", &t));
  EXPECT_EQ(t.host, "localhost");
  EXPECT_EQ(t.port, 80);
  ASSERT_TRUE(ParseProbeAuthority("[::1]:9", &t));
  EXPECT_EQ(t.host, "::1");
  EXPECT_EQ(t.port, 9);
  ASSERT_TRUE(ParseProbeAuthority("h:99999999999", &t));  // reaches nothing, but no crash
  EXPECT_EQ(t.port, 65536);
  for (const char* bad : {"", "u:pw@h:1", "h:", "h:1x", "h?x=1", "[fe80::1]:1", "[::1", "[]:1"}) {
    EXPECT_FALSE(ParseProbeAuthority(bad, &t)) << bad;
  }
}

// A loopback listener that takes one connection, reads the request head and
// answers with `reply` (nothing when empty), bounded in time.
class OneShotServer {
 public:
  explicit OneShotServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 4);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~OneShotServer() {
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  int port() const { return port_; }
  // Valid after the client is done (the destructor joins).
  const std::string& request() {
    if (thread_.joinable()) thread_.join();
    return request_;
  }

 private:
  void Serve() {
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, 5000) != 1) return;
    const int c = accept(fd_, nullptr, nullptr);
    if (c < 0) return;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    char buf[4096];
    while (request_.find("\r\n\r\n") == std::string::npos &&
           std::chrono::steady_clock::now() < until) {
      pollfd q{c, POLLIN, 0};
      if (poll(&q, 1, 500) != 1) continue;
      const ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      request_.append(buf, static_cast<size_t>(n));
    }
    if (!reply_.empty()) {
      [[maybe_unused]] ssize_t n = send(c, reply_.data(), reply_.size(), MSG_NOSIGNAL);
    } else {
      pollfd q{c, POLLIN, 0};
      poll(&q, 1, 1500);  // silent until the client gives up
    }
    close(c);
  }

  std::string reply_;
  int fd_ = -1;
  int port_ = 0;
  std::string request_;
  std::thread thread_;
};

TEST(ProbeClient, SendsTheRequestAndReadsTheStatus) {
  OneShotServer server("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 3\r\n\r\nno\n");
  ProbeTarget t;
  t.host = "127.0.0.1";
  t.port = server.port();
  t.path = "/a b+c,d;e'f?x=1+2&\xC3\xA9";
  const ProbeAnswer a = ProbeGet(t, 3000);
  EXPECT_EQ(a.failure, ProbeFailure::kNone);
  EXPECT_EQ(a.status, 503);
  EXPECT_EQ(server.request(),
            "GET /a%20b%2Bc%2Cd%3Be%27f?x=1%2B2&%C3%A9 HTTP/1.1\r\n"
            "Accept: */*\r\n"
            "Connection: close\r\n"
            "Host: 127.0.0.1:" +
                std::to_string(server.port()) +
                "\r\n"
                "User-Agent: vigil-probe\r\n"
                "\r\n");
}

TEST(ProbeClient, NoAnswerIsAReadFailureWithinTheTimeout) {
  OneShotServer server("");
  ProbeTarget t;
  t.host = "127.0.0.1";
  t.port = server.port();
  const auto t0 = std::chrono::steady_clock::now();
  const ProbeAnswer a = ProbeGet(t, 300);
  EXPECT_EQ(a.failure, ProbeFailure::kRead);
  // Generous: the machine may be loaded; the point is that it returns.
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(10));
}

TEST(ProbeClient, RefusedIsAConnectFailure) {
  int port = 0;
  {
    OneShotServer server("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    port = server.port();
    ProbeTarget t;
    t.host = "127.0.0.1";
    t.port = port;
    EXPECT_EQ(ProbeGet(t, 3000).status, 200);
  }
  ProbeTarget t;
  t.host = "127.0.0.1";
  t.port = port;  // closed now
  EXPECT_EQ(ProbeGet(t, 1000).failure, ProbeFailure::kConnect);
}

}  // namespace
}  // namespace vigil
