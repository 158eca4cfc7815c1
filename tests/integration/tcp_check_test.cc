// The `tcp` kind against sockets on 127.0.0.1: open, closed, and a listener
// whose accept queue is full (SYNs dropped, so connect hangs).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks/check.h"
#include "checks/common/net.h"
#include "checks/registry.h"
#include "tests/support/check_builder.h"
#include "tests/support/ports.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;
using testing::BuildCheck;
using testing::RunFor;
using testing::Timed;

constexpr milliseconds kShortTimeout{300};
constexpr milliseconds kMargin{700};
constexpr milliseconds kLongTimeout{5000};

std::unique_ptr<Check> MakeTcpCheck(const std::string& address) {
  return BuildCheck("tcp", {{"address", address}}).check;
}

// A listening socket on 127.0.0.1:0 with the given backlog; never accepts.
class Listener {
 public:
  explicit Listener(int backlog) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, backlog) != 0)
      return;
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(TcpCheckTest, OpenPortPasses) {
  Listener listener(16);
  ASSERT_GT(listener.port(), 0);
  auto check = MakeTcpCheck("127.0.0.1:" + std::to_string(listener.port()));
  Timed t = RunFor(*check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << t.result.reason;
  EXPECT_EQ(check->Target(), "127.0.0.1:" + std::to_string(listener.port()));
}

TEST(TcpCheckTest, LocalhostNamePasses) {
  // "localhost" comes from /etc/hosts: goes through the resolver thread.
  Listener listener(16);
  ASSERT_GT(listener.port(), 0);
  auto check = MakeTcpCheck("localhost:" + std::to_string(listener.port()));
  Timed t = RunFor(*check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << t.result.reason;
  EXPECT_EQ(check->Target(), "localhost:" + std::to_string(listener.port()));
}

TEST(TcpCheckTest, ClosedPortFailsFastRefused) {
  const int port = testing::FreePort();
  auto check = MakeTcpCheck("127.0.0.1:" + std::to_string(port));
  Timed t = RunFor(*check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_FALSE(t.result.timed_out);
  EXPECT_NE(t.result.reason.find("refused"), std::string::npos) << t.result.reason;
  EXPECT_LT(t.elapsed, milliseconds(1000));
}

TEST(TcpCheckTest, BadAddressIsConfigError) {
  for (const char* address : {"127.0.0.1", "host:", ":80", "host:99999", "::1:80"}) {
    try {
      MakeTcpCheck(address);
      ADD_FAILURE() << "no ConfigError for " << address;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.field(), "checks[0].address") << address;
    }
  }
}

// listen(fd, 0) accepts one connection into the queue (Linux and gVisor);
// once the queue is full further SYNs are dropped and connect() hangs: the
// check must give up at its deadline, not at the kernel's SYN retry limit.
TEST(TcpCheckTest, FullBacklogTimesOutAtDeadline) {
  Listener listener(0);
  ASSERT_GT(listener.port(), 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(listener.port()));

  std::vector<int> fillers;
  bool full = false;
  for (int i = 0; i < 32 && !full; ++i) {
    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    fillers.push_back(s);
    int rc = connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
    if (rc == 0) continue;
    ASSERT_EQ(errno, EINPROGRESS) << std::strerror(errno);
    pollfd p{s, POLLOUT, 0};
    if (poll(&p, 1, 200) == 0) full = true;  // this one hangs: the queue is full
  }
  if (!full) {
    for (int s : fillers) close(s);
    GTEST_SKIP() << "32 connects to a listen(0) socket all completed: this kernel does not "
                    "drop SYNs on a full accept queue, cannot make connect() hang on loopback";
  }

  auto check = MakeTcpCheck("127.0.0.1:" + std::to_string(listener.port()));
  Timed t = RunFor(*check, kShortTimeout);
  for (int s : fillers) close(s);
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_TRUE(t.result.timed_out) << t.result.reason;
  EXPECT_EQ(t.result.reason, "timeout while connecting");
  EXPECT_GE(t.elapsed, kShortTimeout);
  EXPECT_LT(t.elapsed, kShortTimeout + kMargin);
}

TEST(NetTest, ConnectTcpNumericNeverLeavesThread) {
  Listener listener(16);
  std::vector<Endpoint> eps;
  NetResult r = Resolve("127.0.0.1", listener.port(), Clock::now() - milliseconds(1), &eps);
  EXPECT_EQ(r.status, NetStatus::kOk) << "a numeric address must resolve even past the deadline";
  ASSERT_EQ(eps.size(), 1u);
  EXPECT_EQ(eps[0].ToString(), "127.0.0.1:" + std::to_string(listener.port()));
}

TEST(NetTest, WaitFdTimesOutAtDeadline) {
  int fds[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  auto start = Clock::now();
  NetResult r = WaitFd(fds[0], POLLIN, start + milliseconds(150));
  auto elapsed = Clock::now() - start;
  EXPECT_EQ(r.status, NetStatus::kTimeout);
  EXPECT_GE(elapsed, milliseconds(150));
  EXPECT_LT(elapsed, milliseconds(150) + kMargin);
  close(fds[0]);
  close(fds[1]);
}

}  // namespace
}  // namespace vigil
