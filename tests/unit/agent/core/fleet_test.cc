// Scope and the fleet-aware verdicts (docs/fleet.md): pure functions of this
// pod's checks and the peers' answers, on fixed times.
#include "agent/core/fleet.h"

#include <gtest/gtest.h>

#include "agent/core/verdict.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const WallClock::time_point kT0 = WallClock::time_point(seconds(1'800'000'000));

CheckView Check(const std::string& name, Status s, bool stay_ready = true, bool required = true) {
  CheckView c;
  c.name = name;
  c.required = required;
  c.status = s;
  c.stay_ready_when_widespread = stay_ready;
  c.since = kT0 - seconds(60);
  c.ever_passed = true;
  return c;
}

PeerAnswer Peer(const std::string& name, std::vector<PeerCheck> checks,
                WallClock::time_point received = kT0) {
  PeerAnswer a;
  a.name = name;
  a.address = "127.0.0.9:8086";
  a.received = received;
  std::sort(checks.begin(), checks.end(),
            [](const PeerCheck& x, const PeerCheck& y) { return x.name < y.name; });
  a.checks = std::move(checks);
  return a;
}

// A fleet of this pod plus `failing` and `passing` peers for check "db".
FleetView Fleet(int failing, int passing, int min_pods = 3) {
  FleetView f;
  f.enabled = true;
  f.min_pods = min_pods;
  f.rounds = 1;
  f.last_round_started = kT0 - seconds(1);
  f.last_round_completed = kT0 - milliseconds(500);
  for (int i = 0; i < failing; ++i)
    f.answers.push_back(Peer("f" + std::to_string(i), {{"db", Status::kFail}}));
  for (int i = 0; i < passing; ++i)
    f.answers.push_back(Peer("p" + std::to_string(i), {{"db", Status::kPass}}));
  return f;
}

HealthSnapshot Snap(std::vector<CheckView> checks) {
  HealthSnapshot s;
  s.checks = std::move(checks);
  return s;
}

TEST(FleetScope, FailingHereAndOnMostPodsIsWidespread) {
  const FleetView f = Fleet(8, 1);
  const CheckScope sc = ScopeOf(Check("db", Status::kFail), &f, kT0);
  EXPECT_TRUE(sc.answered);
  EXPECT_EQ(sc.failing, 9);
  EXPECT_EQ(sc.pods, 10);
  EXPECT_EQ(sc.scope, Scope::kWidespread);
  EXPECT_EQ(sc.failing_pods.size(), 8u);
}

TEST(FleetScope, ExactlyTheRatioIsWidespread) {
  const FleetView f = Fleet(1, 2);  // 2 of 4 with this pod
  EXPECT_EQ(ScopeOf(Check("db", Status::kFail), &f, kT0).scope, Scope::kWidespread);
}

TEST(FleetScope, FailingHereOnlyIsLocal) {
  const FleetView f = Fleet(0, 9);
  const CheckScope sc = ScopeOf(Check("db", Status::kFail), &f, kT0);
  EXPECT_EQ(sc.failing, 1);
  EXPECT_EQ(sc.pods, 10);
  EXPECT_EQ(sc.scope, Scope::kLocal);
}

TEST(FleetScope, PassingHereIsNoneWhateverThePeersSay) {
  const FleetView f = Fleet(9, 0);
  const CheckScope sc = ScopeOf(Check("db", Status::kPass), &f, kT0);
  EXPECT_EQ(sc.failing, 9);
  EXPECT_EQ(sc.scope, Scope::kNone);
}

TEST(FleetScope, FewerThanMinPodsIsNone) {
  const FleetView f = Fleet(1, 0, /*min_pods=*/3);  // 2 pods answer
  const CheckScope sc = ScopeOf(Check("db", Status::kFail), &f, kT0);
  EXPECT_EQ(sc.pods, 2);
  EXPECT_EQ(sc.scope, Scope::kNone);
}

