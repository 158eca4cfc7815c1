// Network black holes (issue 4): a real Redis and a real PostgreSQL inside a
// network namespace the test creates (tests/support/netns.h), reached from
// the host through a veth pair on a private /24. Their traffic is then dropped
// *inside* the namespace (iptables DROP, or the namespace side of the veth
// down): nothing is refused, packets just vanish. Every check must fail as a
// timeout at its deadline, on a kept-open connection (established, then
// silent) and on a fresh connect (SYN unanswered); through the vigil binary
// /readyz must flip to 503 while /livez stays 200 and every probe stays fast,
// and all of it recovers when the traffic flows again.
//
// Traffic goes only to 127.0.0.1 and to the namespace's address. Without the
// privilege to create namespaces the tests skip and say why.
#include <gtest/gtest.h>

#include <dirent.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/check.h"
#include "tests/support/agent_process.h"
#include "tests/support/check_builder.h"
#include "tests/support/launcher.h"
#include "tests/support/netns.h"
#include "tests/support/pg_server.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"
#include "tests/support/tcp_listener.h"

namespace vigil {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using testing::AgentProcess;
using testing::HttpReply;
using testing::Launcher;
using testing::NetNs;
using testing::PgServer;
using testing::PgServerOptions;
using testing::RedisServer;

constexpr int kRedisPort = 6379;
constexpr int kPgPort = 5432;
constexpr const char* kPgPassword = "bh-Pg-s3cret";
// The deadline of the library-level runs, and how late past it a run may
// return on a loaded 2-core machine.
constexpr milliseconds kTimeout{300};
constexpr milliseconds kLateness{250};
// A generous budget for runs that must pass.
constexpr milliseconds kBudget{3000};

std::unique_ptr<Check> MakeCheck(const std::string& kind, const json& j) {
  return testing::BuildCheck(kind, j).check;
}

// Time a thread spent on a CPU and waiting for one (ns), from its schedstat.
struct Sched {
  long long on_cpu = 0;
  long long waiting = 0;
};

bool ReadSched(const std::string& path, Sched* s) {
  std::ifstream in(path);
  return static_cast<bool>(in >> s->on_cpu >> s->waiting);
}

struct Timed {
  CheckResult result;
  milliseconds elapsed;
  Deadline deadline;
  Clock::time_point returned;
  // How long this thread waited for a CPU during the run: on a loaded
  // machine a run may return late for that reason alone.
  milliseconds cpu_wait;
};

Timed RunFor(Check& check, milliseconds budget) {
  Sched s0, s1;
  ReadSched("/proc/thread-self/schedstat", &s0);
  const auto start = Clock::now();
  const Deadline deadline = start + budget;
  CheckResult r = check.Run(deadline);
  const auto returned = Clock::now();
  ReadSched("/proc/thread-self/schedstat", &s1);
  return {r, std::chrono::duration_cast<milliseconds>(returned - start), deadline, returned,
          milliseconds((s1.waiting - s0.waiting) / 1000000)};
}

// A run that must end as a timeout at its deadline: not before, and not
// later than the deadline plus scheduling noise (and whatever time the
// thread spent waiting for a CPU).
void ExpectTimeoutAtDeadline(const Timed& t, const std::string& what) {
  EXPECT_EQ(t.result.outcome, Outcome::kFail) << what << ": " << t.result.reason;
  EXPECT_TRUE(t.result.timed_out) << what << ": " << t.result.reason;
  EXPECT_GE(t.returned, t.deadline)
      << what << ": returned early after " << t.elapsed.count() << " ms: " << t.result.reason;
  EXPECT_LE(t.returned, t.deadline + kLateness + t.cpu_wait)
      << what << ": returned " << t.elapsed.count() << " ms after the start, deadline was "
      << kTimeout.count() << " ms, " << t.cpu_wait.count() << " ms waiting for a CPU";
}

// Runs `check` until it passes, up to `ms` (the server may need a moment,
// e.g. ARP after the link came back). Bounded.
bool PassesWithin(Check& check, int ms, std::string* last_reason) {
  const auto end = Clock::now() + milliseconds(ms);
  do {
    CheckResult r = check.Run(Clock::now() + kBudget);
    if (r.outcome == Outcome::kPass) return true;
    *last_reason = r.reason;
    std::this_thread::sleep_for(milliseconds(100));
  } while (Clock::now() < end);
  return false;
}

class BlackholeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!NetNs::IsPermitted(&skip_reason_)) return;
    try {
      ns_ = new NetNs();
      redis_ = new RedisServer(Launcher(*ns_), kRedisPort);
      PgServerOptions pg;
      pg.password = kPgPassword;
      pg_ = new PgServer(Launcher(*ns_), kPgPort, pg);
    } catch (const std::exception& e) {
      setup_error_ = e.what();
      TearDownTestSuite();
    }
  }
  static void TearDownTestSuite() {
    delete pg_;
    pg_ = nullptr;
    delete redis_;
    redis_ = nullptr;
    delete ns_;
    ns_ = nullptr;
  }

  void SetUp() override {
    if (!setup_error_.empty()) FAIL() << "setting up the namespace: " << setup_error_;
    if (ns_ == nullptr) GTEST_SKIP() << "network namespaces not permitted: " << skip_reason_;
    ns_->UndropAll();
    ns_->LinkUpInside();
  }
  void TearDown() override {
    if (ns_ == nullptr) return;
    ns_->UndropAll();
    ns_->LinkUpInside();
  }

  static std::string RedisUrl() { return "redis://" + redis_->address(); }

  static std::string skip_reason_;
  static std::string setup_error_;
  static NetNs* ns_;
  static RedisServer* redis_;
  static PgServer* pg_;
};

