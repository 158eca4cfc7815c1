// Every kind names why a run failed (the `reason` label of
// vigil_check_failures_total) where the failure happens, and hands over the
// signals it read: each failure produced for real where it can be (a closed
// port, a name under .invalid, a wrong password, a replica, a server loading
// its data, an HTTP 500, a server that hangs up, a certificate from another
// CA); readonly and oom come only from error replies a
// PING or SELECT 1 does not get from a real server, so their mapping is
// unit-tested (tests/unit/metrics_test.cc).
#include <gtest/gtest.h>
#include <httplib.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "checks/check.h"
#include "tests/support/check_builder.h"
#include "tests/support/pg_server.h"
#include "tests/support/pg_suite.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"
#include "tests/support/tcp_listener.h"
#include "tests/support/tls_certs.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;
using testing::BuildCheck;
using testing::CertFiles;
using testing::HttpsServer;
using testing::PgServer;
using testing::PgServerOptions;
using testing::RedisServer;
using testing::TestCa;

constexpr milliseconds kBudget{3000};
constexpr const char* kPgPassword = "kind-Test-pw-1";

CheckResult RunOnce(const std::string& kind, const nlohmann::json& config,
                    milliseconds budget = kBudget) {
  return testing::RunFor(*BuildCheck(kind, config).check, budget).result;
}

std::string Describe(const CheckResult& r) {
  return std::string(OutcomeName(r.outcome)) + " [" + FailureKindName(r.failure) + "] " + r.reason;
}

std::string RedisUrl(int port, const std::string& userinfo = "") {
  return "redis://" + (userinfo.empty() ? "" : userinfo + "@") +
         "127.0.0.1:" + std::to_string(port);
}

#define EXPECT_FAILS_WITH(result, kind)                    \
  do {                                                     \
    const CheckResult& r_ = (result);                      \
    EXPECT_EQ(r_.outcome, Outcome::kFail) << Describe(r_); \
    EXPECT_EQ(r_.failure, kind) << Describe(r_);           \
  } while (0)

// --- tcp ---------------------------------------------------------------------

TEST(FailureKindTcp, RefusedDnsTimeout) {
  EXPECT_FAILS_WITH(
      RunOnce("tcp", {{"address", "127.0.0.1:" + std::to_string(testing::FreePort())}}),
      FailureKind::kRefused);
  EXPECT_FAILS_WITH(RunOnce("tcp", {{"address", "nonexistent.invalid:80"}}), FailureKind::kDns);
  // A deadline already spent: the run times out before it starts.
  EXPECT_FAILS_WITH(RunOnce("tcp", {{"address", "nonexistent.invalid:80"}}, milliseconds(0)),
                    FailureKind::kTimeout);
}

// --- http --------------------------------------------------------------------

TEST(FailureKindHttp, StatusBodyProtocolRefused) {
  httplib::Server server;
  server.Get("/500", [](const httplib::Request&, httplib::Response& res) {
    res.status = 500;
    res.set_content("boom", "text/plain");
  });
  server.Get("/ok", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("all good", "text/plain");
  });
  const int port = server.bind_to_any_port("127.0.0.1");
  ASSERT_GT(port, 0);
  std::thread thread([&] { server.listen_after_bind(); });
  for (int i = 0; i < 500 && !server.is_running(); ++i)
    std::this_thread::sleep_for(milliseconds(10));
  const std::string base = "http://127.0.0.1:" + std::to_string(port);

  EXPECT_FAILS_WITH(RunOnce("http", {{"url", base + "/500"}}), FailureKind::kStatus);
  EXPECT_FAILS_WITH(RunOnce("http", {{"url", base + "/ok"}, {"expect_status", 204}}),
                    FailureKind::kStatus);
  EXPECT_FAILS_WITH(RunOnce("http", {{"url", base + "/ok"}, {"expect_body_contains", "nope"}}),
                    FailureKind::kBody);
  EXPECT_EQ(RunOnce("http", {{"url", base + "/ok"}, {"expect_body_contains", "good"}}).outcome,
            Outcome::kPass);
  server.stop();
  thread.join();

  // Accepts and hangs up without a word: not HTTP.
  testing::TcpListener mute;
  EXPECT_FAILS_WITH(RunOnce("http", {{"url", "http://127.0.0.1:" + std::to_string(mute.port())}}),
                    FailureKind::kProtocol);
  EXPECT_FAILS_WITH(
      RunOnce("http", {{"url", "http://127.0.0.1:" + std::to_string(testing::FreePort())}}),
      FailureKind::kRefused);
  EXPECT_FAILS_WITH(RunOnce("http", {{"url", "http://nonexistent.invalid/"}}), FailureKind::kDns);
}