TEST(FleetScope, ACheckCountsOnlyAmongThePodsThatHaveIt) {
  FleetView f = Fleet(2, 0);
  // A rolling update: three newer pods have no "db" check, one has it
  // without a result yet.
  for (int i = 0; i < 3; ++i)
    f.answers.push_back(Peer("new" + std::to_string(i), {{"app", Status::kPass}}));
  f.answers.push_back(Peer("starting", {{"db", Status::kUnknown}}));
  const CheckScope sc = ScopeOf(Check("db", Status::kFail), &f, kT0);
  EXPECT_EQ(sc.pods, 3);
  EXPECT_EQ(sc.failing, 3);
  EXPECT_EQ(sc.scope, Scope::kWidespread);
  EXPECT_EQ(AnsweringPods(&f, kT0), 7);
}

TEST(FleetScope, AnswersExpireAfterThreeRounds) {
  FleetView f = Fleet(0, 0);
  f.interval_ms = 1000;
  for (int i = 0; i < 4; ++i)
    f.answers.push_back(
        Peer("old" + std::to_string(i), {{"db", Status::kFail}}, kT0 - milliseconds(3001)));
  f.answers.push_back(Peer("fresh", {{"db", Status::kFail}}, kT0 - milliseconds(3000)));
  const CheckScope sc = ScopeOf(Check("db", Status::kFail), &f, kT0);
  EXPECT_EQ(sc.pods, 2);
  EXPECT_EQ(sc.scope, Scope::kNone);  // 2 < min_pods: the local verdict
  EXPECT_EQ(AnsweringPods(&f, kT0), 2);
}

TEST(FleetScope, FleetOffIsThisPodAlone) {
  const CheckScope sc = ScopeOf(Check("db", Status::kFail), nullptr, kT0);
  EXPECT_FALSE(sc.answered);
  EXPECT_EQ(sc.failing, 1);
  EXPECT_EQ(sc.pods, 1);
  EXPECT_EQ(sc.scope, Scope::kNone);
  FleetView off;
  EXPECT_EQ(ScopeOf(Check("db", Status::kFail), &off, kT0).scope, Scope::kNone);
  EXPECT_EQ(AnsweringPods(nullptr, kT0), 1);
}

TEST(FleetVerdict, WidespreadStayReadyKeepsThePodReadyAndDegraded) {
  const FleetView f = Fleet(9, 0);
  const HealthSnapshot s = Snap({Check("db", Status::kFail), Check("app", Status::kPass)});
  const Scopes scopes = ScopesOf(s, &f, kT0);
  EXPECT_TRUE(IsReady(s, {}, &scopes));
  EXPECT_EQ(OverallStatus(s, &scopes), Overall::kDegraded);
  // The local verdict, as /fleet/self tells it, is unchanged.
  EXPECT_FALSE(IsReady(s));
  EXPECT_EQ(OverallStatus(s), Overall::kError);
}

TEST(FleetVerdict, WidespreadWithoutStayReadyIsUnreadyAsBefore) {
  const FleetView f = Fleet(9, 0);
  const HealthSnapshot s = Snap({Check("db", Status::kFail, /*stay_ready=*/false)});
  const Scopes scopes = ScopesOf(s, &f, kT0);
  EXPECT_EQ(scopes[0].scope, Scope::kWidespread);  // the scope is shown all the same
  EXPECT_FALSE(IsReady(s, {}, &scopes));
  EXPECT_EQ(OverallStatus(s, &scopes), Overall::kError);
}

TEST(FleetVerdict, LocalFailureMakesThePodUnready) {
  const FleetView f = Fleet(0, 9);
  const HealthSnapshot s = Snap({Check("db", Status::kFail)});
  const Scopes scopes = ScopesOf(s, &f, kT0);
  EXPECT_FALSE(IsReady(s, {}, &scopes));
  EXPECT_EQ(OverallStatus(s, &scopes), Overall::kError);
}

