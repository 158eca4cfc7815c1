// The vigil binary end to end on real servers: a cache Redis, a session Redis,
// PostgreSQL and a TCP app. The /health status table, the defining rule (cache down:
// degraded but ready), a hung required dependency (unready, probes still
// fast), the SIGTERM drain, and the command line.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/agent_process.h"
#include "tests/support/pg_server.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"
#include "tests/support/tcp_listener.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kSessionPassword = "s3ssion-Secret!pw";

class AgentE2E : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pg_ = new PgServer();
    cache_ = new RedisServer();
    session_ = new RedisServer({"--requirepass", kSessionPassword});
    app_ = new TcpListener();
  }
  static void TearDownTestSuite() {
    delete app_;
    delete session_;
    delete cache_;
    delete pg_;
  }
  void SetUp() override {
    if (!cache_->running()) cache_->Start();
    session_->Resume();
    dir_ = MakeTempDir("vigil-e2e");
    config_ = dir_ + "/config.json";
    json cfg = {{"drain_seconds", 1},
                {"defaults",
                 {{"interval_ms", 200},
                  {"timeout_ms", 200},
                  {"unhealthy_threshold", 2},
                  {"jitter_percent", 10},
                  // Short recovery: a slow Redis restart must not leave the
                  // breaker open past the test's bounded waits.
                  {"breaker", {{"recovery_timeout_ms", 500}}}}},
                {"checks",
                 {{{"name", "redis-cache"},
                   {"kind", "redis"},
                   {"role", "cache"},
                   {"url", "redis://127.0.0.1:" + std::to_string(cache_->port()) + "/0"}},
                  {{"name", "redis-session"},
                   {"kind", "redis"},
                   {"role", "session"},
                   {"url", "redis://:${SESSION_PW}@127.0.0.1:" + std::to_string(session_->port())}},
                  {{"name", "db"}, {"kind", "postgres"}, {"role", "database"}, {"url", pg_->Url()}},
                  {{"name", "app"},
                   {"kind", "tcp"},
                   {"role", "app"},
                   {"liveness", true},
                   {"address", "127.0.0.1:" + std::to_string(app_->port())}}}}};
    std::ofstream(config_) << cfg.dump(2);
  }
  void TearDown() override {
    session_->Resume();
    RemoveTree(dir_);
  }
  std::map<std::string, std::string> Env() { return {{"SESSION_PW", kSessionPassword}}; }

  static PgServer* pg_;
  static RedisServer* cache_;
  static RedisServer* session_;
  static TcpListener* app_;
  std::string dir_, config_;
};

PgServer* AgentE2E::pg_ = nullptr;
RedisServer* AgentE2E::cache_ = nullptr;
RedisServer* AgentE2E::session_ = nullptr;
TcpListener* AgentE2E::app_ = nullptr;

TEST_F(AgentE2E, AllUpIsOkThenCacheDownIsDegradedButReady) {
  AgentProcess agent(config_, {}, Env());
  ASSERT_TRUE(agent.WaitFor("/health", 200, "\"status\":\"ok\"", 10000))
      << agent.Get("/health").body << agent.Stdout();
  EXPECT_EQ(agent.Get("/readyz").status, 200);
  EXPECT_EQ(agent.Get("/startupz").status, 200);
  json h = json::parse(agent.Get("/health").body);
  for (const char* name : {"redis-cache", "redis-session", "db", "app"})
    EXPECT_EQ(h["checks"][name]["status"], "pass") << name;
  EXPECT_EQ(h["checks"]["redis-session"]["target"],
            "127.0.0.1:" + std::to_string(session_->port()));

  cache_->Stop();
  ASSERT_TRUE(agent.WaitFor("/health", 200, "\"status\":\"degraded\"", 5000))
      << agent.Get("/health").body;
  EXPECT_EQ(agent.Get("/readyz").status, 200);  // the defining rule
  EXPECT_EQ(agent.Get("/livez").status, 200);
  h = json::parse(agent.Get("/health").body);
  EXPECT_EQ(h["checks"]["redis-cache"]["status"], "fail");
  EXPECT_NE(h["checks"]["redis-cache"]["last_error"].get<std::string>().find("refused"),
            std::string::npos);
  HttpReply verbose = agent.Get("/readyz?verbose");
  EXPECT_NE(verbose.body.find("[~]redis-cache degraded, not required"), std::string::npos)
      << verbose.body;
  HttpReply metrics = agent.Get("/metrics");
  EXPECT_NE(metrics.body.find("vigil_health_status{status=\"degraded\"} 1"), std::string::npos);
  EXPECT_NE(metrics.body.find("vigil_ready 1"), std::string::npos);

  cache_->Start();
  ASSERT_TRUE(agent.WaitFor("/health", 200, "\"status\":\"ok\"", 5000));
}