// --- redis -------------------------------------------------------------------

TEST(FailureKindRedis, RefusedDnsAuth) {
  EXPECT_FAILS_WITH(RunOnce("redis", {{"url", RedisUrl(testing::FreePort())}}),
                    FailureKind::kRefused);
  EXPECT_FAILS_WITH(RunOnce("redis", {{"url", "redis://nonexistent.invalid:6379"}}),
                    FailureKind::kDns);
  RedisServer server({"--requirepass", "s3cr3t-Pw-kind"});
  EXPECT_FAILS_WITH(RunOnce("redis", {{"url", RedisUrl(server.port(), ":Wr0ng-Guess")}}),
                    FailureKind::kAuth);
  EXPECT_FAILS_WITH(RunOnce("redis", {{"url", RedisUrl(server.port())}}),  // NOAUTH on PING
                    FailureKind::kAuth);
}

TEST(FailureKindRedis, TimeoutOnAPausedServer) {
  RedisServer server;
  auto check = BuildCheck("redis", {{"url", RedisUrl(server.port())}}).check;
  ASSERT_EQ(check->Run(Clock::now() + kBudget).outcome, Outcome::kPass);
  server.Pause();
  CheckResult r = check->Run(Clock::now() + milliseconds(300));
  server.Resume();
  EXPECT_FAILS_WITH(r, FailureKind::kTimeout);
  EXPECT_TRUE(r.timed_out);
}

TEST(FailureKindRedis, RoleMismatchStillReportsTheRoleSignal) {
  RedisServer master;
  RedisServer replica({"--replicaof", "127.0.0.1", std::to_string(master.port())});
  ASSERT_TRUE(replica.WaitForInfo("master_link_status", "up", 10000));
  CheckResult r = RunOnce("redis", {{"url", RedisUrl(replica.port())}, {"expect_role", "master"}});
  EXPECT_FAILS_WITH(r, FailureKind::kRole);
  EXPECT_EQ(r.signals.redis_role, "replica");

  CheckResult m = RunOnce("redis", {{"url", RedisUrl(master.port())}});
  EXPECT_EQ(m.outcome, Outcome::kPass) << Describe(m);
  EXPECT_EQ(m.signals.redis_role, "master");
  EXPECT_FALSE(m.signals.redis_memory_ratio.has_value());  // maxmemory 0: no ratio
}

TEST(FailureKindRedis, MemoryRatioSignal) {
  RedisServer server;
  const long long used = std::atoll(server.InfoField("used_memory").c_str());
  ASSERT_GT(used, 0);
  ASSERT_EQ(server.Command({"CONFIG", "SET", "maxmemory", std::to_string(used * 4)}), "OK");
  CheckResult r = RunOnce("redis", {{"url", RedisUrl(server.port())}});
  EXPECT_EQ(r.outcome, Outcome::kPass) << Describe(r);
  ASSERT_TRUE(r.signals.redis_memory_ratio.has_value());
  EXPECT_GT(*r.signals.redis_memory_ratio, 0.1);
  EXPECT_LT(*r.signals.redis_memory_ratio, 0.5);
}

TEST(FailureKindRedis, LoadingDataset) {
  RedisServer server({"--enable-debug-command", "yes"});
  ASSERT_EQ(server.Command({"DEBUG", "POPULATE", "2000"}), "OK");
  // About a second of loading, during which the server answers others.
  ASSERT_EQ(server.Command({"CONFIG", "SET", "key-load-delay", "500"}), "OK");
  ASSERT_EQ(server.Command({"CONFIG", "SET", "loading-process-events-interval-bytes", "1024"}),
            "OK");
  auto check = BuildCheck("redis", {{"url", RedisUrl(server.port())}}).check;
  ASSERT_EQ(check->Run(Clock::now() + kBudget).outcome, Outcome::kPass);
  CheckResult r;
  for (int attempt = 0; attempt < 3 && r.failure != FailureKind::kLoading; ++attempt) {
    std::thread reload([&] { server.CommandOnNewConnection({"DEBUG", "RELOAD"}, 10000); });
    std::this_thread::sleep_for(milliseconds(200));
    r = check->Run(Clock::now() + kBudget);
    reload.join();
  }
  EXPECT_FAILS_WITH(r, FailureKind::kLoading);
}

TEST(FailureKindRedis, ClusterStateIsAStatus) {
  RedisServer server({"--cluster-enabled", "yes"});
  EXPECT_FAILS_WITH(RunOnce("redis", {{"url", RedisUrl(server.port())}}), FailureKind::kStatus);
}

// --- postgres ----------------------------------------------------------------

class FailureKindPostgres : public testing::PgSuite<FailureKindPostgres> {
 public:
  static PgServerOptions ServerOptions() { return testing::PasswordOptions(kPgPassword); }
};

