// The `postgres` kind against real PostgreSQL 15 clusters on 127.0.0.1:
// up, stopped, every process stopped (hung), kept-open vs per-run
// connections, authentication, a missing database, exhausted
// max_connections, a replica (require_primary, lag) and its promotion.
#include <libpq-fe.h>

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "checks/check.h"
#include "tests/support/check_builder.h"
#include "tests/support/pg_server.h"
#include "tests/support/pg_suite.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;
using testing::PgServer;
using testing::PgServerOptions;
using testing::RunFor;
using testing::Timed;

constexpr char kPassword[] = "Pg-s3cret-9f2c";
constexpr milliseconds kTimeout{1000};
constexpr milliseconds kShortTimeout{300};
// A timed-out run must end within this of its deadline (a loaded 2-core box).
constexpr milliseconds kMargin{250};
constexpr milliseconds kLongTimeout{5000};

using Built = testing::BuiltCheck;

Built MakeCheck(const std::string& url, nlohmann::json extra = nlohmann::json::object()) {
  extra["url"] = url;
  return testing::BuildCheck("postgres", extra);
}

// Runs until `want` or `limit` passes; the last result.
CheckResult RunUntil(Check& check, Outcome want, milliseconds limit) {
  auto end = Clock::now() + limit;
  CheckResult r;
  do {
    r = check.Run(Clock::now() + kLongTimeout);
    if (r.outcome == want) return r;
    std::this_thread::sleep_for(milliseconds(50));
  } while (Clock::now() < end);
  return r;
}

// Polls `sql` on `server` until it prints `want` (bounded); errors count as
// "not yet".
bool WaitForPsql(const PgServer& server, const std::string& sql, const std::string& want,
                 milliseconds limit = milliseconds(10000)) {
  auto end = Clock::now() + limit;
  do {
    try {
      if (server.Psql(sql) == want) return true;
    } catch (const std::runtime_error&) {
      // Not there yet (a replica that has not replayed the CREATE TABLE).
    }
    std::this_thread::sleep_for(milliseconds(50));
  } while (Clock::now() < end);
  return false;
}

std::string WithAppName(const std::string& url, const std::string& name) {
  return url + "?application_name=" + name;
}

std::string Describe(const CheckResult& r) {
  return std::string(OutcomeName(r.outcome)) + (r.timed_out ? " (timed out)" : "") + ": " +
         r.reason;
}

// One cluster (password auth over TCP) for every test that leaves it as it
// found it: SetUp restarts/resumes it after a test that stopped or paused it.
class PostgresCheckTest : public testing::PgSuite<PostgresCheckTest> {
 public:
  static PgServerOptions ServerOptions() { return testing::PasswordOptions(kPassword); }

 protected:
  // One run of `check` with every server process stopped: it times out at
  // its deadline while `phase`. Resumed, the next run reconnects and passes.
  static void ExpectHungServerTimesOut(Check& check, const std::string& phase) {
    server_->Pause();
    Timed t = RunFor(check, kTimeout);
    server_->Resume();
    EXPECT_EQ(t.result.outcome, Outcome::kFail);
    EXPECT_TRUE(t.result.timed_out) << Describe(t.result);
    EXPECT_NE(t.result.reason.find(phase), std::string::npos) << Describe(t.result);
    EXPECT_GE(t.elapsed, kTimeout - milliseconds(5));
    EXPECT_LE(t.elapsed, kTimeout + kMargin);
    t = RunFor(check, kLongTimeout);
    EXPECT_EQ(t.result.outcome, Outcome::kPass) << Describe(t.result);
  }
};