TEST_F(AgentE2E, HungSessionRedisMakesThePodUnreadyWhileProbesStayFast) {
  AgentProcess agent(config_, {}, Env());
  ASSERT_TRUE(agent.WaitFor("/readyz", 200, "ok", 10000)) << agent.Get("/readyz?verbose").body;
  session_->Pause();
  const auto t0 = std::chrono::steady_clock::now();
  std::chrono::microseconds slowest{0};
  bool unready = false;
  // Bounded: 400 probes at most, or 6 s.
  for (int i = 0; i < 400 && std::chrono::steady_clock::now() - t0 < 6s; ++i) {
    HttpReply r = agent.Get("/readyz");
    HttpReply l = agent.Get("/livez");
    slowest = std::max({slowest, r.took, l.took});
    EXPECT_EQ(l.status, 200);
    if (r.status == 503) {
      unready = true;
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  ASSERT_TRUE(unready) << agent.Get("/readyz?verbose").body;
  // Detection bound: interval x unhealthy_threshold + timeout + jitter (+ slack).
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 200ms * 2 + 200ms + 40ms + 1500ms);
  // A probe never waits on the hung dependency (generous for a loaded box).
  EXPECT_LT(slowest, 250ms);
  HttpReply verbose = agent.Get("/readyz?verbose");
  EXPECT_EQ(verbose.status, 503);
  EXPECT_NE(verbose.body.find("[-]redis-session failed: timeout after 200 ms"), std::string::npos)
      << verbose.body;
  HttpReply health = agent.Get("/health");
  EXPECT_EQ(health.status, 503);
  EXPECT_EQ(json::parse(health.body)["status"], "error");
  session_->Resume();
  ASSERT_TRUE(agent.WaitFor("/readyz", 200, "ok", 10000));
}

TEST_F(AgentE2E, SigtermDrainsThenExitsZero) {
  AgentProcess agent(config_, {"--drain-seconds", "1"}, Env());
  ASSERT_TRUE(agent.WaitFor("/readyz", 200, "ok", 10000));
  const auto t0 = std::chrono::steady_clock::now();
  agent.Signal(SIGTERM);
  ASSERT_TRUE(agent.WaitFor("/readyz", 503, "", 500));
  EXPECT_EQ(agent.Get("/livez").status, 200);
  json h = json::parse(agent.Get("/health").body);
  EXPECT_EQ(h["draining"], true);
  std::optional<int> code = agent.WaitExit(5000);
  ASSERT_TRUE(code.has_value());
  EXPECT_EQ(*code, 0);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 900ms);
  EXPECT_NE(agent.Stdout().find("\"event\":\"draining\""), std::string::npos);
}

TEST_F(AgentE2E, SecretsNeverLeak) {
  AgentProcess agent(config_, {}, Env());
  ASSERT_TRUE(agent.WaitFor("/readyz", 200, "ok", 10000));
  session_->Stop();  // failures produce reasons and log lines
  ASSERT_TRUE(agent.WaitFor("/readyz", 503, "", 5000));
  std::string everything = agent.Get("/health").body + agent.Get("/metrics").body +
                           agent.Get("/readyz?verbose").body +
                           agent.Get("/health", {{"Accept", "application/health+json"}}).body +
                           agent.Get("/health/redis-session").body;
  agent.Signal(SIGTERM);
  agent.WaitExit(5000);
  everything += agent.Stdout() + agent.Stderr();
  EXPECT_EQ(everything.find(kSessionPassword), std::string::npos);
  session_->Start();
}

