// Thresholds, the first-result rule and the circuit breaker, with time passed
// in by hand (no sleeping).
#include "agent/core/check_tracker.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

using std::chrono::milliseconds;

class TrackerTest : public ::testing::Test {
 protected:
  Now now_{Clock::time_point(std::chrono::seconds(1000)),
           WallClock::time_point(std::chrono::seconds(1700000000))};

  void Advance(milliseconds d) {
    now_.steady += d;
    now_.wall += d;
  }
  static CheckTiming Timing(int unhealthy = 2, int healthy = 1, int fail_thr = 5,
                            int recovery_ms = 30000, int success_thr = 2) {
    CheckTiming t;
    t.unhealthy_threshold = unhealthy;
    t.healthy_threshold = healthy;
    t.breaker = {fail_thr, recovery_ms, success_thr};
    return t;
  }
  static CheckResult Pass() { return CheckResult::Pass(); }
  static CheckResult Fail() { return CheckResult::Fail("connection refused"); }
};

TEST_F(TrackerTest, UnknownUntilFirstResult) {
  CheckTracker t(Timing(), now_);
  EXPECT_EQ(t.status(), Status::kUnknown);
  EXPECT_FALSE(t.ever_passed());
}

TEST_F(TrackerTest, FirstFailureSetsStateAtOnce) {
  CheckTracker t(Timing(/*unhealthy=*/3), now_);
  Transition tr = t.Record(Fail(), now_);
  EXPECT_TRUE(tr.status_changed);
  EXPECT_EQ(t.status(), Status::kFail);
}

TEST_F(TrackerTest, FirstPassSetsStateAtOnce) {
  CheckTracker t(Timing(2, /*healthy=*/3), now_);
  t.Record(Pass(), now_);
  EXPECT_EQ(t.status(), Status::kPass);
  EXPECT_TRUE(t.ever_passed());
}

TEST_F(TrackerTest, UnhealthyThresholdHoldsAPassingCheck) {
  CheckTracker t(Timing(/*unhealthy=*/3), now_);
  t.Record(Pass(), now_);
  EXPECT_FALSE(t.Record(Fail(), now_).status_changed);  // pending 1/3
  EXPECT_EQ(t.status(), Status::kPass);
  EXPECT_EQ(t.consecutive_failures(), 1);
  EXPECT_EQ(t.last_error(), "connection refused");
  t.Record(Fail(), now_);  // 2/3
  EXPECT_EQ(t.status(), Status::kPass);
  EXPECT_TRUE(t.Record(Fail(), now_).status_changed);  // 3/3
  EXPECT_EQ(t.status(), Status::kFail);
}

TEST_F(TrackerTest, APassResetsThePendingFailures) {
  CheckTracker t(Timing(2), now_);
  t.Record(Pass(), now_);
  t.Record(Fail(), now_);
  t.Record(Pass(), now_);
  t.Record(Fail(), now_);
  EXPECT_EQ(t.status(), Status::kPass);
}

TEST_F(TrackerTest, HealthyThresholdHoldsAFailingCheck) {
  CheckTracker t(Timing(2, /*healthy=*/2), now_);
  t.Record(Fail(), now_);
  t.Record(Pass(), now_);
  EXPECT_EQ(t.status(), Status::kFail);
  t.Record(Pass(), now_);
  EXPECT_EQ(t.status(), Status::kPass);
}

TEST_F(TrackerTest, PassAndWarnSwitchAtOnce) {
  CheckTracker t(Timing(), now_);
  t.Record(Pass(), now_);
  t.Record(CheckResult::Warn("memory 95% of maxmemory"), now_);
  EXPECT_EQ(t.status(), Status::kWarn);
  EXPECT_EQ(t.reason(), "memory 95% of maxmemory");
  t.Record(Pass(), now_);
  EXPECT_EQ(t.status(), Status::kPass);
  EXPECT_EQ(t.reason(), "");
}