std::string BlackholeTest::skip_reason_;
std::string BlackholeTest::setup_error_;
NetNs* BlackholeTest::ns_ = nullptr;
RedisServer* BlackholeTest::redis_ = nullptr;
PgServer* BlackholeTest::pg_ = nullptr;

// ---------------------------------------------------------------------------
// The checks library, directly.

TEST_F(BlackholeTest, RedisKeptConnectionTimesOutAtDeadline) {
  auto check = MakeCheck("redis", {{"url", RedisUrl()}});
  Timed up = RunFor(*check, kBudget);
  ASSERT_EQ(up.result.outcome, Outcome::kPass) << up.result.reason;

  ns_->DropTcpPort(kRedisPort);
  // The connection is established; the PING vanishes.
  Timed t = RunFor(*check, kTimeout);
  ExpectTimeoutAtDeadline(t, "kept-open redis");
  EXPECT_NE(t.result.reason.find("PONG"), std::string::npos) << t.result.reason;
  // The failed run dropped its connection: the next one connects afresh and
  // its SYN vanishes too.
  ExpectTimeoutAtDeadline(RunFor(*check, kTimeout), "redis reconnect");

  ns_->UndropTcpPort(kRedisPort);
  std::string why;
  EXPECT_TRUE(PassesWithin(*check, 5000, &why)) << why;
}

TEST_F(BlackholeTest, RedisFreshConnectTimesOutAtDeadline) {
  ns_->DropTcpPort(kRedisPort);
  auto check = MakeCheck("redis", {{"url", RedisUrl()}});
  Timed t = RunFor(*check, kTimeout);
  ExpectTimeoutAtDeadline(t, "fresh redis");
  EXPECT_NE(t.result.reason.find("connect"), std::string::npos) << t.result.reason;
  EXPECT_EQ(check->Target(), redis_->address());

  ns_->UndropTcpPort(kRedisPort);
  std::string why;
  EXPECT_TRUE(PassesWithin(*check, 5000, &why)) << why;
}

TEST_F(BlackholeTest, PostgresKeptConnectionTimesOutAtDeadline) {
  auto check = MakeCheck("postgres", {{"url", pg_->Url()}});
  Timed up = RunFor(*check, kBudget);
  ASSERT_EQ(up.result.outcome, Outcome::kPass) << up.result.reason;
  Timed again = RunFor(*check, kBudget);
  ASSERT_EQ(again.result.outcome, Outcome::kPass) << again.result.reason;

  ns_->DropTcpPort(kPgPort);
  Timed t = RunFor(*check, kTimeout);
  ExpectTimeoutAtDeadline(t, "kept-open postgres");
  EXPECT_NE(t.result.reason.find("query"), std::string::npos) << t.result.reason;
  EXPECT_EQ(t.result.reason.find(kPgPassword), std::string::npos);
  ExpectTimeoutAtDeadline(RunFor(*check, kTimeout), "postgres reconnect");

  ns_->UndropTcpPort(kPgPort);
  std::string why;
  EXPECT_TRUE(PassesWithin(*check, 5000, &why)) << why;
}