TEST(FleetVerdict, LivenessNeverUsesFleetData) {
  const FleetView f = Fleet(9, 0);
  CheckView c = Check("db", Status::kFail);
  c.liveness = true;
  const HealthSnapshot s = Snap({c});
  const Scopes scopes = ScopesOf(s, &f, kT0);
  EXPECT_TRUE(IsReady(s, {}, &scopes));
  EXPECT_EQ(OverallStatus(s, &scopes), Overall::kError);
  EXPECT_FALSE(IsLive(s, true));
}

TEST(FleetVerdict, OptionalChecksKeepTheirVerdictAndGainTheScope) {
  const FleetView f = Fleet(9, 0);
  const HealthSnapshot s = Snap({Check("db", Status::kFail, true, /*required=*/false)});
  const Scopes scopes = ScopesOf(s, &f, kT0);
  EXPECT_EQ(scopes[0].scope, Scope::kWidespread);
  EXPECT_FALSE(KeptReadyByFleet(s.checks[0], scopes[0]));
  EXPECT_TRUE(IsReady(s, {}, &scopes));
  EXPECT_EQ(OverallStatus(s, &scopes), Overall::kDegraded);
}

// A stay_ready check that has just failed waits for the round started for
// it; with no other answer, the local verdict stands once it is back.
TEST(FleetVerdict, AJustFailedCheckWaitsForItsRound) {
  FleetView f = Fleet(0, 0);
  f.timeout_ms = 500;
  CheckView c = Check("db", Status::kFail);
  c.since = kT0;
  const HealthSnapshot s = Snap({c});
  auto ready_at = [&](WallClock::time_point now) {
    const Scopes scopes = ScopesOf(s, &f, now);
    return IsReady(s, {}, &scopes);
  };
  EXPECT_TRUE(ready_at(kT0 + milliseconds(10)));  // no round yet since the failure
  f.round_in_flight = kT0 + milliseconds(20);     // the round started for it
  EXPECT_TRUE(ready_at(kT0 + milliseconds(400)));
  EXPECT_FALSE(ready_at(kT0 + milliseconds(700)));  // past its deadline and grace
  f.round_in_flight.reset();
  f.last_round_started = kT0 + milliseconds(20);  // ... and it came back
  EXPECT_FALSE(ready_at(kT0 + milliseconds(100)));
}

TEST(FleetVerdict, APendingRoundWaitsAtMostTwoTimeoutsBeforeItStarts) {
  FleetView f = Fleet(0, 0);
  f.timeout_ms = 500;
  CheckView c = Check("db", Status::kFail);
  c.since = kT0;
  const HealthSnapshot s = Snap({c});
  const Scopes early = ScopesOf(s, &f, kT0 + milliseconds(900));
  EXPECT_TRUE(early[0].pending);
  const Scopes late = ScopesOf(s, &f, kT0 + milliseconds(1200));
  EXPECT_FALSE(late[0].pending);
  EXPECT_FALSE(IsReady(s, {}, &late));
}

TEST(FleetAnswer, FindsChecksByName) {
  const PeerAnswer a = Peer("p", {{"zeta", Status::kPass}, {"alpha", Status::kFail}});
  ASSERT_NE(a.Find("alpha"), nullptr);
  EXPECT_EQ(a.Find("alpha")->status, Status::kFail);
  EXPECT_EQ(a.Find("beta"), nullptr);
}

TEST(FleetNames, ScopesAndDropReasons) {
  EXPECT_STREQ(ScopeName(Scope::kWidespread), "widespread");
  EXPECT_STREQ(ScopeName(Scope::kLocal), "local");
  EXPECT_STREQ(ScopeName(Scope::kNone), "none");
  EXPECT_STREQ(DropReasonName(DropReason::kOversized), "oversized");
  EXPECT_EQ(InstanceId().size(), 16u);
  EXPECT_EQ(InstanceId(), InstanceId());
}

}  // namespace
}  // namespace vigil
