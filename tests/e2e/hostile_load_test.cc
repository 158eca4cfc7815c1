// What a neighbour in the cluster could try in order to take vigil (and so
// the app whose liveness probe points at it) down, against the real binary
// with its default server limits: one small request asking for a huge answer
// (thousands of byte ranges), pipelined requests asking for compression,
// hundreds of clients that pipeline and never read, and running the process
// out of file descriptors. Throughout, a kubelet-like prober (a new
// connection each time) must get 200 within the kubelet's default 1 s
// timeout, and the agent must stay small and alive.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>

#include "tests/support/agent_process.h"
#include "tests/support/config_file.h"
#include "tests/support/ports.h"
#include "tests/support/raw_http.h"
#include "tests/support/tcp_listener.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// The kubelet's default timeoutSeconds.
constexpr auto kKubeletTimeout = 1000ms;

// The chart's memory limit. Sanitizer builds keep shadow memory and
// quarantines, so their RSS says nothing about vigil's: not checked there.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
constexpr long kRssLimitKb = 0;
#else
constexpr long kRssLimitKb = 32 * 1024;
#endif

// The agent's resident memory, from /proc (kB).
long RssKb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

void ExpectRssWithinLimit(pid_t pid) {
  if (kRssLimitKb > 0) {
    EXPECT_LT(RssKb(pid), kRssLimitKb);
  }
}

// A client socket with a tiny receive buffer that never reads: its answers
// pile up on the server's side.
int NonReadingClient(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  const int small = 2048;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

std::string Repeat(const std::string& s, int n) {
  std::string out;
  out.reserve(s.size() * static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) out += s;
  return out;
}

class HostileLoad : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    app_ = new TcpListener();
    // Hundreds of client sockets in this process.
    rlimit rl{};
    getrlimit(RLIMIT_NOFILE, &rl);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  static void TearDownTestSuite() {
    delete app_;
    app_ = nullptr;
  }

  // Default server limits but a keep-alive long enough for the test to
  // hold idle connections.
  void StartAgent(int keep_alive_s = 5) {
    dir_ = MakeTempDir("vigil-hostile-load");
    const std::string config = dir_ + "/config.json";
    const json cfg = OneAppConfig(app_->port(), {{"keep_alive_timeout_s", keep_alive_s}});
    std::ofstream(config) << cfg.dump(2);
    agent_ = std::make_unique<AgentProcess>(config);
    ASSERT_TRUE(agent_->WaitFor("/readyz", 200, "ok", 10000)) << agent_->Stdout();
  }

  void TearDown() override {
    if (agent_) {
      EXPECT_EQ(agent_->Get("/livez").status, 200) << "the agent stopped answering";
      EXPECT_EQ(agent_->Stderr().find("Sanitizer"), std::string::npos) << agent_->Stderr();
    }
    agent_.reset();
    if (!dir_.empty()) RemoveTree(dir_);
  }

  // Probes /livez `probes` times on new connections, 50 ms apart: every
  // probe must be 200 within the kubelet's timeout.
  void ExpectProbesAnswered(int probes) {
    for (int i = 0; i < probes; ++i) {
      HttpReply r = agent_->Get("/livez");
      EXPECT_EQ(r.status, 200) << "probe " << i;
      EXPECT_LT(r.took, kKubeletTimeout) << "probe " << i << " took " << r.took.count() << " us";
      std::this_thread::sleep_for(50ms);
    }
  }

  int port() const { return agent_->port(); }

  static TcpListener* app_;
  std::string dir_;
  std::unique_ptr<AgentProcess> agent_;
};

TcpListener* HostileLoad::app_ = nullptr;

// One 8 KB request once made cpp-httplib answer 20 MB of multipart byte
// ranges (4,000 copies of the body), enough to get a 32 Mi pod OOM-killed.
// Ranges are ignored: the answer is the whole body, once.
TEST_F(HostileLoad, ThousandsOfByteRangesGetTheWholeBodyOnce) {
  StartAgent();
  const std::string ranges = "Range: bytes=" + Repeat("-,", 3990) + "-\r\n";
  for (const char* path : {"/metrics", "/"}) {
    const HttpReply plain = agent_->Get(path);
    ASSERT_EQ(plain.status, 200);
    Raw c(port());
    ASSERT_TRUE(c.connected());
    ASSERT_TRUE(c.Send(std::string("GET ") + path + " HTTP/1.1\r\nHost: x\r\n" + ranges +
                       "Connection: close\r\n\r\n"));
    Raw::Read r = c.ReadUntilClosed(5000);
    EXPECT_TRUE(r.closed);
    EXPECT_EQ(StatusOf(r.data), 200) << path << ": " << r.data.substr(0, 200);
    EXPECT_EQ(r.data.find("Content-Range"), std::string::npos) << path;
    EXPECT_EQ(r.data.find("multipart/byteranges"), std::string::npos) << path;
    // The whole body once (the metrics may differ by a few bytes between
    // two scrapes), not thousands of copies.
    EXPECT_LT(r.data.size(), plain.body.size() + 4096) << path;
  }
  // A single range is ignored the same way: 200 and the whole body.
  Raw c(port());
  ASSERT_TRUE(c.Send("GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=0-9\r\nConnection: close\r\n\r\n"));
  Raw::Read r = c.ReadUntilClosed(5000);
  EXPECT_EQ(StatusOf(r.data), 200) << r.data.substr(0, 200);
  EXPECT_GT(r.data.size(), 1000u);
  ExpectRssWithinLimit(agent_->pid());
}