TEST_F(BlackholeTest, PostgresFreshConnectTimesOutAtDeadline) {
  ns_->DropTcpPort(kPgPort);
  auto check = MakeCheck("postgres", {{"url", pg_->Url()}});
  Timed t = RunFor(*check, kTimeout);
  ExpectTimeoutAtDeadline(t, "fresh postgres");
  EXPECT_NE(t.result.reason.find("connect"), std::string::npos) << t.result.reason;

  ns_->UndropTcpPort(kPgPort);
  std::string why;
  EXPECT_TRUE(PassesWithin(*check, 5000, &why)) << why;
}

TEST_F(BlackholeTest, TcpAndHttpFreshConnectTimeOutAtDeadline) {
  ns_->DropTcpPort(kRedisPort);
  auto tcp = MakeCheck("tcp", {{"address", redis_->address()}});
  ExpectTimeoutAtDeadline(RunFor(*tcp, kTimeout), "tcp");
  auto http = MakeCheck("http", {{"url", "http://" + redis_->address() + "/healthz"}});
  ExpectTimeoutAtDeadline(RunFor(*http, kTimeout), "http");

  ns_->UndropTcpPort(kRedisPort);
  Timed t = RunFor(*tcp, kBudget);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << t.result.reason;
}

// The namespace side of the veth down: a partition of everything inside.
// Packets for an established connection are dropped at the veth; a fresh
// connect waits for an ARP answer that never comes.
TEST_F(BlackholeTest, LinkDownInsideTimesOutEveryCheck) {
  auto redis = MakeCheck("redis", {{"url", RedisUrl()}});
  auto pg = MakeCheck("postgres", {{"url", pg_->Url()}});
  ASSERT_EQ(RunFor(*redis, kBudget).result.outcome, Outcome::kPass);
  ASSERT_EQ(RunFor(*pg, kBudget).result.outcome, Outcome::kPass);

  ns_->LinkDownInside();
  ExpectTimeoutAtDeadline(RunFor(*redis, kTimeout), "kept-open redis, link down");
  ExpectTimeoutAtDeadline(RunFor(*pg, kTimeout), "kept-open postgres, link down");
  auto fresh_redis = MakeCheck("redis", {{"url", RedisUrl()}});
  ExpectTimeoutAtDeadline(RunFor(*fresh_redis, kTimeout), "fresh redis, link down");
  auto fresh_pg = MakeCheck("postgres", {{"url", pg_->Url()}});
  ExpectTimeoutAtDeadline(RunFor(*fresh_pg, kTimeout), "fresh postgres, link down");

  ns_->LinkUpInside();
  std::string why;
  EXPECT_TRUE(PassesWithin(*redis, 8000, &why)) << why;
  EXPECT_TRUE(PassesWithin(*pg, 8000, &why)) << why;
}

// ---------------------------------------------------------------------------
// The vigil binary.

std::map<std::string, Sched> ThreadsSched(pid_t pid) {
  std::map<std::string, Sched> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      if (e->d_name[0] == '.') continue;
      Sched s;
      if (ReadSched(dir + "/" + e->d_name + "/schedstat", &s)) out[e->d_name] = s;
    }
    closedir(d);
  }
  return out;
}

// Hits the agent's endpoints on a new connection per request, as the kubelet
// does, until stopped; remembers the slowest answer and anything wrong with
// /livez. A probe's latency is counted less the time it spent waiting for a
// CPU (this thread's run delay, and that of the agent's threads that ran
// meanwhile, from /proc schedstat): on a shared 2-core machine that is the
// machine's doing, not the agent's. Time an agent thread spends blocked is
// never subtracted.
class Prober {
 public:
  Prober(int port, pid_t agent) : port_(port), agent_(agent), thread_([this] { Loop(); }) {}
  ~Prober() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int probes() const { return probes_.load(); }
  int slowest_ms() const { return slowest_us_.load() / 1000; }
  std::string slowest() const {
    std::lock_guard<std::mutex> lock(mu_);
    return slowest_what_;
  }
  std::vector<std::string> livez_failures() const {
    std::lock_guard<std::mutex> lock(mu_);
    return livez_failures_;
  }