TEST_F(TrackerTest, SinceMovesOnlyOnChange) {
  CheckTracker t(Timing(), now_);
  t.Record(Pass(), now_);
  auto first = t.since();
  Advance(milliseconds(5000));
  t.Record(Pass(), now_);
  EXPECT_EQ(t.since(), first);
  t.Record(Fail(), now_);
  t.Record(Fail(), now_);
  EXPECT_EQ(t.since(), now_.wall);
}

TEST_F(TrackerTest, BreakerOpensAfterFailureThreshold) {
  CheckTracker t(Timing(2, 1, /*fail_thr=*/5), now_);
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(t.Record(Fail(), now_).breaker_changed);
  Transition tr = t.Record(Fail(), now_);
  EXPECT_TRUE(tr.breaker_changed);
  EXPECT_EQ(tr.breaker_to, BreakerState::kOpen);
  EXPECT_EQ(t.breaker(), BreakerState::kOpen);
  EXPECT_EQ(t.breaker_transitions()[static_cast<size_t>(BreakerState::kOpen)], 1u);
}

TEST_F(TrackerTest, OpenBreakerRefusesAttemptsUntilRecoveryTimeout) {
  CheckTracker t(Timing(2, 1, 5, /*recovery_ms=*/30000), now_);
  for (int i = 0; i < 5; ++i) t.Record(Fail(), now_);
  Transition tr;
  Advance(milliseconds(29999));
  EXPECT_FALSE(t.AllowAttempt(now_, &tr));
  EXPECT_EQ(t.status(), Status::kFail);  // stays failing while open
  Advance(milliseconds(1));
  EXPECT_TRUE(t.AllowAttempt(now_, &tr));
  EXPECT_TRUE(tr.breaker_changed);
  EXPECT_EQ(t.breaker(), BreakerState::kHalfOpen);
}

TEST_F(TrackerTest, HalfOpenClosesAfterSuccessThresholdPasses) {
  CheckTracker t(Timing(2, 1, 5, 30000, /*success_thr=*/2), now_);
  for (int i = 0; i < 5; ++i) t.Record(Fail(), now_);
  Advance(milliseconds(30000));
  Transition tr;
  ASSERT_TRUE(t.AllowAttempt(now_, &tr));
  t.Record(Pass(), now_);
  EXPECT_EQ(t.breaker(), BreakerState::kHalfOpen);
  EXPECT_EQ(t.status(), Status::kFail);  // one trial is not enough
  tr = t.Record(Pass(), now_);
  EXPECT_EQ(t.breaker(), BreakerState::kClosed);
  EXPECT_EQ(tr.breaker_to, BreakerState::kClosed);
  EXPECT_EQ(t.status(), Status::kPass);
}

TEST_F(TrackerTest, HalfOpenFailureReopens) {
  CheckTracker t(Timing(), now_);
  for (int i = 0; i < 5; ++i) t.Record(Fail(), now_);
  Advance(milliseconds(30000));
  Transition tr;
  ASSERT_TRUE(t.AllowAttempt(now_, &tr));
  t.Record(Pass(), now_);
  tr = t.Record(Fail(), now_);
  EXPECT_EQ(t.breaker(), BreakerState::kOpen);
  EXPECT_EQ(tr.breaker_to, BreakerState::kOpen);
  // The recovery timeout counts again from the reopening.
  Advance(milliseconds(29000));
  EXPECT_FALSE(t.AllowAttempt(now_, &tr));
}

TEST_F(TrackerTest, ResetClosesTheBreaker) {
  CheckTracker t(Timing(), now_);
  for (int i = 0; i < 5; ++i) t.Record(Fail(), now_);
  Transition tr = t.ResetBreaker(now_);
  EXPECT_TRUE(tr.breaker_changed);
  EXPECT_EQ(t.breaker(), BreakerState::kClosed);
  Transition allow;
  EXPECT_TRUE(t.AllowAttempt(now_, &allow));
  t.Record(Pass(), now_);
  EXPECT_EQ(t.status(), Status::kPass);
}

