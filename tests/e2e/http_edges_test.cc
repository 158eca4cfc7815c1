// Issue 20, the last protocol edges, through the vigil binary:
// `Expect: 100-continue` answered at once, router refusals that close and
// are not cacheable, 414 from the first byte past the target limit, an
// invalid Host refused, absolute-form targets served, chunked bodies read
// and skipped, "%2F" never routed as a separator, and the admin failure
// budget per client address (loopback has 127.0.0.0/8 to tell clients
// apart). A prober on fresh connections sees /livez 200 throughout.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/agent_process.h"
#include "tests/support/config_file.h"
#include "tests/support/raw_http.h"
#include "tests/support/tcp_listener.h"

namespace vigil::testing {
namespace {

using namespace std::chrono_literals;

constexpr const char* kToken = "the-right-admin-token-0123";

// A request on a new connection from `source` (a 127.0.0.0/8 address);
// the whole answer, read until the server closes (Connection: close).
std::string RequestFrom(const char* source, int port, const std::string& request) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in from{};
  from.sin_family = AF_INET;
  inet_pton(AF_INET, source, &from.sin_addr);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) == 0 &&
      connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0 &&
      send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(request.size())) {
    timeval tv{3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[4096];
    for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;)
      out.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return out;
}

std::string AdminPost(const std::string& authorization) {
  return "POST /admin/circuit-breaker/app/reset HTTP/1.1\r\nHost: x\r\nAuthorization: " +
         authorization + "\r\nConnection: close\r\n\r\n";
}

class HttpEdges : public ::testing::Test {
 protected:
  void SetUp() override {
    config_.Write(OneAppConfig(app_.port(), {{"threads", 2}, {"max_connections", 32}}));
    agent_ = std::make_unique<AgentProcess>(
        config_.path(), std::vector<std::string>{},
        std::map<std::string, std::string>{{"VIGIL_ADMIN_TOKEN", kToken}});
    ASSERT_TRUE(agent_->WaitFor("/readyz", 200, "ok", 10000)) << agent_->Stdout();
    prober_ = std::make_unique<Prober>(agent_->port());
  }
  void TearDown() override {
    prober_->Stop();
    EXPECT_TRUE(prober_->failures().empty())
        << prober_->failures().size() << " probes failed, first " << prober_->failures().front();
    EXPECT_EQ(agent_->Get("/livez").status, 200);
  }
  int port() const { return agent_->port(); }

  TcpListener app_;
  ConfigFile config_{"vigil-edges"};
  std::unique_ptr<AgentProcess> agent_;
  std::unique_ptr<Prober> prober_;
};