TEST_F(FailureKindPostgres, RefusedDnsAuthAndSignals) {
  EXPECT_FAILS_WITH(
      RunOnce("postgres",
              {{"url", "postgresql://u@127.0.0.1:" + std::to_string(testing::FreePort()) + "/db"}}),
      FailureKind::kRefused);
  EXPECT_FAILS_WITH(RunOnce("postgres", {{"url", "postgresql://u@nonexistent.invalid:5432/db"}}),
                    FailureKind::kDns);
  CheckResult wrong = RunOnce("postgres", {{"url", server_->UrlWithPassword("Wr0ng-pa55word")}});
  EXPECT_FAILS_WITH(wrong, FailureKind::kAuth);
  // The SQLSTATE the check reads to classify it is not left in the reason.
  EXPECT_EQ(wrong.reason.find("28P01"), std::string::npos) << wrong.reason;
  EXPECT_NE(wrong.reason.find("FATAL: password authentication failed"), std::string::npos)
      << wrong.reason;
  EXPECT_FAILS_WITH(RunOnce("postgres", {{"url", server_->Url("no_such_db")}}),
                    FailureKind::kOther);

  CheckResult plain = RunOnce("postgres", {{"url", server_->Url()}});
  EXPECT_EQ(plain.outcome, Outcome::kPass) << Describe(plain);
  EXPECT_TRUE(plain.signals.empty());  // SELECT 1 reads no recovery state
  CheckResult primary = RunOnce("postgres", {{"url", server_->Url()}, {"require_primary", true}});
  EXPECT_EQ(primary.outcome, Outcome::kPass) << Describe(primary);
  EXPECT_EQ(primary.signals.postgres_in_recovery, false);
  EXPECT_FALSE(primary.signals.postgres_replication_lag_s.has_value());
}

TEST_F(FailureKindPostgres, TooManyConnectionsIsRefused) {
  PgServer server(
      PgServerOptions{kPgPassword, {"max_connections=2", "superuser_reserved_connections=0"}});
  auto a = BuildCheck("postgres", {{"url", server.Url()}}).check;
  auto b = BuildCheck("postgres", {{"url", server.Url()}}).check;
  ASSERT_EQ(a->Run(Clock::now() + kBudget).outcome, Outcome::kPass);
  ASSERT_EQ(b->Run(Clock::now() + kBudget).outcome, Outcome::kPass);
  EXPECT_FAILS_WITH(RunOnce("postgres", {{"url", server.Url()}}), FailureKind::kRefused);
}

TEST_F(FailureKindPostgres, ReplicaIsARoleFailureWithRecoverySignals) {
  std::unique_ptr<PgServer> replica = server_->StartReplica();
  ASSERT_EQ(replica->Psql("SELECT pg_is_in_recovery()"), "t");
  CheckResult r = RunOnce("postgres", {{"url", replica->Url()}, {"require_primary", true}});
  EXPECT_FAILS_WITH(r, FailureKind::kRole);
  EXPECT_EQ(r.signals.postgres_in_recovery, true);
  ASSERT_TRUE(r.signals.postgres_replication_lag_s.has_value());
  EXPECT_GE(*r.signals.postgres_replication_lag_s, 0);

  CheckResult lag = RunOnce("postgres", {{"url", replica->Url()}, {"max_replication_lag_s", 60}});
  EXPECT_EQ(lag.outcome, Outcome::kPass) << Describe(lag);
  EXPECT_EQ(lag.signals.postgres_in_recovery, true);
  EXPECT_TRUE(lag.signals.postgres_replication_lag_s.has_value());
}

// --- tls ---------------------------------------------------------------------
// Every way a TLS connection fails is `tls`; a handshake that is still going
// at the deadline is a timeout.

