// tests/support/tcp_proxy.h against a real redis-server: it forwards, it
// refuses (new and open connections), it black-holes, and it comes back.
#include "tests/support/tcp_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include <gtest/gtest.h>

#include "tests/support/redis_server.h"

namespace vigil::testing {
namespace {

// A connection to 127.0.0.1:port; -1 and errno when refused.
int Connect(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    const int err = errno;
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// Sends PING, returns what came back within `ms` ("" for nothing, "EOF",
// or "ERR" for a reset).
std::string Ping(int fd, int ms = 1000) {
  if (send(fd, "PING\r\n", 6, MSG_NOSIGNAL) != 6) return "ERR";
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, ms) != 1) return "";
  char buf[64];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n == 0) return "EOF";
  if (n < 0) return "ERR";
  return std::string(buf, static_cast<size_t>(n));
}

TEST(TcpProxyTest, PassRefuseBlackHoleAndBack) {
  RedisServer redis;
  TcpProxy proxy("127.0.0.1", redis.port());

  int kept = Connect(proxy.port());
  ASSERT_GE(kept, 0);
  EXPECT_EQ(Ping(kept), "+PONG\r\n");

  // Refuse: the open connection is reset, new ones are refused.
  proxy.SetMode(TcpProxy::Mode::kRefuse);
  const std::string after = Ping(kept);
  EXPECT_TRUE(after == "ERR" || after == "EOF") << after;
  close(kept);
  EXPECT_EQ(Connect(proxy.port()), -1);
  EXPECT_EQ(errno, ECONNREFUSED);

  // Back to pass on the same port.
  proxy.SetMode(TcpProxy::Mode::kPass);
  kept = Connect(proxy.port());
  ASSERT_GE(kept, 0);
  EXPECT_EQ(Ping(kept), "+PONG\r\n");

  // Black hole: connects succeed, nothing comes back on old or new ones.
  proxy.SetMode(TcpProxy::Mode::kBlackHole);
  EXPECT_EQ(Ping(kept, 300), "");
  int fresh = Connect(proxy.port());
  ASSERT_GE(fresh, 0);
  EXPECT_EQ(Ping(fresh, 300), "");
  close(fresh);

  // And back: a new connection works again.
  proxy.SetMode(TcpProxy::Mode::kPass);
  close(kept);
  int again = Connect(proxy.port());
  ASSERT_GE(again, 0);
  EXPECT_EQ(Ping(again), "+PONG\r\n");
  close(again);
  EXPECT_GE(proxy.accepted(), 4);
}

TEST(TcpProxyTest, TargetDownIsRefusedThrough) {
  RedisServer redis;
  TcpProxy proxy("127.0.0.1", redis.port());
  redis.Stop();
  int fd = Connect(proxy.port());  // the proxy accepts, then resets
  if (fd >= 0) {
    const std::string r = Ping(fd);
    EXPECT_TRUE(r == "ERR" || r == "EOF") << r;
    close(fd);
  }
  redis.Start();
  fd = Connect(proxy.port());
  ASSERT_GE(fd, 0);
  EXPECT_EQ(Ping(fd), "+PONG\r\n");
  close(fd);
}

TEST(TcpProxyTest, ListensOnAnotherLoopbackAddress) {
  RedisServer redis;
  TcpProxy proxy("127.0.0.1", redis.port(), "127.0.0.9");
  EXPECT_EQ(proxy.address(), "127.0.0.9:" + std::to_string(proxy.port()));
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  inet_pton(AF_INET, "127.0.0.9", &a.sin_addr);
  a.sin_port = htons(static_cast<uint16_t>(proxy.port()));
  ASSERT_EQ(connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  EXPECT_EQ(Ping(fd), "+PONG\r\n");
  close(fd);
}

}  // namespace
}  // namespace vigil::testing
