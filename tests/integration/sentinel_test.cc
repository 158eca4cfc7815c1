// redis+sentinel:// against a real redis-sentinel watching a master and a
// replica on 127.0.0.1.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
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
using testing::RedisServer;
using testing::SentinelServer;

constexpr int kBudgetMs = 3000;

Deadline In(int ms) { return Clock::now() + milliseconds(ms); }

std::unique_ptr<Check> MakeCheck(const std::string& url) {
  return testing::BuildCheck("redis", {{"url", url}}).check;
}

// Polls until `done` or `ms` pass.
template <typename F>
bool Eventually(int ms, F done) {
  const auto end = Clock::now() + milliseconds(ms);
  do {
    if (done()) return true;
    std::this_thread::sleep_for(milliseconds(100));
  } while (Clock::now() < end);
  return false;
}

TEST(SentinelTest, FollowsFailover) {
  RedisServer master;
  RedisServer replica({"--replicaof", "127.0.0.1", std::to_string(master.port())});
  ASSERT_TRUE(replica.WaitForInfo("master_link_status", "up", 10000));
  SentinelServer sentinel(master.port());
  // Sentinel learns of the replica from the master's INFO, then INFOs it.
  ASSERT_TRUE(Eventually(10000, [&] {
    std::string r = sentinel.Command({"SENTINEL", "REPLICAS", "mymaster"});
    return r.find(std::to_string(replica.port())) != std::string::npos &&
           r.find("master-link-status\nok") != std::string::npos;
  })) << sentinel.Command({"SENTINEL", "REPLICAS", "mymaster"});

  auto check = MakeCheck("redis+sentinel://" + sentinel.address() + "/mymaster");
  // A Sentinel that is down is skipped for the next one.
  const int dead = testing::FreePort();
  auto skipping = MakeCheck("redis+sentinel://127.0.0.1:" + std::to_string(dead) + "," +
                            sentinel.address() + "/mymaster");
  CheckResult r = check->Run(In(kBudgetMs));
  ASSERT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_EQ(check->Target(), master.address());
  r = skipping->Run(In(kBudgetMs));
  ASSERT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_EQ(skipping->Target(), master.address());

  // Steady state: Sentinel asked and master checked on kept connections.
  const std::string master_conns = master.InfoField("total_connections_received");
  const std::string sentinel_conns = sentinel.InfoField("total_connections_received");
  for (int i = 0; i < 5; ++i) ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  EXPECT_EQ(master.InfoField("total_connections_received"), master_conns);
  EXPECT_EQ(sentinel.InfoField("total_connections_received"), sentinel_conns);

  ASSERT_TRUE(Eventually(10000, [&] {
    return sentinel.Command({"SENTINEL", "FAILOVER", "mymaster"}) == "OK";
  }));
  bool followed = Eventually(20000, [&] {
    r = check->Run(In(kBudgetMs));
    return r.outcome == Outcome::kPass && check->Target() == replica.address();
  });
  EXPECT_TRUE(followed) << r.reason << " target " << check->Target();
  EXPECT_TRUE(Eventually(5000, [&] {
    r = skipping->Run(In(kBudgetMs));
    return r.outcome == Outcome::kPass && skipping->Target() == replica.address();
  })) << r.reason;
}

TEST(SentinelTest, NoSentinelAnswering) {
  const int a = testing::FreePort();
  const int b = testing::FreePort();
  auto check = MakeCheck("redis+sentinel://:pw-S3cret@127.0.0.1:" + std::to_string(a) +
                         ",127.0.0.1:" + std::to_string(b) + "/mymaster");
  CheckResult r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_FALSE(r.timed_out);
  EXPECT_THAT(r.reason, HasSubstr("no sentinel answered"));
  EXPECT_THAT(r.reason, HasSubstr("refused"));
  EXPECT_THAT(r.reason, ::testing::Not(HasSubstr("pw-S3cret")));
}

TEST(SentinelTest, UnknownMasterName) {
  RedisServer master;
  SentinelServer sentinel(master.port());
  auto check = MakeCheck("redis+sentinel://" + sentinel.address() + "/other");
  CheckResult r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("no sentinel answered"));
  EXPECT_THAT(r.reason, HasSubstr("master \"other\" unknown"));
}

TEST(SentinelTest, PausedSentinelTimesOutAtTheDeadline) {
  RedisServer master;
  SentinelServer sentinel(master.port());
  auto check = MakeCheck("redis+sentinel://" + sentinel.address() + "/mymaster");
  ASSERT_EQ(check->Run(In(kBudgetMs)).outcome, Outcome::kPass);
  sentinel.Pause();
  const Deadline deadline = In(300);
  CheckResult r = check->Run(deadline);
  EXPECT_TRUE(r.timed_out) << r.reason;
  EXPECT_LE(Clock::now(), deadline + milliseconds(150));
  sentinel.Resume();
  r = check->Run(In(kBudgetMs));
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

}  // namespace
}  // namespace vigil