TEST_F(AgentE2E, CheckCommandPrintsATableAndExitsByReadiness) {
  CommandResult ok = RunVigil({"check", "--config", config_}, Env());
  EXPECT_EQ(ok.exit_code, 0) << ok.out << ok.err;
  EXPECT_NE(ok.out.find("redis-session"), std::string::npos);
  EXPECT_EQ(ok.out.find(kSessionPassword), std::string::npos);
  session_->Pause();
  CommandResult bad = RunVigil({"check", "--config", config_}, Env());
  session_->Resume();
  EXPECT_EQ(bad.exit_code, 1) << bad.out;
  EXPECT_NE(bad.out.find("timeout after 200 ms"), std::string::npos) << bad.out;
}

TEST_F(AgentE2E, ProbeCommandExitCodes) {
  AgentProcess agent(config_, {}, Env());
  ASSERT_TRUE(agent.WaitFor("/readyz", 200, "ok", 10000));
  const std::string base = "http://127.0.0.1:" + std::to_string(agent.port());
  EXPECT_EQ(RunVigil({"probe", base + "/livez"}).exit_code, 0);
  EXPECT_EQ(RunVigil({"probe", base + "/nope"}).exit_code, 1);
  EXPECT_EQ(RunVigil({"probe", "not-a-url"}).exit_code, 2);
  CommandResult refused =
      RunVigil({"probe", "http://127.0.0.1:" + std::to_string(FreePort()) + "/"});
  EXPECT_EQ(refused.exit_code, 3);
  EXPECT_NE(refused.err.find("cannot connect"), std::string::npos) << refused.err;
}

TEST(Cli, VersionHelpAndBadConfig) {
  CommandResult v = RunVigil({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("vigil "), std::string::npos);
  EXPECT_EQ(RunVigil({"--help"}).exit_code, 0);
  std::string dir = MakeTempDir("vigil-cli");
  std::ofstream(dir + "/bad.json")
      << R"({"checks":[{"name":"a","kind":"tcp","address":"h:1"},{"name":"b","kind":"redis","url":"htp://x"}]})";
  for (const char* cmd : {"validate", "run", "check"}) {
    CommandResult r = RunVigil({cmd, "--config", dir + "/bad.json"});
    EXPECT_EQ(r.exit_code, 2) << cmd;
    EXPECT_NE(r.err.find("checks[1].url: unsupported scheme \"htp\""), std::string::npos) << r.err;
  }
  CommandResult missing = RunVigil({"validate", "--config", dir + "/nope.json"});
  EXPECT_EQ(missing.exit_code, 2);
  std::ofstream(dir + "/env.json")
      << R"({"checks":[{"name":"s","kind":"redis","url":"redis://:${NOT_SET_ANYWHERE}@h:1"}]})";
  CommandResult unresolved = RunVigil({"validate", "--config", dir + "/env.json"});
  EXPECT_EQ(unresolved.exit_code, 2);
  EXPECT_NE(unresolved.err.find("checks[0].url: unresolved variable ${NOT_SET_ANYWHERE}"),
            std::string::npos);
  // Flags and VIGIL_* variables are checked too.
  std::ofstream(dir + "/ok.json") << R"({"checks":[]})";
  EXPECT_EQ(RunVigil({"validate", "--config", dir + "/ok.json"}).exit_code, 0);
  EXPECT_EQ(RunVigil({"validate"}, {{"VIGIL_CONFIG", dir + "/ok.json"}}).exit_code, 0);
  EXPECT_EQ(RunVigil({"validate", "--config", dir + "/ok.json", "--listen", "bad"}).exit_code, 2);
  EXPECT_EQ(
      RunVigil({"validate", "--config", dir + "/ok.json"}, {{"VIGIL_LISTEN", "bad"}}).exit_code, 2);
  EXPECT_EQ(RunVigil({"bogus-subcommand"}).exit_code, 2);
  RemoveTree(dir);
}

}  // namespace
}  // namespace vigil::testing
