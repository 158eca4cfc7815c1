// The redis check against real redis-server processes on 127.0.0.1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include <nlohmann/json.hpp>

#include "checks/check.h"
#include "tests/support/check_builder.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;
using ::testing::HasSubstr;
using ::testing::Not;
using testing::RedisServer;

// Generous for a loaded 2-core machine; the deadline tests measure instead.
constexpr int kBudgetMs = 3000;
// How late past its deadline a run may return (scheduling noise).
constexpr auto kLateness = milliseconds(150);

Deadline In(int ms) { return Clock::now() + milliseconds(ms); }

std::unique_ptr<Check> MakeCheck(const std::string& url, nlohmann::json extra = {}) {
  nlohmann::json j = extra.is_object() ? extra : nlohmann::json::object();
  j["url"] = url;
  return testing::BuildCheck("redis", j).check;
}

std::string Url(const RedisServer& s, const std::string& userinfo = "",
                const std::string& db = "") {
  return "redis://" + (userinfo.empty() ? "" : userinfo + "@") + s.address() +
         (db.empty() ? "" : "/" + db);
}

// "calls=N" of cmdstat_<name>.
long long Calls(RedisServer& s, const std::string& command) {
  std::string stat = s.InfoField("cmdstat_" + command);
  auto pos = stat.find("calls=");
  return pos == std::string::npos ? 0 : std::atoll(stat.c_str() + pos + 6);
}

// Runs `command` on a connection of its own on a thread, so that the server
// is busy with it while the check runs; joins on destruction.
class Background {
 public:
  Background(RedisServer& s, std::vector<std::string> command)
      : thread_([&s, command] { s.CommandOnNewConnection(command, 10000); }) {}
  ~Background() { thread_.join(); }

 private:
  std::thread thread_;
};

TEST(RedisCheckTest, PassesWhenUp) {
  RedisServer server;
  auto check = MakeCheck(Url(server));
  CheckResult r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_EQ(r.reason, "");
  EXPECT_FALSE(r.timed_out);
  EXPECT_GT(r.latency.count(), 0);
  EXPECT_EQ(check->Target(), server.address());
}

TEST(RedisCheckTest, StoppedServerFailsWithRefused) {
  RedisServer server;
  auto check = MakeCheck(Url(server));
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  server.Stop();

  CheckResult r = check->Run(In(kBudgetMs));  // on the kept connection
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_FALSE(r.timed_out);
  EXPECT_THAT(r.reason, HasSubstr("refused"));
  EXPECT_THAT(r.reason, HasSubstr(server.address()));

  auto fresh = MakeCheck(Url(server));
  CheckResult f = fresh->Run(In(kBudgetMs));
  EXPECT_EQ(f.outcome, Outcome::kFail);
  EXPECT_THAT(f.reason, HasSubstr("refused"));
}

TEST(RedisCheckTest, ReconnectsAfterRestart) {
  RedisServer server;
  auto check = MakeCheck(Url(server));
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  server.Stop();
  EXPECT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kFail);
  server.Start();
  CheckResult r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

// A restart between two runs leaves the kept connection dead: the run
// reconnects under the same deadline instead of reporting a failure.
TEST(RedisCheckTest, RestartBetweenRunsIsNotAFailure) {
  RedisServer server;
  auto check = MakeCheck(Url(server));
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  server.Stop();
  server.Start();
  CheckResult r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

TEST(RedisCheckTest, PausedServerTimesOutAtTheDeadline) {
  RedisServer server;
  auto check = MakeCheck(Url(server));
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  server.Pause();

  const auto start = Clock::now();
  const Deadline deadline = start + milliseconds(300);
  CheckResult r = check->Run(deadline);
  const auto returned = Clock::now();
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_TRUE(r.timed_out);
  EXPECT_GE(returned, deadline);
  EXPECT_LE(returned, deadline + kLateness);

  server.Resume();
  CheckResult again = check->Run(In(kBudgetMs));
  EXPECT_EQ(again.outcome, Outcome::kPass) << again.reason;
}

// The kernel still accepts connections for a stopped server: the connect
// succeeds and the PING waits.
TEST(RedisCheckTest, PausedServerTimesOutOnAFreshConnection) {
  RedisServer server;
  server.Pause();
  auto check = MakeCheck(Url(server));
  const Deadline deadline = In(300);
  CheckResult r = check->Run(deadline);
  const auto returned = Clock::now();
  EXPECT_TRUE(r.timed_out) << r.reason;
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_GE(returned, deadline);
  EXPECT_LE(returned, deadline + kLateness);
  server.Resume();
}

TEST(RedisCheckTest, SteadyStateOpensNoNewConnection) {
  RedisServer server;
  auto check = MakeCheck(Url(server));
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);

  const std::string connections = server.InfoField("total_connections_received");
  const long long pings = Calls(server, "ping");
  constexpr int kRuns = 10;
  for (int i = 0; i < kRuns; ++i) {
    CheckResult r = check->Run(In(kBudgetMs));
    ASSERT_EQ(r.outcome, Outcome::kPass) << r.reason;
  }
  EXPECT_EQ(server.InfoField("total_connections_received"), connections);
  EXPECT_EQ(Calls(server, "ping") - pings, kRuns);

  // Close() drops the connection: the next run opens exactly one.
  check->Close();
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  EXPECT_EQ(std::atoll(server.InfoField("total_connections_received").c_str()),
            std::atoll(connections.c_str()) + 1);
}

