// TLS through the vigil binary: a required rediss:// dependency whose
// certificate expires in 5 days makes the pod degraded but ready, /health
// shows tls_expires, /metrics the expiry gauge; the session is kept (no new
// server connections over many runs); a bad tls object exits 2 naming it.
#include <gtest/gtest.h>

#include <ctime>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/agent_process.h"
#include "tests/support/config_file.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"
#include "tests/support/tls_certs.h"
#include "tests/support/tls_redis.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// vigil_check_attempts_total of the one check, as text.
std::string Attempts(AgentProcess& agent) {
  const std::string body = agent.Get("/metrics").body;
  const std::string key = "vigil_check_attempts_total{check=\"redis-session\"} ";
  auto pos = body.find(key);
  if (pos == std::string::npos) return "0";
  return body.substr(pos + key.size(), body.find('\n', pos) - pos - key.size());
}

TEST(TlsE2E, CertificateExpiringSoonIsDegradedButReadyWithExpiryShown) {
  TestCa ca;
  TlsRedis tls_redis(ca, ca.Issue("redis", "DNS:localhost", 5));
  RedisServer& redis = tls_redis.server;
  ConfigFile files("vigil-e2e-tls");
  const std::string dir = files.dir();
  const std::string config = files.Write(
      {{"drain_seconds", 0},
       {"defaults", {{"interval_ms", 100}, {"timeout_ms", 1000}, {"jitter_percent", 0}}},
       {"checks",
        {{{"name", "redis-session"},
          {"kind", "redis"},
          {"role", "session"},
          {"url", tls_redis.Url()},
          {"tls", {{"ca_file", ca.cert()}}}}}}});
  {
    AgentProcess agent(config);
    ASSERT_TRUE(agent.WaitFor("/health", 200, "\"status\":\"degraded\"", 10000))
        << agent.Get("/health").body << agent.Stdout();
    EXPECT_EQ(agent.Get("/readyz").status, 200);
    json h = json::parse(agent.Get("/health").body);
    const json& c = h["checks"]["redis-session"];
    EXPECT_EQ(c["status"], "warn");
    EXPECT_EQ(c["reason"], "certificate expires in 5 days");
    ASSERT_TRUE(c.contains("tls_expires")) << c.dump();
    const std::string expires = c["tls_expires"];
    // RFC 3339 UTC, about 5 days from now.
    std::tm tm{};
    ASSERT_NE(strptime(expires.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr) << expires;
    EXPECT_EQ(expires.back(), 'Z');
    EXPECT_NEAR(static_cast<double>(timegm(&tm) - std::time(nullptr)), 5 * 86400.0, 3600);

    HttpReply m = agent.Get("/metrics");
    const std::string gauge =
        "vigil_check_tls_cert_expiry_timestamp_seconds{check=\"redis-session\"} " +
        std::to_string(timegm(&tm));
    EXPECT_NE(m.body.find(gauge), std::string::npos) << m.body;
    // The exposition stays clean with the new family in it.
    const std::string metrics_file = dir + "/metrics.txt";
    std::ofstream(metrics_file) << m.body;
    EXPECT_EQ(Shell("promtool check metrics < " + metrics_file + " >/dev/null 2>&1"), 0);

    // The TLS session stays with the kept connection: ~20 more runs at
    // 100 ms, and the server sees no new connection.
    const std::string before = redis.InfoField("total_connections_received");
    const std::string runs_before = Attempts(agent);
    std::this_thread::sleep_for(2s);
    EXPECT_GE(std::stoi(Attempts(agent)) - std::stoi(runs_before), 10);
    EXPECT_EQ(json::parse(agent.Get("/health").body)["checks"]["redis-session"]["status"], "warn");
    EXPECT_EQ(redis.InfoField("total_connections_received"), before);
  }
}

TEST(TlsE2E, NoWarningWhenTurnedOffAndNoExpiryForPlainChecks) {
  TestCa ca;
  TlsRedis tls_redis(ca, ca.Issue("redis", "DNS:localhost", 5));
  RedisServer& redis = tls_redis.server;
  ConfigFile files("vigil-e2e-tls");
  const std::string config = files.Write(
      {{"drain_seconds", 0},
       {"defaults", {{"interval_ms", 200}, {"timeout_ms", 1000}, {"cert_expiry_warn_days", 3}}},
       {"checks",
        {{{"name", "tls-cache"},
          {"kind", "redis"},
          {"url", tls_redis.Url()},
          {"tls", {{"ca_file", ca.cert()}}}},
         {{"name", "plain-cache"},
          {"kind", "redis"},
          {"url", "redis://127.0.0.1:" + std::to_string(redis.port())}}}}});
  {
    AgentProcess agent(config);
    ASSERT_TRUE(agent.WaitFor("/health", 200, "tls_expires", 10000))
        << agent.Get("/health").body << agent.Stdout();
    json h = json::parse(agent.Get("/health").body);
    EXPECT_EQ(h["checks"]["tls-cache"]["status"], "pass");  // 5 days left, warned under 3
    EXPECT_TRUE(h["checks"]["tls-cache"].contains("tls_expires"));
    EXPECT_FALSE(h["checks"]["plain-cache"].contains("tls_expires"));
    HttpReply m = agent.Get("/metrics");
    EXPECT_NE(m.body.find("vigil_check_tls_cert_expiry_timestamp_seconds{check=\"tls-cache\"}"),
              std::string::npos);
    EXPECT_EQ(m.body.find("vigil_check_tls_cert_expiry_timestamp_seconds{check=\"plain-cache\"}"),
              std::string::npos);
  }
}

TEST(TlsE2E, BadTlsObjectExitsTwoNamingTheField) {
  ConfigFile files("vigil-e2e-tls");
  const std::string config =
      files.Write({{"checks",
                    {{{"name", "a"}, {"kind", "tcp"}, {"address", "127.0.0.1:1"}},
                     {{"name", "b"}, {"kind", "http"}, {"url", "https://127.0.0.1/"}},
                     {{"name", "c"},
                      {"kind", "redis"},
                      {"url", "rediss://127.0.0.1"},
                      {"tls", {{"ca_file", "/x"}}}}}}});
  CommandResult r = RunVigil({"validate", "--config", config});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(
      (r.out + r.err).find("checks[2].tls.ca_file: cannot read /x: No such file or directory"),
      std::string::npos)
      << r.out << r.err;
  const std::string days =
      files.Write({{"defaults", {{"cert_expiry_warn_days", 4000}}}, {"checks", json::array()}});
  CommandResult d = RunVigil({"validate", "--config", days});
  EXPECT_EQ(d.exit_code, 2);
  EXPECT_NE((d.out + d.err).find("defaults.cert_expiry_warn_days: out of range"), std::string::npos)
      << d.out << d.err;
}

}  // namespace
}  // namespace vigil::testing