TEST(FailureKindTls, Redis) {
  TestCa ca;
  TestCa other_ca("another CA");
  const CertFiles good = ca.Issue("redis", "DNS:localhost,IP:127.0.0.1", 30);
  const CertFiles expired = ca.IssueExpired("old-redis", "DNS:localhost");
  const int tls_port = testing::FreePort();
  RedisServer server({"--tls-port", std::to_string(tls_port), "--tls-cert-file", good.cert,
                      "--tls-key-file", good.key, "--tls-ca-cert-file", ca.cert(),
                      "--tls-auth-clients", "optional"});
  const std::string url = "rediss://localhost:" + std::to_string(tls_port);
  EXPECT_EQ(RunOnce("redis", {{"url", url}, {"tls", {{"ca_file", ca.cert()}}}}).outcome,
            Outcome::kPass);
  // Verification: another CA, the system store, another name.
  EXPECT_FAILS_WITH(RunOnce("redis", {{"url", url}, {"tls", {{"ca_file", other_ca.cert()}}}}),
                    FailureKind::kTls);
  EXPECT_FAILS_WITH(RunOnce("redis", {{"url", url}}), FailureKind::kTls);
  EXPECT_FAILS_WITH(
      RunOnce("redis",
              {{"url", url}, {"tls", {{"ca_file", ca.cert()}, {"server_name", "elsewhere"}}}}),
      FailureKind::kTls);

  // An expired certificate; a client certificate required and not sent.
  const int old_port = testing::FreePort();
  RedisServer old({"--tls-port", std::to_string(old_port), "--tls-cert-file", expired.cert,
                   "--tls-key-file", expired.key, "--tls-ca-cert-file", ca.cert(),
                   "--tls-auth-clients", "no"});
  EXPECT_FAILS_WITH(RunOnce("redis", {{"url", "rediss://localhost:" + std::to_string(old_port)},
                                      {"tls", {{"ca_file", ca.cert()}}}}),
                    FailureKind::kTls);
  const int mtls_port = testing::FreePort();
  RedisServer mtls({"--tls-port", std::to_string(mtls_port), "--tls-cert-file", good.cert,
                    "--tls-key-file", good.key, "--tls-ca-cert-file", ca.cert(),
                    "--tls-auth-clients", "yes"});
  EXPECT_FAILS_WITH(RunOnce("redis", {{"url", "rediss://localhost:" + std::to_string(mtls_port)},
                                      {"tls", {{"ca_file", ca.cert()}}}}),
                    FailureKind::kTls);

  // The handshake still going at the deadline: a timeout.
  server.Pause();
  CheckResult hung =
      RunOnce("redis", {{"url", url}, {"tls", {{"ca_file", ca.cert()}}}}, milliseconds(500));
  server.Resume();
  EXPECT_FAILS_WITH(hung, FailureKind::kTimeout);
  EXPECT_TRUE(hung.timed_out);
}

TEST(FailureKindTls, Https) {
  TestCa ca;
  TestCa other_ca("another CA");
  const CertFiles good = ca.Issue("app", "DNS:localhost,IP:127.0.0.1", 30);
  HttpsServer server(good);
  const std::string url = "https://localhost:" + std::to_string(server.port()) + "/";
  EXPECT_EQ(RunOnce("http", {{"url", url}, {"tls", {{"ca_file", ca.cert()}}}}).outcome,
            Outcome::kPass);
  EXPECT_FAILS_WITH(RunOnce("http", {{"url", url}, {"tls", {{"ca_file", other_ca.cert()}}}}),
                    FailureKind::kTls);
  EXPECT_FAILS_WITH(
      RunOnce("http",
              {{"url", url}, {"tls", {{"ca_file", ca.cert()}, {"server_name", "elsewhere"}}}}),
      FailureKind::kTls);

  HttpsServer expired(ca.IssueExpired("old-app", "DNS:localhost"));
  EXPECT_FAILS_WITH(
      RunOnce("http", {{"url", "https://localhost:" + std::to_string(expired.port()) + "/"},
                       {"tls", {{"ca_file", ca.cert()}}}}),
      FailureKind::kTls);
  HttpsServer mtls(good, ca.cert());
  EXPECT_FAILS_WITH(
      RunOnce("http", {{"url", "https://localhost:" + std::to_string(mtls.port()) + "/"},
                       {"tls", {{"ca_file", ca.cert()}}}}),
      FailureKind::kTls);

  // A plain HTTP server answers the ClientHello with HTTP: wrong version.
  httplib::Server plain;
  plain.Get("/", [](const httplib::Request&, httplib::Response& res) {
    res.set_content("ok", "text/plain");
  });
  const int plain_port = plain.bind_to_any_port("127.0.0.1");
  ASSERT_GT(plain_port, 0);
  std::thread thread([&] { plain.listen_after_bind(); });
  for (int i = 0; i < 500 && !plain.is_running(); ++i)
    std::this_thread::sleep_for(milliseconds(10));
  EXPECT_FAILS_WITH(
      RunOnce("http", {{"url", "https://127.0.0.1:" + std::to_string(plain_port) + "/"},
                       {"tls", {{"ca_file", ca.cert()}}}}),
      FailureKind::kTls);
  plain.stop();
  thread.join();

  server.Pause();
  CheckResult hung =
      RunOnce("http", {{"url", url}, {"tls", {{"ca_file", ca.cert()}}}}, milliseconds(500));
  server.Resume();
  EXPECT_FAILS_WITH(hung, FailureKind::kTimeout);
  EXPECT_TRUE(hung.timed_out);
}

}  // namespace
}  // namespace vigil