TEST_F(TrackerTest, HistogramIsCumulative) {
  CheckTracker t(Timing(), now_);
  CheckResult r = Pass();
  r.latency = std::chrono::microseconds(700);  // 0.7 ms
  t.Record(r, now_);
  const auto& h = t.durations();
  EXPECT_EQ(h.count, 1u);
  EXPECT_EQ(h.buckets[0], 0u);  // le 0.0005
  EXPECT_EQ(h.buckets[1], 1u);  // le 0.001
  EXPECT_EQ(h.buckets.back(), 1u);
}

// Flapping (docs/configuration.md): Nagios' weighted percent state change over 21 results.
TEST(PercentStateChange, NagiosWeights) {
  EXPECT_DOUBLE_EQ(PercentStateChange({}), 0);
  EXPECT_DOUBLE_EQ(PercentStateChange(std::vector<bool>(21, true)), 0);
  std::vector<bool> alternate;
  for (int i = 0; i < 21; ++i) alternate.push_back(i % 2 == 0);
  EXPECT_NEAR(PercentStateChange(alternate), 100, 1e-9);  // every change, weights average 1
  // One change: the newest weighs 1.2 (6 %), the oldest 0.8 (4 %).
  std::vector<bool> newest(21, true);
  newest[20] = false;
  EXPECT_NEAR(PercentStateChange(newest), 6, 1e-9);
  std::vector<bool> oldest(21, true);
  oldest[0] = false;
  EXPECT_NEAR(PercentStateChange(oldest), 4, 1e-9);
  // A short history is the newest end of the window.
  EXPECT_NEAR(PercentStateChange({true, false}), 6, 1e-9);
  // More than 21: only the last 21 count.
  std::vector<bool> longer(30, true);
  longer[0] = false;
  EXPECT_DOUBLE_EQ(PercentStateChange(longer), 0);
}

TEST_F(TrackerTest, FlappingStartsOverHighAndStopsUnderLow) {
  CheckTracker t(Timing(), now_);
  bool started = false, stopped = false;
  int changes = 0;
  for (int i = 0; i < 21 && !started; ++i) {
    Transition tr = t.Record(i % 2 == 0 ? Pass() : Fail(), now_);
    if (tr.flap_changed) {
      started = tr.flapping;
      EXPECT_GT(tr.flap_percent, 50);
    }
    ++changes;
  }
  ASSERT_TRUE(started);
  EXPECT_TRUE(t.flapping());
  EXPECT_GE(changes, 10);  // not on the first change: a short history is no flap
  for (int i = 0; i < 21 && !stopped; ++i) {
    Transition tr = t.Record(Pass(), now_);
    if (tr.flap_changed) {
      stopped = !tr.flapping;
      EXPECT_LT(tr.flap_percent, 25);
    }
    if (!stopped) {
      EXPECT_TRUE(t.flapping()) << i;  // hysteresis: between 25 and 50 it stays
    }
  }
  EXPECT_TRUE(stopped);
  EXPECT_FALSE(t.flapping());
  EXPECT_EQ(t.flap_history().size(), 21u);
}

TEST_F(TrackerTest, FlapDetectionOffNeverFlaps) {
  CheckTiming timing = Timing();
  timing.flap_detection = false;
  CheckTracker t(timing, now_);
  for (int i = 0; i < 40; ++i) EXPECT_FALSE(t.Record(i % 2 ? Pass() : Fail(), now_).flap_changed);
  EXPECT_FALSE(t.flapping());
  EXPECT_GT(t.flap_percent(), 90);  // still computed, shown
}

TEST_F(TrackerTest, PassWarnChangesAreNoFlap) {
  CheckTracker t(Timing(), now_);
  for (int i = 0; i < 40; ++i) t.Record(i % 2 ? Pass() : CheckResult::Warn("slow"), now_);
  EXPECT_FALSE(t.flapping());
  EXPECT_DOUBLE_EQ(t.flap_percent(), 0);
}

}  // namespace
}  // namespace vigil
