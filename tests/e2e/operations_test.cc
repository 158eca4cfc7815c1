// Operations end to end: the breaker against a real Redis,
// reload through a ConfigMap-style symlink swap, admin reset, metrics through
// promtool, the status page.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/agent_process.h"
#include "tests/support/eventually.h"
#include "tests/support/pg_server.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"
#include "tests/support/tcp_listener.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

json RedisCheck(const std::string& name, const std::string& role, int port) {
  return {{"name", name},
          {"kind", "redis"},
          {"role", role},
          {"url", "redis://127.0.0.1:" + std::to_string(port)}};
}

json TcpCheck(const std::string& name, int port) {
  return {{"name", name}, {"kind", "tcp"}, {"address", "127.0.0.1:" + std::to_string(port)}};
}

json HealthOf(AgentProcess& a) { return json::parse(a.Get("/health").body); }

// The value of one series ("name{labels}" or "name") in a scrape; -1 if absent.
double SampleOf(const std::string& metrics, const std::string& series) {
  const size_t at = metrics.find("\n" + series + " ");
  if (at == std::string::npos) return -1;
  return std::strtod(metrics.c_str() + at + series.size() + 2, nullptr);
}

// A directory laid out the way the kubelet projects a ConfigMap:
// config.json -> ..data/config.json, ..data -> ..v1; an update writes ..v2
// and swaps the ..data link atomically.
class ConfigMapDir {
 public:
  ConfigMapDir() : dir_(MakeTempDir("vigil-cm")) {}
  ~ConfigMapDir() { RemoveTree(dir_); }
  std::string path() const { return dir_ + "/config.json"; }
  void Write(const std::string& text) {
    const std::string version = "..v" + std::to_string(++n_);
    mkdir((dir_ + "/" + version).c_str(), 0755);
    std::ofstream(dir_ + "/" + version + "/config.json") << text;
    const std::string tmp = dir_ + "/..data_tmp";
    unlink(tmp.c_str());
    EXPECT_EQ(symlink(version.c_str(), tmp.c_str()), 0);
    EXPECT_EQ(rename(tmp.c_str(), (dir_ + "/..data").c_str()), 0);
    if (n_ == 1) {
      EXPECT_EQ(symlink("..data/config.json", path().c_str()), 0);
    }
  }

 private:
  std::string dir_;
  int n_ = 0;
};

TEST(Operations, BreakerOpensLeavesRedisAloneThenClosesAfterTwoPasses) {
  RedisServer redis;
  ConfigMapDir cm;
  json cfg = {
      {"defaults",
       {{"interval_ms", 100},
        {"timeout_ms", 200},
        {"jitter_percent", 0},
        {"breaker",
         {{"failure_threshold", 5}, {"recovery_timeout_ms", 3000}, {"success_threshold", 2}}}}},
      {"checks", {RedisCheck("redis-cache", "cache", redis.port())}}};
  cm.Write(cfg.dump());
  AgentProcess agent(cm.path());
  ASSERT_TRUE(agent.WaitFor("/health", 200, "\"status\":\"ok\"", 5000));
  redis.Stop();
  ASSERT_TRUE(Eventually(
      [&] { return HealthOf(agent)["checks"]["redis-cache"]["circuit"] == "open"; }, 5000ms));
  EXPECT_GE(HealthOf(agent)["checks"]["redis-cache"]["consecutive_failures"].get<int>(), 5);
  EXPECT_NE(agent.Get("/metrics").body.find("vigil_circuit_breaker_state{check=\"redis-cache\"} 2"),
            std::string::npos);
  // While open the dependency is not touched: a restarted Redis sees no
  // connection from vigil until the recovery timeout.
  redis.Start();
  const std::string before = redis.InfoField("total_connections_received");
  std::this_thread::sleep_for(1000ms);
  ASSERT_EQ(HealthOf(agent)["checks"]["redis-cache"]["circuit"], "open");
  EXPECT_EQ(redis.InfoField("total_connections_received"), before);
  // After it: half-open, trial runs, closed after two passes.
  ASSERT_TRUE(Eventually(
      [&] { return HealthOf(agent)["checks"]["redis-cache"]["circuit"] == "closed"; }, 6000ms));
  EXPECT_EQ(HealthOf(agent)["checks"]["redis-cache"]["status"], "pass");
  const std::string log = agent.Stdout();
  EXPECT_NE(log.find("\"event\":\"circuit_opened\""), std::string::npos);
  EXPECT_NE(log.find("\"event\":\"circuit_half_open\""), std::string::npos);
  EXPECT_NE(log.find("\"event\":\"circuit_closed\""), std::string::npos);
  const std::string metrics = agent.Get("/metrics").body;
  EXPECT_NE(
      metrics.find("vigil_circuit_breaker_transitions_total{check=\"redis-cache\",to=\"open\"} 1"),
      std::string::npos)
      << metrics;
}