TEST(RedisCheckTest, RequirepassRightPasswordPasses) {
  RedisServer server({"--requirepass", "s3cr3t-Pw"});
  auto check = MakeCheck(Url(server, ":s3cr3t-Pw"));
  CheckResult r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_EQ(check->Target(), server.address());
}

TEST(RedisCheckTest, RequirepassWrongPasswordFailsWithoutLeakingIt) {
  RedisServer server({"--requirepass", "s3cr3t-Pw"});
  auto check = MakeCheck(Url(server, ":Wr0ng-Guess"));
  CheckResult r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_FALSE(r.timed_out);
  EXPECT_THAT(r.reason, HasSubstr("AUTH"));
  EXPECT_THAT(r.reason, HasSubstr("WRONGPASS"));
  EXPECT_THAT(r.reason, Not(HasSubstr("Wr0ng-Guess")));
  EXPECT_THAT(r.reason, Not(HasSubstr("s3cr3t-Pw")));
  EXPECT_THAT(check->Target(), Not(HasSubstr("Wr0ng")));
}

TEST(RedisCheckTest, RequirepassWithoutPasswordFailsNoauth) {
  RedisServer server({"--requirepass", "s3cr3t-Pw"});
  auto check = MakeCheck(Url(server));
  CheckResult r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("NOAUTH"));
}

TEST(RedisCheckTest, AclUserWithPercentEncodedPassword) {
  RedisServer server;
  ASSERT_EQ(server.Command({"ACL", "SETUSER", "probe", "on", ">pr@be:pw", "+ping", "+info",
                            "+select", "+cluster|info"}),
            "OK");
  auto check = MakeCheck(Url(server, "probe:pr%40be%3Apw", "2"));
  CheckResult r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_THAT(server.Command({"CLIENT", "LIST"}), HasSubstr("user=probe"));

  auto wrong = MakeCheck(Url(server, "probe:nope-pw"));
  CheckResult w = wrong->Run(In(kBudgetMs));
  EXPECT_EQ(w.outcome, Outcome::kFail);
  EXPECT_THAT(w.reason, HasSubstr("WRONGPASS"));
  EXPECT_THAT(w.reason, Not(HasSubstr("nope-pw")));
}

// No right to run INFO keeps the PING verdict, noted once.
TEST(RedisCheckTest, InfoNopermKeepsPingVerdictNotedOnce) {
  RedisServer server;
  ASSERT_EQ(server.Command({"ACL", "SETUSER", "pingonly", "on", ">pw", "+ping"}), "OK");
  auto check = MakeCheck(Url(server, "pingonly:pw"), {{"expect_role", "master"}});
  CheckResult first = check->Run(In(kBudgetMs));
  EXPECT_EQ(first.outcome, Outcome::kPass);
  EXPECT_THAT(first.reason, HasSubstr("NOPERM"));
  for (int i = 0; i < 3; ++i) {
    CheckResult r = check->Run(In(kBudgetMs));
    EXPECT_EQ(r.outcome, Outcome::kPass);
    EXPECT_EQ(r.reason, "");
  }
}

TEST(RedisCheckTest, SelectsTheDatabase) {
  RedisServer server;
  auto check = MakeCheck(Url(server, "", "3"));
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  // The helper's own connection is on db 0; the check's is on db 3.
  EXPECT_THAT(server.Command({"CLIENT", "LIST"}), HasSubstr(" db=3 "));

  auto out_of_range = MakeCheck(Url(server, "", "99"));
  CheckResult r = out_of_range->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("SELECT 99"));
}

TEST(RedisCheckTest, ReplicaRoleAgainstExpectRole) {
  RedisServer master;
  RedisServer replica({"--replicaof", "127.0.0.1", std::to_string(master.port())});
  ASSERT_TRUE(replica.WaitForInfo("master_link_status", "up", 10000));

  CheckResult r = MakeCheck(Url(replica), {{"expect_role", "master"}})->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.reason, "role is replica, expected master");

  r = MakeCheck(Url(replica), {{"expect_role", "replica"}})->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  r = MakeCheck(Url(replica))->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  r = MakeCheck(Url(master), {{"expect_role", "replica"}})->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.reason, "role is master, expected replica");
}