 private:
  void Loop() {
    const char* paths[] = {"/livez",          "/readyz",   "/health",
                           "/readyz?verbose", "/startupz", "/metrics"};
    // Bounded: at most ten minutes, whatever happens to the test.
    const auto end = Clock::now() + std::chrono::minutes(10);
    for (size_t i = 0; !stop_ && Clock::now() < end; ++i) {
      const std::string path = paths[i % (sizeof paths / sizeof *paths)];
      Sched own0, own1;
      ReadSched("/proc/thread-self/schedstat", &own0);
      const auto agent0 = ThreadsSched(agent_);
      HttpReply r = testing::HttpCall(port_, "GET", path, {{"User-Agent", "kube-probe/1.29"}});
      const auto agent1 = ThreadsSched(agent_);
      ReadSched("/proc/thread-self/schedstat", &own1);
      long long waited_ns = own1.waiting - own0.waiting;
      for (const auto& [tid, s1] : agent1) {
        auto it = agent0.find(tid);
        if (it != agent0.end() && s1.on_cpu > it->second.on_cpu)
          waited_ns += s1.waiting - it->second.waiting;
      }
      ++probes_;
      const long long raw_us = r.took.count();
      const int us = static_cast<int>(std::max(0LL, raw_us - waited_ns / 1000));
      if (us > slowest_us_) {
        std::lock_guard<std::mutex> lock(mu_);
        slowest_us_ = us;
        slowest_what_ = path + ": " + std::to_string(us / 1000) + " ms (" +
                        std::to_string(raw_us / 1000) + " ms raw, " +
                        std::to_string(waited_ns / 1000000) + " ms waiting for a CPU)";
      }
      if (path == "/livez" && r.status != 200) {
        std::lock_guard<std::mutex> lock(mu_);
        livez_failures_.push_back(std::to_string(r.status) + " " + r.body);
      }
      std::this_thread::sleep_for(milliseconds(10));
    }
  }

  const int port_;
  const pid_t agent_;
  std::atomic<bool> stop_{false};
  std::atomic<int> probes_{0};
  std::atomic<int> slowest_us_{0};
  mutable std::mutex mu_;
  std::string slowest_what_;
  std::vector<std::string> livez_failures_;
  std::thread thread_;
};

constexpr int kIntervalMs = 200;
constexpr int kTimeoutMs = 300;
constexpr int kUnhealthyThreshold = 2;
constexpr int kJitterPercent = 10;
// Detection: interval x threshold + timeout + jitter, plus a margin
// for a loaded machine.
constexpr int kDetectMs = kIntervalMs * kUnhealthyThreshold + kTimeoutMs +
                          kIntervalMs * kJitterPercent / 100 * kUnhealthyThreshold + 1500;
// Recovery: the breaker may be open (recovery 500 ms, then 2 passes).
constexpr int kRecoverMs = 8000;
constexpr int kProbeBoundMs = 250;

