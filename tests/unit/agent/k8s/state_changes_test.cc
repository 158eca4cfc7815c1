// Which check state changes become Kubernetes Events, and their words.
#include "agent/k8s/state_changes.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

using namespace std::chrono_literals;

const WallClock::time_point kT0 = WallClock::time_point(std::chrono::seconds(1800000000));

CheckView View(const std::string& name, Status s, WallClock::time_point since, bool required = true,
               const std::string& reason = "") {
  CheckView c;
  c.name = name;
  c.status = s;
  c.since = since;
  c.required = required;
  c.reason = reason;
  return c;
}

HealthSnapshot Snap(std::vector<CheckView> checks) {
  HealthSnapshot s;
  s.checks = std::move(checks);
  return s;
}

TEST(ShortDuration, TwoLargestUnits) {
  EXPECT_EQ(ShortDuration(0s), "0s");
  EXPECT_EQ(ShortDuration(45s), "45s");
  EXPECT_EQ(ShortDuration(134s), "2m14s");
  EXPECT_EQ(ShortDuration(3600s), "1h");
  EXPECT_EQ(ShortDuration(3661s), "1h1m");
  EXPECT_EQ(ShortDuration(90000s), "1d1h");
  EXPECT_EQ(ShortDuration(-5s), "0s");
}

TEST(ChangeWatcher, DownDegradedRecovered) {
  ChangeWatcher w;
  EXPECT_TRUE(w.Observe(Snap({View("redis-session", Status::kUnknown, kT0),
                              View("cache", Status::kUnknown, kT0, false)}))
                  .empty());
  // The first results: passes are no change.
  EXPECT_TRUE(w.Observe(Snap({View("redis-session", Status::kPass, kT0 + 1s),
                              View("cache", Status::kPass, kT0 + 1s, false)}))
                  .empty());
  auto changes =
      w.Observe(Snap({View("redis-session", Status::kFail, kT0 + 135s, true, "connection refused"),
                      View("cache", Status::kFail, kT0 + 61s, false, "timeout after 500 ms")}));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].reason, "DependencyDown");
  EXPECT_EQ(changes[0].type, "Warning");
  EXPECT_EQ(changes[0].note,
            "redis-session (required) failed after 2m14s passing: connection refused");
  EXPECT_EQ(changes[0].time, kT0 + 135s);
  EXPECT_EQ(changes[1].reason, "DependencyDegraded");
  EXPECT_EQ(changes[1].note, "cache (optional) failed after 1m passing: timeout after 500 ms");
  changes = w.Observe(Snap({View("redis-session", Status::kPass, kT0 + 269s),
                            View("cache", Status::kWarn, kT0 + 70s, false, "slow")}));
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].reason, "DependencyRecovered");
  EXPECT_EQ(changes[0].type, "Normal");
  EXPECT_EQ(changes[0].note, "redis-session recovered after 2m14s");
  EXPECT_EQ(changes[1].reason, "DependencyDegraded");
  EXPECT_EQ(changes[1].action, "CheckWarned");
  EXPECT_EQ(changes[1].note, "cache warns after 9s failing: slow");
}

TEST(ChangeWatcher, SameSnapshotTwiceIsNoChange) {
  ChangeWatcher w;
  const HealthSnapshot s = Snap({View("db", Status::kFail, kT0)});
  w.Observe(s);
  EXPECT_TRUE(w.Observe(s).empty());
}

TEST(ChangeWatcher, AFirstFailureHasNoPreviousDuration) {
  ChangeWatcher w;
  w.Observe(Snap({View("db", Status::kUnknown, kT0)}));
  const auto changes = w.Observe(Snap({View("db", Status::kFail, kT0 + 1s, true, "refused")}));
  ASSERT_EQ(changes.size(), 1u);
  EXPECT_EQ(changes[0].note, "db (required) failed: refused");
}

TEST(ChangeWatcher, ResetOnlyLearns) {
  ChangeWatcher w;
  w.Observe(Snap({View("db", Status::kPass, kT0)}));
  w.Reset();
  EXPECT_TRUE(w.Observe(Snap({View("db", Status::kFail, kT0 + 1s)})).empty());
}

struct FlappyView : CheckView {
  bool flapping = false;
};

TEST(ChangeWatcher, FlappingHookFindsTheMember) {
  EXPECT_FALSE(HasFlapping<CheckView>::value && !HasFlapping<FlappyView>::value);
  EXPECT_TRUE(HasFlapping<FlappyView>::value);
  FlappyView v;
  v.name = "db";
  v.status = Status::kFail;
  v.flapping = true;
  EXPECT_TRUE(FlappingOf(v));
  const DependencyChange c = FlappingChange(v);
  EXPECT_EQ(c.reason, "DependencyFlapping");
  EXPECT_EQ(c.note, "db is flapping (now fail)");
}

}  // namespace
}  // namespace vigil