// Compression was applied to every body a client asked it for (Brotli at its
// slowest quality, on the event-loop thread). Bodies are never compressed.
TEST_F(HostileLoad, AcceptEncodingIsIgnored) {
  StartAgent();
  for (const char* enc : {"br", "gzip", "deflate", "br, gzip;q=1, *"}) {
    HttpReply r = agent_->Get("/", {{"Accept-Encoding", enc}});
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers.count("Content-Encoding"), 0u) << enc;
    EXPECT_NE(r.body.find("<html"), std::string::npos) << enc;
  }
}

// 4 connections each pipelining 300 `GET /` with `Accept-Encoding: br` made
// a /livez probe wait 1.9 s: each connection's requests were all answered
// (and compressed) before the loop looked at anyone else.
TEST_F(HostileLoad, PipelinedRequestsAskingForCompressionDoNotStallProbes) {
  StartAgent();
  const std::string batch = Repeat("GET / HTTP/1.1\r\nHost: x\r\nAccept-Encoding: br\r\n\r\n", 300);
  std::atomic<bool> stop{false};
  std::vector<std::thread> hostile;
  std::atomic<long> received{0};
  for (int i = 0; i < 4; ++i) {
    hostile.emplace_back([&] {
      for (int round = 0; round < 20 && !stop; ++round) {
        Raw c(port());
        if (!c.connected()) continue;
        std::thread sender([&] { c.Send(batch); });
        // Read as fast as the server answers: the pressure is CPU, not memory.
        const auto end = SteadyClock::now() + 3s;
        char buf[65536];
        while (SteadyClock::now() < end && !stop) {
          pollfd p{c.fd(), POLLIN, 0};
          if (poll(&p, 1, 100) <= 0) continue;
          const ssize_t n = recv(c.fd(), buf, sizeof buf, 0);
          if (n <= 0) break;
          received += n;
        }
        sender.join();
      }
    });
  }
  std::this_thread::sleep_for(200ms);
  ExpectProbesAnswered(20);
  stop = true;
  for (auto& t : hostile) t.join();
  EXPECT_GT(received.load(), 0);
}

// 600 connections that pipeline `GET /` and never read their answers once
// timed the next probe out: connections waiting to write were never closed
// to make room, so new connections were closed at once while all slots were
// full.
TEST_F(HostileLoad, ClientsThatNeverReadCannotLockProbesOut) {
  StartAgent();
  const std::string batch = Repeat("GET / HTTP/1.1\r\nHost: x\r\n\r\n", 300);
  std::vector<int> fds;
  for (int i = 0; i < 600; ++i) {
    const int fd = NonReadingClient(port());
    if (fd < 0) continue;
    // As much as the socket takes without blocking.
    [[maybe_unused]] ssize_t n = send(fd, batch.data(), batch.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    fds.push_back(fd);
  }
  EXPECT_GT(fds.size(), 500u);
  std::this_thread::sleep_for(300ms);
  ExpectProbesAnswered(20);
  // Each of them holds at most one answer and one request's bytes.
  ExpectRssWithinLimit(agent_->pid());
  for (int fd : fds) close(fd);
}

// Out of descriptors, accept() fails with EMFILE. The listener must neither
// spin nor die: it closes idle connections to make room, backs off, and
// serves again once descriptors are back.
TEST_F(HostileLoad, RunningOutOfDescriptorsBacksOffAndRecovers) {
  StartAgent(/*keep_alive_s=*/60);
  // 100 idle keep-alive connections, each answered once.
  std::vector<std::unique_ptr<Raw>> idle;
  for (int i = 0; i < 100; ++i) {
    auto c = std::make_unique<Raw>(port());
    ASSERT_TRUE(c->connected());
    ASSERT_TRUE(c->Send("GET /livez HTTP/1.1\r\nHost: x\r\n\r\n"));
    idle.push_back(std::move(c));
  }
  for (auto& c : idle) {
    pollfd p{c->fd(), POLLIN, 0};
    ASSERT_EQ(poll(&p, 1, 2000), 1);
    char buf[4096];
    ASSERT_GT(recv(c->fd(), buf, sizeof buf, 0), 0);
  }
  // Fewer descriptors than the agent holds: the next accept fails.
  // (The soft limit only, as `prlimit --pid P --nofile=64:` does: raising
  // it back needs no privilege.)
  rlimit old{};
  ASSERT_EQ(prlimit(agent_->pid(), RLIMIT_NOFILE, nullptr, &old), 0) << std::strerror(errno);
  rlimit tight{64, old.rlim_max};
  ASSERT_EQ(prlimit(agent_->pid(), RLIMIT_NOFILE, &tight, nullptr), 0) << std::strerror(errno);
  // A probe gets in once idle connections are closed to make room.
  bool answered = false;
  for (int i = 0; i < 20 && !answered; ++i) {
    answered = agent_->Get("/livez").status == 200;
    if (!answered) std::this_thread::sleep_for(100ms);
  }
  EXPECT_TRUE(answered) << "no probe answered while out of descriptors";
  // Descriptors back: every probe is answered again, at once.
  ASSERT_EQ(prlimit(agent_->pid(), RLIMIT_NOFILE, &old, nullptr), 0) << std::strerror(errno);
  ExpectProbesAnswered(5);
  // Said once in the log, not once per failed accept.
  const std::string log = agent_->Stdout();
  EXPECT_NE(log.find("cannot accept a connection: Too many open files"), std::string::npos) << log;
}

}  // namespace
}  // namespace vigil::testing
