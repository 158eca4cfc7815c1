// Every row of the /health status table and of the role table.
#include "agent/core/verdict.h"

#include <gtest/gtest.h>

#include "agent/config/config.h"

namespace vigil {
namespace {

CheckView MakeCheck(const std::string& name, bool required, Status s, bool liveness = false) {
  CheckView c;
  c.name = name;
  c.required = required;
  c.status = s;
  c.liveness = liveness;
  c.ever_passed = s == Status::kPass || s == Status::kWarn;
  return c;
}

HealthSnapshot Snap(std::vector<CheckView> checks, bool draining = false) {
  HealthSnapshot s;
  s.checks = std::move(checks);
  s.draining = draining;
  return s;
}

TEST(RoleTable, OptionalRoles) {
  for (const char* role : {"cache", "pubsub", "flags", "queue"})
    EXPECT_FALSE(RoleRequiredByDefault(role)) << role;
}

TEST(RoleTable, RequiredRoles) {
  for (const char* role : {"session", "lock", "idempotency", "rate-limit", "database", "app"})
    EXPECT_TRUE(RoleRequiredByDefault(role)) << role;
}

TEST(Overall, EveryCheckPassesIsOk) {
  auto s = Snap({MakeCheck("db", true, Status::kPass), MakeCheck("cache", false, Status::kPass)});
  EXPECT_EQ(OverallStatus(s), Overall::kOk);
  EXPECT_EQ(OverallHttpCode(OverallStatus(s)), 200);
  EXPECT_TRUE(IsReady(s));
}

TEST(Overall, OptionalFailingIsDegraded200AndStillReady) {
  auto s = Snap({MakeCheck("db", true, Status::kPass), MakeCheck("cache", false, Status::kFail)});
  EXPECT_EQ(OverallStatus(s), Overall::kDegraded);
  EXPECT_EQ(OverallHttpCode(OverallStatus(s)), 200);
  EXPECT_TRUE(IsReady(s));  // the defining rule: a cache outage keeps the pod in
}

TEST(Overall, AnyWarnIsDegraded) {
  auto s = Snap({MakeCheck("db", true, Status::kWarn), MakeCheck("cache", false, Status::kPass)});
  EXPECT_EQ(OverallStatus(s), Overall::kDegraded);
  EXPECT_TRUE(IsReady(s));  // warn still serves
  s = Snap({MakeCheck("db", true, Status::kPass), MakeCheck("cache", false, Status::kWarn)});
  EXPECT_EQ(OverallStatus(s), Overall::kDegraded);
}

TEST(Overall, RequiredFailingIsError503AndUnready) {
  auto s = Snap({MakeCheck("db", true, Status::kFail), MakeCheck("cache", false, Status::kPass)});
  EXPECT_EQ(OverallStatus(s), Overall::kError);
  EXPECT_EQ(OverallHttpCode(OverallStatus(s)), 503);
  EXPECT_FALSE(IsReady(s));
}

TEST(Overall, LivenessCheckFailingIsErrorAndNotLive) {
  auto s = Snap({MakeCheck("app", false, Status::kFail, /*liveness=*/true)});
  EXPECT_EQ(OverallStatus(s), Overall::kError);
  EXPECT_FALSE(IsLive(s, true));
}

TEST(Overall, RequiredNotCompletedIsStarting503) {
  auto s =
      Snap({MakeCheck("db", true, Status::kUnknown), MakeCheck("cache", false, Status::kPass)});
  EXPECT_EQ(OverallStatus(s), Overall::kStarting);
  EXPECT_EQ(OverallHttpCode(OverallStatus(s)), 503);
  EXPECT_FALSE(IsReady(s));
  EXPECT_FALSE(IsStarted(s));
}

TEST(Overall, ErrorWinsOverStarting) {
  auto s = Snap({MakeCheck("db", true, Status::kUnknown), MakeCheck("s", true, Status::kFail)});
  EXPECT_EQ(OverallStatus(s), Overall::kError);
}

TEST(Overall, OptionalNotCompletedDoesNotHoldStartup) {
  auto s =
      Snap({MakeCheck("db", true, Status::kPass), MakeCheck("cache", false, Status::kUnknown)});
  EXPECT_EQ(OverallStatus(s), Overall::kOk);
  EXPECT_TRUE(IsStarted(s));
  EXPECT_TRUE(IsReady(s));
}

TEST(Overall, NoChecksIsOk) {
  HealthSnapshot s;
  EXPECT_EQ(OverallStatus(s), Overall::kOk);
  EXPECT_TRUE(IsReady(s));
  EXPECT_TRUE(IsLive(s, true));
  EXPECT_TRUE(IsStarted(s));
}

TEST(Live, NeverDependsOnRedisOrDatabase) {
  auto s = Snap({MakeCheck("db", true, Status::kFail), MakeCheck("cache", false, Status::kFail),
                 MakeCheck("session", true, Status::kUnknown)});
  EXPECT_TRUE(IsLive(s, true));
}

TEST(Live, StalledLoopIsNotLive) {
  HealthSnapshot s;
  EXPECT_FALSE(IsLive(s, /*loop_alive=*/false));
}

TEST(Ready, DrainingIsUnreadyButLive) {
  auto s = Snap({MakeCheck("db", true, Status::kPass)}, /*draining=*/true);
  EXPECT_FALSE(IsReady(s));
  EXPECT_TRUE(IsLive(s, true));
}

TEST(Ready, ExcludeLeavesACheckOut) {
  auto s = Snap({MakeCheck("db", true, Status::kPass), MakeCheck("session", true, Status::kFail)});
  EXPECT_FALSE(IsReady(s));
  EXPECT_TRUE(IsReady(s, {"session"}));
}

TEST(Started, NeedsEveryRequiredCheckToHavePassedOnce) {
  auto db = MakeCheck("db", true, Status::kFail);
  db.ever_passed = true;  // passed once, failing now: started stays true
  EXPECT_TRUE(IsStarted(Snap({db})));
  EXPECT_FALSE(IsStarted(Snap({db, MakeCheck("s", true, Status::kFail)})));
}

// Root cause (docs/configuration.md): a failing check is blocked by the failing checks it
// depends on; readiness does not change.
TEST(BlockedBy, OnlyWhileBothFail) {
  CheckView app = MakeCheck("app", true, Status::kFail);
  app.depends_on = {"cache", "db"};
  auto s =
      Snap({MakeCheck("db", true, Status::kFail), MakeCheck("cache", false, Status::kPass), app});
  EXPECT_EQ(BlockedBy(s, s.checks[2]), (std::vector<std::string>{"db"}));
  s.checks[1].status = Status::kFail;
  EXPECT_EQ(BlockedBy(s, s.checks[2]), (std::vector<std::string>{"cache", "db"}));
  EXPECT_FALSE(IsReady(s));  // app keeps its own verdict
  s.checks[2].status = Status::kPass;
  EXPECT_TRUE(BlockedBy(s, s.checks[2]).empty());
  s.checks[2].status = Status::kFail;
  s.checks[0].status = Status::kPass;
  s.checks[1].status = Status::kWarn;
  EXPECT_TRUE(BlockedBy(s, s.checks[2]).empty());
}

// flap_hold (docs/configuration.md): a flapping required check holds readiness on its
// failing side, even while its latest result passes; "none" does not.
TEST(FlapHold, FlappingRequiredCheckIsHeldUnready) {
  CheckView db = MakeCheck("db", true, Status::kPass);
  db.flapping = true;
  auto s = Snap({db, MakeCheck("cache", false, Status::kPass)});
  EXPECT_TRUE(HeldUnready(s.checks[0]));
  EXPECT_FALSE(IsReady(s));
  EXPECT_EQ(OverallStatus(s), Overall::kError);
  s.checks[0].flap_hold = false;
  EXPECT_TRUE(IsReady(s));
  EXPECT_EQ(OverallStatus(s), Overall::kOk);
  // An optional check that flaps never holds readiness.
  s.checks[0].flap_hold = true;
  s.checks[0].flapping = false;
  s.checks[1].flapping = true;
  EXPECT_TRUE(IsReady(s));
  EXPECT_FALSE(HeldUnready(s.checks[1]));
  // Liveness does not read the hold.
  s.checks[0].flapping = true;
  s.checks[0].liveness = true;
  EXPECT_TRUE(IsLive(s, true));
}

}  // namespace
}  // namespace vigil