TEST(Operations, ReloadThroughASymlinkSwapKeepsUnchangedChecks) {
  RedisServer redis;
  TcpListener app;
  TcpListener app2;
  ConfigMapDir cm;
  json v1 = {{"defaults", {{"interval_ms", 200}, {"timeout_ms", 200}}},
             {"checks",
              {RedisCheck("redis-cache", "cache", redis.port()), TcpCheck("app", app.port()),
               TcpCheck("old", app.port())}}};
  cm.Write(v1.dump());
  AgentProcess agent(cm.path());
  ASSERT_TRUE(agent.WaitFor("/health", 200, "\"status\":\"ok\"", 5000));
  const std::string since = HealthOf(agent)["checks"]["redis-cache"]["since"];
  // Before any reload: successful, at start.
  std::string m = agent.Get("/metrics").body;
  EXPECT_EQ(SampleOf(m, "vigil_config_last_reload_successful"), 1) << m;
  const double loaded_at = SampleOf(m, "vigil_config_last_reload_success_timestamp_seconds");
  EXPECT_GT(loaded_at, 1.7e9);
  std::this_thread::sleep_for(300ms);
  const std::string conns = redis.InfoField("total_connections_received");

  // Change "app", remove "old", add "new"; "redis-cache" unchanged.
  json v2 = {{"defaults", {{"interval_ms", 200}, {"timeout_ms", 200}}},
             {"checks",
              {RedisCheck("redis-cache", "cache", redis.port()), TcpCheck("app", app2.port()),
               TcpCheck("new", app.port())}}};
  cm.Write(v2.dump());
  ASSERT_TRUE(Eventually([&] { return HealthOf(agent)["checks"].contains("new"); }, 5000ms));
  json h = HealthOf(agent);
  EXPECT_FALSE(h["checks"].contains("old"));
  EXPECT_EQ(h["checks"]["app"]["target"], "127.0.0.1:" + std::to_string(app2.port()));
  EXPECT_EQ(h["checks"]["redis-cache"]["since"], since);            // results kept
  EXPECT_EQ(redis.InfoField("total_connections_received"), conns);  // connection kept
  EXPECT_EQ(agent.Get("/health/old").status, 404);
  EXPECT_EQ(agent.Get("/metrics").body.find("check=\"old\""), std::string::npos);
  EXPECT_NE(agent.Stdout().find("\"event\":\"config_reloaded\""), std::string::npos);
  m = agent.Get("/metrics").body;
  EXPECT_EQ(SampleOf(m, "vigil_config_last_reload_successful"), 1);
  const double reloaded_at = SampleOf(m, "vigil_config_last_reload_success_timestamp_seconds");
  EXPECT_GT(reloaded_at, loaded_at);

  // An invalid file is refused, logged with its field, counted; the old
  // config keeps running.
  cm.Write(R"({"checks":[{"name":"x","kind":"redis","url":"htp://nope"}]})");
  ASSERT_TRUE(Eventually(
      [&] {
        return agent.Get("/metrics").body.find("vigil_config_reload_failures_total 1") !=
               std::string::npos;
      },
      5000ms));
  EXPECT_TRUE(HealthOf(agent)["checks"].contains("new"));
  EXPECT_EQ(agent.Get("/readyz").status, 200);
  const std::string log = agent.Stdout();
  EXPECT_NE(log.find("\"event\":\"config_rejected\""), std::string::npos);
  EXPECT_NE(log.find("\"field\":\"checks[0].url\""), std::string::npos) << log;
  m = agent.Get("/metrics").body;
  EXPECT_EQ(SampleOf(m, "vigil_config_last_reload_successful"), 0);
  EXPECT_EQ(SampleOf(m, "vigil_config_last_reload_success_timestamp_seconds"), reloaded_at);

  // SIGHUP reloads too.
  json v3 = {{"checks", {TcpCheck("only", app.port())}}};
  cm.Write(v3.dump());
  agent.Signal(SIGHUP);
  ASSERT_TRUE(Eventually([&] { return HealthOf(agent)["checks"].size() == 1; }, 5000ms));
  EXPECT_EQ(SampleOf(agent.Get("/metrics").body, "vigil_config_last_reload_successful"), 1);
}

TEST(Operations, AdminResetNeedsTheToken) {
  TcpListener app;
  ConfigMapDir cm;
  std::string dir = MakeTempDir("vigil-admin");
  const int dead = FreePort();
  json cfg = {{"admin_token_file", dir + "/token"},
              {"defaults",
               {{"interval_ms", 100},
                {"breaker", {{"failure_threshold", 2}, {"recovery_timeout_ms", 600000}}}}},
              {"checks", {TcpCheck("dep", dead)}}};
  cm.Write(cfg.dump());
  {
    // No token configured (the file does not exist): admin routes are off.
    AgentProcess agent(cm.path());
    EXPECT_EQ(HttpCall(agent.port(), "POST", "/admin/circuit-breaker/dep/reset",
                       {{"Authorization", "Bearer x"}})
                  .status,
              404);
  }
  std::ofstream(dir + "/token") << "t0ken-from-file-0123\n";
  AgentProcess agent(cm.path());
  ASSERT_TRUE(
      Eventually([&] { return HealthOf(agent)["checks"]["dep"]["circuit"] == "open"; }, 5000ms));
  EXPECT_EQ(HttpCall(agent.port(), "POST", "/admin/circuit-breaker/dep/reset").status, 401);
  EXPECT_EQ(HttpCall(agent.port(), "POST", "/admin/circuit-breaker/dep/reset",
                     {{"Authorization", "Bearer wrong"}})
                .status,
            401);
  HttpReply ok = HttpCall(agent.port(), "POST", "/admin/circuit-breaker/dep/reset",
                          {{"Authorization", "Bearer t0ken-from-file-0123"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  // Closed, and the check ran again at once (still failing, so it will
  // count towards a new opening).
  json dep = HealthOf(agent)["checks"]["dep"];
  EXPECT_NE(dep["circuit"], "open");
  EXPECT_EQ(HttpCall(agent.port(), "POST", "/admin/circuit-breaker/nope/reset",
                     {{"Authorization", "Bearer t0ken-from-file-0123"}})
                .status,
            404);
  RemoveTree(dir);
  // The environment variable works as well.
  AgentProcess env_agent(cm.path(), {}, {{"VIGIL_ADMIN_TOKEN", "env-t0ken-0123456789"}});
  EXPECT_EQ(HttpCall(env_agent.port(), "POST", "/admin/circuit-breaker/dep/reset",
                     {{"Authorization", "Bearer env-t0ken-0123456789"}})
                .status,
            200);
}

TEST(Operations, MetricsPassPromtool) {
  RedisServer redis({"--maxmemory", "64mb"});
  TcpListener app;
  PgServer pg;
  ConfigMapDir cm;
  json cfg = {
      {"defaults", {{"interval_ms", 100}}},
      {"checks",
       {RedisCheck("redis-cache", "cache", redis.port()),
        TcpCheck("app", app.port()),
        {{"name", "db"}, {"kind", "postgres"}, {"url", pg.Url()}, {"require_primary", true}},
        {{"name", "down"},
         {"kind", "tcp"},
         {"role", "flags"},
         {"address", "127.0.0.1:" + std::to_string(FreePort())}}}}};
  cm.Write(cfg.dump());
  AgentProcess agent(cm.path());
  ASSERT_TRUE(agent.WaitFor("/health", 200, "\"status\":\"degraded\"", 10000))
      << agent.Get("/health").body;
  std::this_thread::sleep_for(300ms);
  const std::string metrics = agent.Get("/metrics").body;
  // Every family operators expect is in what promtool reads.
  EXPECT_GT(SampleOf(metrics, "vigil_check_failures_total{check=\"down\",reason=\"refused\"}"), 0)
      << metrics;
  EXPECT_EQ(SampleOf(metrics, "vigil_check_failures_total{check=\"down\",reason=\"timeout\"}"), 0);
  EXPECT_EQ(SampleOf(metrics,
                     "vigil_check_info{check=\"app\",kind=\"tcp\",role=\"app\","
                     "required=\"true\",target=\"127.0.0.1:" +
                         std::to_string(app.port()) + "\"}"),
            1);
  EXPECT_GT(SampleOf(metrics, "vigil_redis_memory_ratio{check=\"redis-cache\"}"), 0);
  EXPECT_EQ(SampleOf(metrics, "vigil_redis_role{check=\"redis-cache\",role=\"master\"}"), 1);
  EXPECT_EQ(SampleOf(metrics, "vigil_redis_role{check=\"redis-cache\",role=\"replica\"}"), 0);
  EXPECT_EQ(SampleOf(metrics, "vigil_postgres_in_recovery{check=\"db\"}"), 0);
  EXPECT_EQ(SampleOf(metrics, "vigil_config_last_reload_successful"), 1);
  const std::string dir = MakeTempDir("vigil-prom");
  std::ofstream(dir + "/metrics.txt") << metrics;
  ASSERT_EQ(Shell("command -v promtool >/dev/null"), 0)
      << "promtool missing: scripts/test installs the prometheus package";
  const int rc =
      Shell("promtool check metrics < " + dir + "/metrics.txt > " + dir + "/out.txt 2>&1");
  std::ifstream out(dir + "/out.txt");
  std::string complaints((std::istreambuf_iterator<char>(out)), std::istreambuf_iterator<char>());
  EXPECT_EQ(rc, 0) << complaints;
  EXPECT_EQ(complaints, "");
  RemoveTree(dir);
}

TEST(Operations, StatusPageIsSelfContainedHtml) {
  TcpListener app;
  ConfigMapDir cm;
  cm.Write(json({{"checks", {TcpCheck("app", app.port())}}}).dump());
  AgentProcess agent(cm.path());
  HttpReply r = agent.Get("/");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.headers["Content-Type"].find("text/html"), std::string::npos);
  EXPECT_EQ(r.body.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_NE(r.body.find("</html>"), std::string::npos);
  EXPECT_NE(r.body.find("fetch(\"/health?events\""), std::string::npos);
  for (const char* external : {"http://", "https://", "//cdn", "src=", "@import"})
    EXPECT_EQ(r.body.find(external), std::string::npos) << external;
}

}  // namespace
}  // namespace vigil::testing