class BlackholeAgentTest : public BlackholeTest {
 protected:
  void SetUp() override {
    BlackholeTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    app_ = std::make_unique<testing::TcpListener>();
    dir_ = testing::MakeTempDir("vigil-bh");
    const std::string config = dir_ + "/config.json";
    json cfg = {
        {"drain_seconds", 1},
        {"defaults",
         {{"interval_ms", kIntervalMs},
          {"timeout_ms", kTimeoutMs},
          {"unhealthy_threshold", kUnhealthyThreshold},
          {"jitter_percent", kJitterPercent},
          {"breaker",
           {{"failure_threshold", 5}, {"recovery_timeout_ms", 500}, {"success_threshold", 2}}}}},
        {"checks",
         {{{"name", "redis-session"}, {"kind", "redis"}, {"role", "session"}, {"url", RedisUrl()}},
          {{"name", "db"},
           {"kind", "postgres"},
           {"role", "database"},
           {"url", "postgresql://postgres:${PGPW}@" + ns_->address() + ":" +
                       std::to_string(kPgPort) + "/postgres"}},
          {{"name", "app"},
           {"kind", "tcp"},
           {"role", "app"},
           {"liveness", true},
           {"address", "127.0.0.1:" + std::to_string(app_->port())}}}}};
    std::ofstream(config) << cfg.dump(2);
    agent_ =
        std::make_unique<AgentProcess>(config, std::vector<std::string>{},
                                       std::map<std::string, std::string>{{"PGPW", kPgPassword}});
    ASSERT_TRUE(agent_->WaitFor("/readyz", 200, "", 15000))
        << agent_->Get("/readyz?verbose").body << agent_->Stdout();
    prober_ = std::make_unique<Prober>(agent_->port(), agent_->pid());
  }
  void TearDown() override {
    if (prober_) {
      prober_->Stop();
      EXPECT_GT(prober_->probes(), 20);
      EXPECT_LT(prober_->slowest_ms(), kProbeBoundMs)
          << "slowest probe: " << prober_->slowest() << " of " << prober_->probes();
      for (const auto& f : prober_->livez_failures()) ADD_FAILURE() << "/livez answered " << f;
    }
    if (agent_) {
      EXPECT_EQ(agent_->Stdout().find(kPgPassword), std::string::npos);
      agent_->Signal(SIGTERM);
      EXPECT_EQ(agent_->WaitExit(10000), std::optional<int>(0));
    }
    prober_.reset();
    agent_.reset();
    app_.reset();
    if (!dir_.empty()) testing::RemoveTree(dir_);
    BlackholeTest::TearDown();
  }