TEST(RedisCheckTest, MemoryOverRatioWarns) {
  RedisServer server;
  auto check = MakeCheck(Url(server));
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  const long long used = std::atoll(server.InfoField("used_memory").c_str());
  ASSERT_GT(used, 0);
  // Just above what is in use: ~98% of maxmemory, over the default 90%.
  ASSERT_EQ(server.Command({"CONFIG", "SET", "maxmemory", std::to_string(used * 102 / 100)}), "OK");
  CheckResult r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kWarn) << r.reason;
  EXPECT_THAT(r.reason, HasSubstr("maxmemory"));

  ASSERT_EQ(server.Command({"CONFIG", "SET", "maxmemory", std::to_string(used * 10)}), "OK");
  r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

// The server is made busy on another connection for longer than slow_ms;
// the race between that command and the check's PING is retried (bounded).
TEST(RedisCheckTest, SlowPingWarns) {
  RedisServer server({"--enable-debug-command", "yes"});
  auto check = MakeCheck(Url(server), {{"slow_ms", 100}});
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  CheckResult r;
  for (int attempt = 0; attempt < 3 && r.outcome != Outcome::kWarn; ++attempt) {
    Background sleep(server, {"DEBUG", "SLEEP", "0.6"});
    std::this_thread::sleep_for(milliseconds(150));
    r = check->Run(In(kBudgetMs));
  }
  EXPECT_EQ(r.outcome, Outcome::kWarn) << r.reason;
  EXPECT_THAT(r.reason, HasSubstr("slow_ms 100"));
}

TEST(RedisCheckTest, BusyServerPastTheDeadlineTimesOut) {
  RedisServer server({"--enable-debug-command", "yes"});
  auto check = MakeCheck(Url(server), {{"slow_ms", 100}});
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  {
    Background sleep(server, {"DEBUG", "SLEEP", "1.5"});
    std::this_thread::sleep_for(milliseconds(150));
    const Deadline deadline = In(300);
    CheckResult r = check->Run(deadline);
    EXPECT_TRUE(r.timed_out) << r.reason;
    EXPECT_LE(Clock::now(), deadline + kLateness);
  }
  CheckResult after = check->Run(In(kBudgetMs));
  EXPECT_EQ(after.outcome, Outcome::kPass) << after.reason;
}

TEST(RedisCheckTest, LoadingDatasetFails) {
  RedisServer server({"--enable-debug-command", "yes"});
  ASSERT_EQ(server.Command({"DEBUG", "POPULATE", "2000"}), "OK");
  // 2000 keys at 0.5 ms each: about a second of loading, during which the
  // server keeps answering other clients (every 1 KiB read).
  ASSERT_EQ(server.Command({"CONFIG", "SET", "key-load-delay", "500"}), "OK");
  ASSERT_EQ(server.Command({"CONFIG", "SET", "loading-process-events-interval-bytes", "1024"}),
            "OK");
  auto check = MakeCheck(Url(server));
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  CheckResult r;
  for (int attempt = 0; attempt < 3 && r.reason.find("LOADING") == std::string::npos; ++attempt) {
    Background reload(server, {"DEBUG", "RELOAD"});
    std::this_thread::sleep_for(milliseconds(200));
    r = check->Run(In(kBudgetMs));
  }
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("LOADING"));
}

TEST(RedisCheckTest, BusyScriptFails) {
  RedisServer server({"--busy-reply-threshold", "100"});
  auto check = MakeCheck(Url(server));
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  CheckResult r;
  {
    Background script(server, {"EVAL", "while true do end", "0"});
    std::this_thread::sleep_for(milliseconds(300));
    r = check->Run(In(kBudgetMs));
    // Ends the script (and the thread): bounded, SCRIPT KILL is allowed while busy.
    const auto end = Clock::now() + milliseconds(5000);
    while (server.CommandOnNewConnection({"SCRIPT", "KILL"}, 1000).find("NOTBUSY") ==
               std::string::npos &&
           Clock::now() < end) {
      std::this_thread::sleep_for(milliseconds(50));
    }
  }
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("BUSY"));
  CheckResult after = check->Run(In(kBudgetMs));
  EXPECT_EQ(after.outcome, Outcome::kPass) << after.reason;
}

TEST(RedisCheckTest, ClusterStateMustBeOk) {
  RedisServer server({"--cluster-enabled", "yes"});
  auto check = MakeCheck(Url(server));
  // A lone node without slots: PING says PONG, the cluster is down.
  CheckResult r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.reason, "cluster_state is fail");

  ASSERT_EQ(server.Command({"CLUSTER", "ADDSLOTSRANGE", "0", "16383"}), "OK");
  const auto end = Clock::now() + milliseconds(10000);
  do {
    std::this_thread::sleep_for(milliseconds(100));
    r = check->Run(In(kBudgetMs));
  } while (r.outcome != Outcome::kPass && Clock::now() < end);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  // Cluster mode known: CLUSTER INFO rides in the same round trip.
  const long long cluster_calls = Calls(server, "cluster|info");
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  EXPECT_EQ(Calls(server, "cluster|info") - cluster_calls, 1);
}

}  // namespace
}  // namespace vigil