TEST_F(HttpEdges, ExpectContinueIsAnsweredBeforeTheBody) {
  Raw c(port());
  ASSERT_TRUE(c.Send(
      "GET /livez HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  // curl waits 1 s for it before sending the body anyway.
  Raw::Read interim = c.ReadUntilClosed(900);
  EXPECT_EQ(interim.data, "HTTP/1.1 100 Continue\r\n\r\n");
  ASSERT_TRUE(c.Send("hello"));
  ASSERT_TRUE(c.Send("GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  Raw::Read r = c.ReadUntilClosed(3000);
  EXPECT_EQ(StatusesOf(r.data), (std::vector<int>{200, 200})) << r.data;
}

TEST_F(HttpEdges, RouterRefusalsCloseAndAreNotCacheable) {
  for (const std::string& request : {std::string("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"),
                                     std::string("POST /livez HTTP/1.1\r\nHost: x\r\n\r\n"),
                                     std::string("GET /health/nope HTTP/1.1\r\nHost: x\r\n\r\n"),
                                     std::string("GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n")}) {
    SCOPED_TRACE(request);
    Raw c(port());
    ASSERT_TRUE(c.Send(request + "GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"));
    Raw::Read r = c.ReadUntilClosed(3000);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(StatusesOf(r.data).size(), 1u) << r.data;
    EXPECT_GE(StatusOf(r.data), 400) << r.data;
    EXPECT_NE(r.data.find("\r\nCache-Control: no-store\r\n"), std::string::npos) << r.data;
    EXPECT_NE(r.data.find("\r\nConnection: close\r\n"), std::string::npos) << r.data;
  }
}

TEST_F(HttpEdges, TargetsOverTheLimitAre414FromTheFirstBytePastIt) {
  for (size_t n : {size_t{4097}, size_t{6000}, size_t{8100}}) {
    Raw c(port());
    ASSERT_TRUE(c.Send("GET /" + std::string(n - 1, 'a') + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    EXPECT_EQ(StatusOf(c.ReadUntilClosed(3000).data), 414) << n;
  }
  Raw partial(port());  // the line is not even finished
  ASSERT_TRUE(partial.Send("GET /" + std::string(4096, 'a')));
  Raw::Read r = partial.ReadUntilClosed(3000);
  EXPECT_EQ(StatusOf(r.data), 414) << r.data;
  EXPECT_TRUE(r.closed);
}

TEST_F(HttpEdges, InvalidHostIs400AbsoluteFormIsServed) {
  Raw bad(port());
  ASSERT_TRUE(bad.Send("GET /livez HTTP/1.1\r\nHost: a b <script>\r\n\r\n"));
  EXPECT_EQ(StatusOf(bad.ReadUntilClosed(3000).data), 400);
  Raw abs(port());
  ASSERT_TRUE(abs.Send("GET http://127.0.0.1:" + std::to_string(port()) +
                       "/readyz?verbose HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"));
  Raw::Read r = abs.ReadUntilClosed(3000);
  EXPECT_EQ(StatusOf(r.data), 200) << r.data;
  EXPECT_NE(r.data.find("[+]app ok"), std::string::npos) << r.data;
}

TEST_F(HttpEdges, ChunkedBodiesAreReadAndSkipped) {
  const std::string smuggled = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
  char size[16];
  snprintf(size, sizeof size, "%zx", smuggled.size());
  Raw c(port());
  ASSERT_TRUE(c.Send("GET /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     std::string(size) + "\r\n" + smuggled + "\r\n0\r\n\r\n" +
                     "GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  Raw::Read r = c.ReadUntilClosed(3000);
  EXPECT_EQ(StatusesOf(r.data), (std::vector<int>{200, 200})) << r.data;
  Raw big(port());
  ASSERT_TRUE(
      big.Send("GET /livez HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "100000\r\n"));
  EXPECT_EQ(StatusOf(big.ReadUntilClosed(3000).data), 413);
}

TEST_F(HttpEdges, AnEscapedSlashNeverReachesTheAdminRoute) {
  const std::string auth = std::string("Bearer ") + kToken;
  for (const char* target :
       {"/admin%2Fcircuit-breaker%2Fapp%2Freset", "/admin%2fcircuit-breaker/app/reset",
        "/admin/circuit-breaker%2Fapp/reset"}) {
    const std::string r = RequestFrom("127.0.0.1", port(),
                                      std::string("POST ") + target +
                                          " HTTP/1.1\r\nHost: x\r\nAuthorization: " + auth +
                                          "\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(StatusOf(r), 400) << target << ": " << r;
  }
  EXPECT_EQ(StatusOf(RequestFrom("127.0.0.1", port(), AdminPost(auth))), 200);
}

TEST_F(HttpEdges, AFloodOfWrongTokensFromOneAddressNeverLocksOutAnother) {
  const std::string right = std::string("Bearer ") + kToken;
  for (int i = 0; i < 20; ++i) {
    EXPECT_NE(StatusOf(RequestFrom("127.0.0.2", port(), AdminPost("Bearer guess"))), 200);
    EXPECT_EQ(StatusOf(RequestFrom("127.0.0.3", port(), AdminPost(""))), 401);  // not counted
    const std::string r = RequestFrom("127.0.0.1", port(), AdminPost(right));
    EXPECT_EQ(StatusOf(r), 200) << i << ": " << r;
  }
  EXPECT_EQ(StatusOf(RequestFrom("127.0.0.2", port(), AdminPost(right))), 429);
  EXPECT_EQ(StatusOf(RequestFrom("127.0.0.3", port(), AdminPost(right))), 200);
  // RFC 9110 11.1: the scheme is case-insensitive; 1*SP before the token.
  EXPECT_EQ(StatusOf(RequestFrom("127.0.0.1", port(), AdminPost(std::string("bearer ") + kToken))),
            200);
  EXPECT_EQ(StatusOf(RequestFrom("127.0.0.1", port(), AdminPost(std::string("Bearer  ") + kToken))),
            200);
  EXPECT_NE(agent_->Stdout().find("admin_locked_out"), std::string::npos);
}

// `count` connections that send nothing, each opened again as soon as the
// server closes it, until Stop() (or `seconds`): the flood of issue 20.
class IdleFlood {
 public:
  IdleFlood(int port, int count, int seconds) : port_(port) {
    thread_ = std::thread([this, count, seconds] { Run(count, seconds); });
  }
  ~IdleFlood() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int reopened() const { return reopened_.load(); }

 private:
  int Open() const {
    const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(port_));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);  // in progress
    return fd;
  }
  void Run(int count, int seconds) {
    std::vector<pollfd> fds(static_cast<size_t>(count));
    for (pollfd& p : fds) p = {Open(), POLLIN, 0};
    const auto end = SteadyClock::now() + std::chrono::seconds(seconds);
    while (!stop_ && SteadyClock::now() < end) {
      if (poll(fds.data(), fds.size(), 50) <= 0) continue;
      for (pollfd& p : fds) {
        if (p.revents == 0) continue;
        char buf[512];
        const ssize_t n = recv(p.fd, buf, sizeof buf, 0);
        if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR))) continue;
        close(p.fd);  // closed by the server (or refused): at once again
        p.fd = Open();
        ++reopened_;
      }
    }
    for (pollfd& p : fds) close(p.fd);
  }

  const int port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> reopened_{0};
  std::thread thread_;
};

// Issue 20: at max_connections 32, 300 idle connections reopened as they
// close never cost a probe its fresh connection.
TEST_F(HttpEdges, AProbesNewConnectionIsNeverTheOneEvicted) {
  IdleFlood flood(port(), 300, 30);
  int probes = 0;
  std::vector<int> failed;
  const auto end = SteadyClock::now() + 10s;
  while (SteadyClock::now() < end && probes < 400) {
    const HttpReply r = agent_->Get("/livez");  // a new connection, as the kubelet's
    ++probes;
    if (r.status != 200) failed.push_back(r.status);
    std::this_thread::sleep_for(20ms);
  }
  flood.Stop();
  EXPECT_GT(flood.reopened(), 300) << "the flood did not churn";
  EXPECT_TRUE(failed.empty()) << failed.size() << " of " << probes << " probes failed";
}

}  // namespace
}  // namespace vigil::testing