  // Polls /readyz until it answers `status`; the time it took, or -1.
  int MsUntilReadyz(int status, int bound_ms) {
    const auto start = Clock::now();
    const auto end = start + milliseconds(bound_ms);
    while (Clock::now() < end) {
      if (agent_->Get("/readyz").status == status) {
        return static_cast<int>(
            std::chrono::duration_cast<milliseconds>(Clock::now() - start).count());
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return -1;
  }

  json CheckStatus(const std::string& name) {
    HttpReply r = agent_->Get("/health/" + name);
    return json::parse(r.body, nullptr, false);
  }

  // Polls until every check in `names` fails (a timeout), up to `bound_ms`
  // from `since`; the time it took, or -1.
  int MsUntilFailing(const std::vector<std::string>& names, Clock::time_point since, int bound_ms) {
    const auto end = since + milliseconds(bound_ms);
    while (Clock::now() < end) {
      bool all = true;
      for (const auto& n : names) all = all && CheckStatus(n).value("status", "") == "fail";
      if (all) {
        return static_cast<int>(
            std::chrono::duration_cast<milliseconds>(Clock::now() - since).count());
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
    return -1;
  }

  // After a fault injected at `since`: the agent goes unready within the
  // detection bound with every check of `names` failing as a timeout, stays
  // so while the fault lasts, /livez 200 all along; then `undo`, and it is
  // ready again with those checks passing.
  void ExpectUnreadyThenRecovers(Clock::time_point since, const std::vector<std::string>& names,
                                 const std::function<void()>& undo) {
    const int took = MsUntilReadyz(503, kDetectMs + 2000);
    ASSERT_GE(took, 0) << "/readyz never went 503; " << agent_->Get("/readyz?verbose").body;
    const int failing = MsUntilFailing(names, since, kDetectMs + 2000);
    ASSERT_GE(failing, 0) << "not all failing: " << agent_->Get("/readyz?verbose").body;
    EXPECT_LE(failing, kDetectMs) << "detection took " << failing << " ms";
    HttpReply verbose = agent_->Get("/readyz?verbose");
    for (const auto& name : names) {
      json c = CheckStatus(name);
      EXPECT_EQ(c.value("status", ""), "fail") << c.dump();
      EXPECT_NE(c.value("reason", "").find("timeout after " + std::to_string(kTimeoutMs) + " ms"),
                std::string::npos)
          << c.dump();
      EXPECT_NE(verbose.body.find("[-]" + name + " failed: timeout after"), std::string::npos)
          << verbose.body;
    }
    EXPECT_EQ(agent_->Get("/livez").status, 200);
    HttpReply health = agent_->Get("/health");
    EXPECT_EQ(health.status, 503);
    EXPECT_NE(health.body.find("\"status\":\"error\""), std::string::npos) << health.body;

    // Held for a while: still unready, still alive (the breaker opens and
    // half-opens meanwhile).
    const auto hold_end = Clock::now() + milliseconds(1500);
    while (Clock::now() < hold_end) {
      EXPECT_EQ(agent_->Get("/readyz").status, 503);
      EXPECT_EQ(agent_->Get("/livez").status, 200);
      std::this_thread::sleep_for(milliseconds(100));
    }

    undo();
    const int back = MsUntilReadyz(200, kRecoverMs);
    EXPECT_GE(back, 0) << "/readyz not 200 again within " << kRecoverMs
                       << " ms: " << agent_->Get("/readyz?verbose").body;
    for (const auto& name : names) EXPECT_EQ(CheckStatus(name).value("status", ""), "pass");
  }

  std::unique_ptr<testing::TcpListener> app_;
  std::unique_ptr<AgentProcess> agent_;
  std::unique_ptr<Prober> prober_;
  std::string dir_;
};

TEST_F(BlackholeAgentTest, RedisBlackHoleMakesUnreadyProbesStayFast) {
  const auto since = Clock::now();
  ns_->DropTcpPort(kRedisPort);
  ExpectUnreadyThenRecovers(since, {"redis-session"}, [] { ns_->UndropTcpPort(kRedisPort); });
}

TEST_F(BlackholeAgentTest, PostgresBlackHoleMakesUnreadyProbesStayFast) {
  const auto since = Clock::now();
  ns_->DropTcpPort(kPgPort);
  ExpectUnreadyThenRecovers(since, {"db"}, [] { ns_->UndropTcpPort(kPgPort); });
}

TEST_F(BlackholeAgentTest, PartitionMakesUnreadyProbesStayFast) {
  const auto since = Clock::now();
  ns_->LinkDownInside();
  ExpectUnreadyThenRecovers(since, {"redis-session", "db"}, [] { ns_->LinkUpInside(); });
  EXPECT_EQ(CheckStatus("app").value("status", ""), "pass");
}

// The agent started while the dependencies already black-hole: it never gets
// ready, answers fast, and becomes ready once the traffic flows.
TEST_F(BlackholeTest, AgentStartedIntoABlackHoleStaysUnreadyUntilItClears) {
  testing::TcpListener app;
  const std::string dir = testing::MakeTempDir("vigil-bh");
  const std::string config = dir + "/config.json";
  json cfg = {
      {"defaults",
       {{"interval_ms", kIntervalMs},
        {"timeout_ms", kTimeoutMs},
        {"breaker", {{"recovery_timeout_ms", 500}}}}},
      {"checks",
       {{{"name", "redis-session"}, {"kind", "redis"}, {"role", "session"}, {"url", RedisUrl()}},
        {{"name", "db"}, {"kind", "postgres"}, {"role", "database"}, {"url", pg_->Url()}}}}};
  std::ofstream(config) << cfg.dump(2);
  ns_->DropTcpPort(kRedisPort);
  ns_->DropTcpPort(kPgPort);
  {
    AgentProcess agent(config);
    EXPECT_TRUE(agent.WaitFor("/readyz?verbose", 503, "timeout after 300 ms", kDetectMs + 2000))
        << agent.Get("/readyz?verbose").body;
    Prober prober(agent.port(), agent.pid());
    for (int i = 0; i < 20; ++i) {
      EXPECT_EQ(agent.Get("/livez").status, 200);
      EXPECT_EQ(agent.Get("/readyz").status, 503);
      EXPECT_EQ(agent.Get("/startupz").status, 503);
      std::this_thread::sleep_for(milliseconds(50));
    }
    prober.Stop();
    EXPECT_GT(prober.probes(), 10);
    EXPECT_LT(prober.slowest_ms(), kProbeBoundMs) << "slowest probe: " << prober.slowest();
    for (const auto& f : prober.livez_failures()) ADD_FAILURE() << "/livez answered " << f;
    ns_->UndropAll();
    EXPECT_TRUE(agent.WaitFor("/readyz", 200, "", kRecoverMs)) << agent.Get("/readyz?verbose").body;
    EXPECT_EQ(agent.Get("/startupz").status, 200);
    EXPECT_EQ(agent.Stdout().find(kPgPassword), std::string::npos);
  }
  testing::RemoveTree(dir);
}

}  // namespace
}  // namespace vigil