TEST_F(PostgresCheckTest, PassesAgainstARunningServer) {
  Built b = MakeCheck(server_->Url());
  Timed t = RunFor(*b.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << Describe(t.result);
  EXPECT_TRUE(t.result.reason.empty());
  EXPECT_FALSE(t.result.timed_out);
  EXPECT_GT(t.result.latency.count(), 0);
  EXPECT_EQ(b.check->Target(), "127.0.0.1:" + std::to_string(server_->port()));
  EXPECT_EQ(b.secrets, std::vector<std::string>{kPassword});
  // The session carries our name.
  EXPECT_NE(server_->Psql("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'vigil'"),
            "0");
}

TEST_F(PostgresCheckTest, KeywordFormConnectsToo) {
  Built b = MakeCheck("host=127.0.0.1 port=" + std::to_string(server_->port()) +
                      " user=postgres dbname=postgres password='" + kPassword + "'");
  Timed t = RunFor(*b.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << Describe(t.result);
}

TEST_F(PostgresCheckTest, HostNameIsResolvedByTheCheck) {
  // "localhost" goes through checks/net.h Resolve; the server listens on
  // 127.0.0.1 only, so an IPv6 ::1 attempt (if any) fails over to it.
  Built b = MakeCheck("postgresql://postgres:" + std::string(kPassword) +
                      "@localhost:" + std::to_string(server_->port()) + "/postgres");
  Timed t = RunFor(*b.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << Describe(t.result);
  EXPECT_EQ(b.check->Target(), "localhost:" + std::to_string(server_->port()));
}

TEST_F(PostgresCheckTest, SteadyStateOpensNoNewConnection) {
  const std::string app = "vigil-steady";
  Built b = MakeCheck(WithAppName(server_->Url(), app));
  const int logins_before = server_->CountInLog("application_name=" + app);
  ASSERT_EQ(RunFor(*b.check, kLongTimeout).result.outcome, Outcome::kPass);
  const std::string pid_sql =
      "SELECT pid FROM pg_stat_activity WHERE application_name = '" + app + "'";
  const std::string pid = server_->Psql(pid_sql);
  ASSERT_FALSE(pid.empty());
  ASSERT_EQ(pid.find('\n'), std::string::npos) << "more than one backend: " << pid;
  for (int i = 0; i < 5; ++i) {
    Timed t = RunFor(*b.check, kLongTimeout);
    ASSERT_EQ(t.result.outcome, Outcome::kPass) << Describe(t.result);
  }
  EXPECT_EQ(server_->Psql(pid_sql), pid);
  EXPECT_EQ(server_->CountInLog("application_name=" + app) - logins_before, 1);
}

TEST_F(PostgresCheckTest, KeepOpenFalseConnectsEveryRun) {
  const std::string app = "vigil-per-run";
  Built b = MakeCheck(WithAppName(server_->Url(), app), {{"keep_open", false}});
  const int logins_before = server_->CountInLog("application_name=" + app);
  for (int i = 0; i < 3; ++i) {
    Timed t = RunFor(*b.check, kLongTimeout);
    ASSERT_EQ(t.result.outcome, Outcome::kPass) << Describe(t.result);
  }
  EXPECT_EQ(server_->CountInLog("application_name=" + app) - logins_before, 3);
  // Closed after each run: no backend of ours lingers.
  EXPECT_TRUE(WaitForPsql(
      *server_, "SELECT count(*) FROM pg_stat_activity WHERE application_name = '" + app + "'",
      "0"));
}

TEST_F(PostgresCheckTest, CloseDropsTheKeptConnection) {
  const std::string app = "vigil-close";
  Built b = MakeCheck(WithAppName(server_->Url(), app));
  const int logins_before = server_->CountInLog("application_name=" + app);
  ASSERT_EQ(RunFor(*b.check, kLongTimeout).result.outcome, Outcome::kPass);
  b.check->Close();
  ASSERT_EQ(RunFor(*b.check, kLongTimeout).result.outcome, Outcome::kPass);
  EXPECT_EQ(server_->CountInLog("application_name=" + app) - logins_before, 2);
}

TEST_F(PostgresCheckTest, StoppedServerFailsWithRefused) {
  Built b = MakeCheck(server_->Url());
  ASSERT_EQ(RunFor(*b.check, kLongTimeout).result.outcome, Outcome::kPass);
  server_->Stop();
  Timed t = RunFor(*b.check, kTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_FALSE(t.result.timed_out) << Describe(t.result);
  EXPECT_NE(t.result.reason.find("refused"), std::string::npos) << Describe(t.result);
  EXPECT_EQ(t.result.reason.find('\n'), std::string::npos) << Describe(t.result);
  EXPECT_EQ(t.result.reason.find(kPassword), std::string::npos) << Describe(t.result);
  EXPECT_LT(t.elapsed, kTimeout);

  ASSERT_TRUE(server_->Start());
  t = RunFor(*b.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << Describe(t.result);
}

TEST_F(PostgresCheckTest, KeptConnectionSurvivesAServerRestart) {
  // The server closed our session; the next run must not report that stale
  // connection as an outage but reconnect within the same run.
  Built b = MakeCheck(server_->Url());
  ASSERT_EQ(RunFor(*b.check, kLongTimeout).result.outcome, Outcome::kPass);
  server_->Stop();
  ASSERT_TRUE(server_->Start());
  Timed t = RunFor(*b.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << Describe(t.result);
}

TEST_F(PostgresCheckTest, HungServerTimesOutWhileWaitingForTheQuery) {
  Built b = MakeCheck(server_->Url());
  ASSERT_EQ(RunFor(*b.check, kLongTimeout).result.outcome, Outcome::kPass);  // kept open
  ExpectHungServerTimesOut(*b.check, "waiting for query");
}

TEST_F(PostgresCheckTest, HungServerTimesOutWhileConnecting) {
  Built b = MakeCheck(server_->Url());
  ExpectHungServerTimesOut(*b.check, "connecting");
}

TEST_F(PostgresCheckTest, SubSecondDeadlineIsHonoured) {
  Built kept = MakeCheck(server_->Url());
  Built fresh = MakeCheck(server_->Url());
  ASSERT_EQ(RunFor(*kept.check, kLongTimeout).result.outcome, Outcome::kPass);
  Timed t = RunFor(*kept.check, kShortTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << Describe(t.result);

  server_->Pause();
  Timed query = RunFor(*kept.check, kShortTimeout);
  Timed connect = RunFor(*fresh.check, kShortTimeout);
  server_->Resume();
  for (const Timed& x : {query, connect}) {
    EXPECT_TRUE(x.result.timed_out) << Describe(x.result);
    EXPECT_GE(x.elapsed, kShortTimeout - milliseconds(5));
    EXPECT_LE(x.elapsed, kShortTimeout + kMargin);
  }
}

TEST_F(PostgresCheckTest, WrongPasswordFailsWithAuthenticationReason) {
  const std::string wrong = "Wr0ng-pa55word";
  Built b = MakeCheck(server_->UrlWithPassword(wrong));
  Timed t = RunFor(*b.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_FALSE(t.result.timed_out);
  EXPECT_NE(t.result.reason.find("password authentication failed"), std::string::npos)
      << Describe(t.result);
  EXPECT_EQ(t.result.reason.find(wrong), std::string::npos) << Describe(t.result);
  EXPECT_EQ(t.result.reason.find(kPassword), std::string::npos) << Describe(t.result);
  EXPECT_EQ(b.check->Target().find(wrong), std::string::npos);
  EXPECT_EQ(b.check->Target().find('@'), std::string::npos);
  EXPECT_EQ(b.secrets, std::vector<std::string>{wrong});
}

TEST_F(PostgresCheckTest, MissingDatabaseFailsWithAClearReason) {
  Built b = MakeCheck(server_->Url("no_such_db"));
  Timed t = RunFor(*b.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_NE(t.result.reason.find("database \"no_such_db\" does not exist"), std::string::npos)
      << Describe(t.result);
  EXPECT_EQ(t.result.reason.find(kPassword), std::string::npos);
}

TEST_F(PostgresCheckTest, TlsOptionsPassThroughToLibpq) {
  // The test server has no TLS: sslmode=require from the url must reach libpq
  // and make it refuse the plain connection.
  Built b = MakeCheck(server_->Url() + "?sslmode=require");
  Timed t = RunFor(*b.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_NE(t.result.reason.find("SSL"), std::string::npos) << Describe(t.result);
}

TEST_F(PostgresCheckTest, PrimaryPassesRequirePrimaryAndLag) {
  Built b = MakeCheck(server_->Url(), {{"require_primary", true}, {"max_replication_lag_s", 1}});
  Timed t = RunFor(*b.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << Describe(t.result);
}

// --- Clusters of their own -------------------------------------------------

struct ConnFree {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using ConnPtr = std::unique_ptr<PGconn, ConnFree>;

TEST(PostgresCheckLimitsTest, ExhaustedMaxConnectionsFailsWithTooMany) {
  PgServer server(
      PgServerOptions{kPassword, {"max_connections=3", "superuser_reserved_connections=0"}});
  std::vector<ConnPtr> held;
  for (int i = 0; i < 3; ++i) {
    held.emplace_back(PQconnectdb((server.Url() + "?connect_timeout=10").c_str()));
    ASSERT_EQ(PQstatus(held.back().get()), CONNECTION_OK) << PQerrorMessage(held.back().get());
  }
  Built b = MakeCheck(server.Url());
  Timed t = RunFor(*b.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_FALSE(t.result.timed_out);
  EXPECT_NE(t.result.reason.find("too many"), std::string::npos) << Describe(t.result);
  EXPECT_EQ(t.result.reason.find(kPassword), std::string::npos);

  held.pop_back();  // a slot frees once that backend has exited
  CheckResult r = RunUntil(*b.check, Outcome::kPass, milliseconds(10000));
  EXPECT_EQ(r.outcome, Outcome::kPass) << Describe(r);
}

class PostgresReplicaTest : public ::testing::Test {
 protected:
  void SetUp() override {
    primary_ = std::make_unique<PgServer>(PgServerOptions{kPassword, {}});
    replica_ = primary_->StartReplica();
    ASSERT_EQ(replica_->Psql("SELECT pg_is_in_recovery()"), "t");
  }
  std::unique_ptr<PgServer> primary_;
  std::unique_ptr<PgServer> replica_;
};

TEST_F(PostgresReplicaTest, RequirePrimaryFailsOnAReplicaUntilPromoted) {
  Built strict = MakeCheck(replica_->Url(), {{"require_primary", true}});
  Built lenient = MakeCheck(replica_->Url());
  Timed t = RunFor(*strict.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_FALSE(t.result.timed_out);
  EXPECT_EQ(t.result.reason, "server is in recovery (a replica), primary required");
  // Without require_primary a replica is a healthy server.
  EXPECT_EQ(RunFor(*lenient.check, kLongTimeout).result.outcome, Outcome::kPass);

  ASSERT_TRUE(replica_->Promote());
  CheckResult r = RunUntil(*strict.check, Outcome::kPass, milliseconds(10000));
  EXPECT_EQ(r.outcome, Outcome::kPass) << Describe(r);
}

TEST_F(PostgresReplicaTest, ReplicationLagOverTheThresholdWarns) {
  Built b = MakeCheck(replica_->Url(), {{"max_replication_lag_s", 0.5}});
  primary_->Psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1);");
  ASSERT_TRUE(WaitForPsql(*replica_, "SELECT count(*) FROM t", "1"));
  // Caught up: no lag, however long ago the last commit was.
  Timed t = RunFor(*b.check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kPass) << Describe(t.result);

  replica_->Psql("SELECT pg_wal_replay_pause()");
  primary_->Psql("INSERT INTO t VALUES (2)");
  ASSERT_TRUE(
      WaitForPsql(*replica_, "SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()", "t"));
  // The lag grows from the last replayed commit on: a warning within seconds.
  CheckResult r = RunUntil(*b.check, Outcome::kWarn, milliseconds(10000));
  EXPECT_EQ(r.outcome, Outcome::kWarn) << Describe(r);
  EXPECT_NE(r.reason.find("replication lag"), std::string::npos) << Describe(r);
  EXPECT_NE(r.reason.find("over 0.5 s"), std::string::npos) << Describe(r);

  replica_->Psql("SELECT pg_wal_replay_resume()");
  r = RunUntil(*b.check, Outcome::kPass, milliseconds(10000));
  EXPECT_EQ(r.outcome, Outcome::kPass) << Describe(r);
}

}  // namespace
}  // namespace vigil
