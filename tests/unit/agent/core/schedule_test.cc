// The pure schedule with a fake clock (no sleeping, no threads): the first
// run at once, the spread second run, interval plus jitter after it, at most
// one run in flight, the timeout recorded at the deadline whether or not the
// worker returns, the breaker holding a due check back until its trial.
#include "agent/core/schedule.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>

#include "agent/core/check_tracker.h"

namespace vigil {
namespace {

using namespace std::chrono_literals;

TEST(Jitter, StaysWithinBounds) {
  EXPECT_EQ(JitteredInterval(1000, 10, 0.0), 1000ms);
  EXPECT_EQ(JitteredInterval(1000, 10, 0.999999), 1099ms);
  EXPECT_EQ(JitteredInterval(1000, 0, 0.7), 1000ms);
  EXPECT_EQ(JitteredInterval(1000, 100, 0.5), 1500ms);
  EXPECT_EQ(JitteredInterval(0, 0, 0.0), 1ms);         // never zero: no live lock
  EXPECT_EQ(JitteredInterval(1000, 10, 7.0), 1100ms);  // clamped draw
  for (int i = 0; i < 1000; ++i) {
    auto d = JitteredInterval(5000, 10, i / 1000.0);
    EXPECT_GE(d, 5000ms);
    EXPECT_LE(d, 5500ms);
  }
}

TEST(Spread, SecondRunAnywhereInTheInterval) {
  EXPECT_EQ(SpreadInterval(1000, 0.0), 1000ms);  // the whole interval at most
  EXPECT_EQ(SpreadInterval(1000, 0.5), 500ms);
  EXPECT_EQ(SpreadInterval(1000, 0.9999999), 1ms);  // never zero
  EXPECT_EQ(SpreadInterval(0, 0.3), 1ms);
  EXPECT_EQ(SpreadInterval(1000, -3.0), 1000ms);  // clamped draw
  for (int i = 0; i < 1000; ++i) {
    auto d = SpreadInterval(5000, i / 1000.0);
    EXPECT_GT(d, 0ms);
    EXPECT_LE(d, 5000ms);
  }
}

class FakeClock : public ScheduleClock {
 public:
  vigil::Now Now() const override { return now_; }
  void Advance(std::chrono::milliseconds d) {
    now_.steady += d;
    now_.wall += d;
  }

 private:
  vigil::Now now_{Clock::time_point(std::chrono::hours(1000)), WallClock::time_point{}};
};

// One check on the fake clock: its slot, its tracker and the schedule.
class ScheduleTest : public ::testing::Test {
 protected:
  void Add(int interval_ms, int timeout_ms, int jitter_percent = 0, BreakerConfig breaker = {}) {
    CheckTiming timing;
    timing.interval_ms = interval_ms;
    timing.timeout_ms = timeout_ms;
    timing.jitter_percent = jitter_percent;
    timing.unhealthy_threshold = 1;
    timing.breaker = breaker;
    slots_.push_back(
        std::make_unique<RunSlot>(interval_ms, timeout_ms, jitter_percent, clock_.Now().steady));
    trackers_.push_back(std::make_unique<CheckTracker>(timing, clock_.Now()));
  }
  SchedulePlan Decide() {
    std::vector<ScheduledCheck> checks;
    for (size_t i = 0; i < slots_.size(); ++i)
      checks.push_back({slots_[i].get(), trackers_[i].get()});
    return schedule_.Decide(clock_.Now(), checks);
  }
  // Runs check 0 once at the current time, its result in after `took`.
  void RunOnce(std::chrono::milliseconds took, bool pass = true) {
    SchedulePlan plan = Decide();
    ASSERT_EQ(plan.steps.size(), 1u);
    ASSERT_EQ(plan.steps[0].kind, ScheduleStep::Kind::kStart);
    clock_.Advance(took);
    CheckResult r = pass ? CheckResult::Pass() : CheckResult::Fail("down");
    trackers_[0]->Record(r, clock_.Now());
    schedule_.Finished(slots_[0].get(), clock_.Now().steady);
  }
  RunSlot& slot(size_t i = 0) { return *slots_[i]; }
  Clock::time_point now() const { return clock_.Now().steady; }

  FakeClock clock_;
  Schedule schedule_{42};
  std::vector<std::unique_ptr<RunSlot>> slots_;
  std::vector<std::unique_ptr<CheckTracker>> trackers_;
};

TEST_F(ScheduleTest, FirstRunAtOnceWithItsDeadline) {
  Add(1000, 200);
  SchedulePlan plan = Decide();
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].kind, ScheduleStep::Kind::kStart);
  EXPECT_EQ(plan.steps[0].check, 0u);
  EXPECT_TRUE(slot().in_flight);
  EXPECT_EQ(slot().attempt, 1u);
  EXPECT_EQ(slot().deadline, now() + 200ms);
  EXPECT_EQ(plan.wake, now() + 200ms + Schedule::kDeadlineGrace);
}

TEST_F(ScheduleTest, NothingDueSleepsUntilTheNextRunOrTheHeartbeat) {
  EXPECT_EQ(Decide().wake, now() + Schedule::kMaxSleep);  // no checks at all
  Add(1000, 200);
  RunOnce(10ms);
  SchedulePlan plan = Decide();
  EXPECT_TRUE(plan.steps.empty());
  EXPECT_EQ(plan.wake, std::min(slot().next_run, now() + Schedule::kMaxSleep));
}

TEST_F(ScheduleTest, ARunningCheckIsNotStartedAgain) {
  Add(100, 1000);
  ASSERT_EQ(Decide().steps.size(), 1u);
  for (int i = 0; i < 9; ++i) {  // several intervals, all before the deadline
    clock_.Advance(100ms);
    EXPECT_TRUE(Decide().steps.empty()) << i;
  }
  EXPECT_EQ(slot().attempt, 1u);
}

TEST_F(ScheduleTest, TimeoutRecordedAtTheDeadlineWhetherOrNotTheWorkerReturns) {
  Add(100, 50);
  ASSERT_EQ(Decide().steps.size(), 1u);
  clock_.Advance(50ms);  // the deadline: the worker still has its grace
  EXPECT_TRUE(Decide().steps.empty());
  clock_.Advance(Schedule::kDeadlineGrace);
  SchedulePlan plan = Decide();
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].kind, ScheduleStep::Kind::kTimedOut);
  const CheckResult r = Schedule::TimeoutResult(slot());
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(r.failure, FailureKind::kTimeout);
  EXPECT_EQ(r.latency, 50ms);  // what the run cost: its whole timeout
  // Recorded once; no second run while the stuck one is out.
  clock_.Advance(5000ms);
  EXPECT_TRUE(Decide().steps.empty());
  EXPECT_TRUE(slot().abandoned);
  // The worker comes back at last: the second run comes within one interval
  // of its return (the spread second run; a later run would be at once, long
  // overdue, see ARunLongerThanItsIntervalIsFollowedAtOnce).
  schedule_.Finished(&slot(), now());
  EXPECT_FALSE(slot().abandoned);
  EXPECT_GT(slot().next_run, now());
  EXPECT_LE(slot().next_run, now() + 100ms);
  clock_.Advance(100ms);
  ASSERT_EQ(Decide().steps.size(), 1u);
  EXPECT_EQ(slot().attempt, 2u);
}

TEST_F(ScheduleTest, SecondRunsSpreadOverTheIntervalThenIntervalPlusJitter) {
  constexpr int kChecks = 400;
  for (int i = 0; i < kChecks; ++i) Add(1000, 100, 10);
  const Clock::time_point t0 = now();
  EXPECT_EQ(Decide().steps.size(), static_cast<size_t>(kChecks));  // all at once
  clock_.Advance(5ms);
  auto lo = 1000ms, hi = 0ms;
  for (auto& s : slots_) {
    schedule_.Finished(s.get(), now());
    const auto gap = std::chrono::duration_cast<std::chrono::milliseconds>(s->next_run - t0);
    EXPECT_GT(gap, 5ms);  // after the result is in, within an interval of it
    EXPECT_LE(gap, 1005ms);
    lo = std::min(lo, gap);
    hi = std::max(hi, gap);
  }
  // Phases spread at once over the whole interval, not 1000..1100 ms (from
  // min_interval_ms, 100 by default, after the first start: never closer).
  EXPECT_GE(lo, 100ms);
  EXPECT_LT(lo, 200ms);
  EXPECT_GT(hi, 900ms);
  // Each second run starts when due; the third follows interval + jitter.
  clock_.Advance(1000ms);
  EXPECT_EQ(Decide().steps.size(), static_cast<size_t>(kChecks));
  clock_.Advance(1ms);
  for (auto& s : slots_) {
    schedule_.Finished(s.get(), now());
    EXPECT_GE(s->next_run, s->started + 1000ms);
    EXPECT_LE(s->next_run, s->started + 1100ms);
  }
}

TEST_F(ScheduleTest, ARunLongerThanItsIntervalIsFollowedAtOnce) {
  Add(100, 1000);
  RunOnce(10ms);
  clock_.Advance(std::chrono::duration_cast<std::chrono::milliseconds>(slot().next_run - now()));
  RunOnce(300ms);  // the second run took three intervals
  EXPECT_EQ(slot().next_run, now());
}

TEST_F(ScheduleTest, OpenBreakerHoldsTheCheckBackUntilItsTrial) {
  Add(100, 50, 0, {2, 600, 2});
  RunOnce(1ms, /*pass=*/false);
  clock_.Advance(std::chrono::duration_cast<std::chrono::milliseconds>(slot().next_run - now()));
  RunOnce(1ms, /*pass=*/false);
  ASSERT_EQ(trackers_[0]->breaker(), BreakerState::kOpen);
  const Clock::time_point trial = trackers_[0]->BreakerRetryAt();
  clock_.Advance(std::chrono::duration_cast<std::chrono::milliseconds>(slot().next_run - now()));
  SchedulePlan plan = Decide();
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].kind, ScheduleStep::Kind::kBreakerWait);
  EXPECT_FALSE(slot().in_flight);
  EXPECT_EQ(slot().next_run, trial);
  EXPECT_EQ(slot().attempt, 2u);  // the dependency is left alone
  clock_.Advance(std::chrono::duration_cast<std::chrono::milliseconds>(trial - now()) - 1ms);
  EXPECT_TRUE(Decide().steps.empty());
  clock_.Advance(1ms);
  plan = Decide();
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].kind, ScheduleStep::Kind::kStart);  // the trial
  EXPECT_TRUE(plan.steps[0].breaker.breaker_changed);
  EXPECT_EQ(plan.steps[0].breaker.breaker_to, BreakerState::kHalfOpen);
}

TEST_F(ScheduleTest, RunNowStartsAnIdleCheckButNotARunningOne) {
  Add(60000, 100);
  RunOnce(1ms);
  Schedule::RunNow(&slot(), now());
  ASSERT_EQ(Decide().steps.size(), 1u);
  const Clock::time_point deadline = slot().deadline;
  Schedule::RunNow(&slot(), now());
  EXPECT_TRUE(Decide().steps.empty());
  EXPECT_EQ(slot().deadline, deadline);
}

TEST_F(ScheduleTest, ChecksAreDecidedIndependently) {
  Add(100, 50);
  Add(100, 50);
  SchedulePlan plan = Decide();
  ASSERT_EQ(plan.steps.size(), 2u);
  // Check 0 hangs; check 1 keeps its rhythm meanwhile.
  int runs_of_1 = 1;
  for (int i = 0; i < 20; ++i) {
    clock_.Advance(10ms);
    for (const ScheduleStep& step : Decide().steps) {
      if (step.check == 1 && step.kind == ScheduleStep::Kind::kStart) ++runs_of_1;
      EXPECT_FALSE(step.check == 0 && step.kind == ScheduleStep::Kind::kStart);
    }
    if (slot(1).in_flight) schedule_.Finished(&slot(1), now());
  }
  EXPECT_GE(runs_of_1, 2);
  EXPECT_TRUE(slot(0).abandoned);
}

// Detection at the edge (docs/configuration.md): Envoy's intervals by where the check
// stands, the edge that runs an idle check at once, and the floor
// (min_interval_ms) that no edge gets under.
class EdgeScheduleTest : public ScheduleTest {
 protected:
  void AddEdge(int healthy_threshold = 2) {
    Add(5000, 1000);
    RunSlot& s = slot();
    s.unhealthy_interval_ms = 100;
    s.unhealthy_edge_interval_ms = 50;
    s.healthy_edge_interval_ms = 300;
    s.min_interval_ms = 20;
    CheckTiming timing;
    timing.interval_ms = 5000;
    timing.jitter_percent = 0;
    timing.unhealthy_threshold = 2;
    timing.healthy_threshold = healthy_threshold;
    trackers_[0] = std::make_unique<CheckTracker>(timing, clock_.Now());
  }
  // Runs check 0 now (due or not), 1 ms long; the gap to its next start.
  std::chrono::milliseconds Step(bool pass) {
    slot().next_run = std::min(slot().next_run, now());
    SchedulePlan plan = Decide();
    EXPECT_EQ(plan.steps.size(), 1u);
    const Clock::time_point started = now();
    clock_.Advance(1ms);
    trackers_[0]->Record(pass ? CheckResult::Pass() : CheckResult::Fail("down"), clock_.Now());
    schedule_.Finished(slots_[0].get(), now(), trackers_[0]->phase(), trackers_[0]->failing_side());
    return std::chrono::duration_cast<std::chrono::milliseconds>(slot().next_run - started);
  }
};

TEST_F(EdgeScheduleTest, IntervalsFollowWhereTheCheckStands) {
  AddEdge(/*healthy_threshold=*/2);
  Step(true);                     // the first run: spread, whatever
  EXPECT_EQ(Step(true), 5000ms);  // healthy: interval_ms
  EXPECT_EQ(Step(false), 50ms);   // right after the first failure: the unhealthy edge
  EXPECT_EQ(Step(false), 100ms);  // failing: unhealthy_interval_ms
  EXPECT_EQ(Step(false), 100ms);
  EXPECT_EQ(Step(true), 300ms);   // the first pass after failures: the healthy edge
  EXPECT_EQ(Step(true), 5000ms);  // healthy_threshold (2) passed: the interval again
  EXPECT_EQ(Step(false), 50ms);   // a new first failure
  EXPECT_EQ(Step(true), 300ms);
  EXPECT_EQ(Step(false), 50ms);  // a failure right after: the first of a new streak
}

TEST_F(EdgeScheduleTest, UnsetEdgesTakeTheIntervalThatAppliesThen) {
  AddEdge(/*healthy_threshold=*/3);
  slot().unhealthy_edge_interval_ms = 0;
  slot().healthy_edge_interval_ms = 0;
  Step(true);
  EXPECT_EQ(Step(false), 100ms);  // the unhealthy edge defaults to unhealthy_interval_ms
  EXPECT_EQ(Step(true), 100ms);   // first pass, 2 more to go: still the unhealthy interval
  EXPECT_EQ(Step(true), 100ms);
  EXPECT_EQ(Step(true), 5000ms);
  slot().unhealthy_interval_ms = 0;  // none set: the interval everywhere
  EXPECT_EQ(Step(false), 5000ms);
  EXPECT_EQ(Step(false), 5000ms);
}

TEST_F(EdgeScheduleTest, NoIntervalUnderTheFloor) {
  AddEdge();
  slot().min_interval_ms = 200;
  Step(true);
  EXPECT_EQ(Step(false), 200ms);  // 50 asked, 200 the floor
  EXPECT_EQ(Step(false), 200ms);
  EXPECT_EQ(IntervalFor(slot(), RunPhase::kHealthy, false), 5000);
  EXPECT_EQ(IntervalFor(slot(), RunPhase::kHealthyEdge, true), 300);
}

TEST_F(EdgeScheduleTest, AnEdgeRunsAnIdleCheckAtOnce) {
  AddEdge();
  Step(true);
  Step(true);
  clock_.Advance(1000ms);  // idle, 4 s before its slot
  EXPECT_TRUE(Schedule::Edge(&slot(), now()));
  EXPECT_EQ(slot().next_run, now());
  SchedulePlan plan = Decide();
  ASSERT_EQ(plan.steps.size(), 1u);
  EXPECT_EQ(plan.steps[0].kind, ScheduleStep::Kind::kStart);
  EXPECT_FALSE(Schedule::Edge(&slot(), now()));  // in flight: nothing to move
}

TEST_F(EdgeScheduleTest, EdgesNeverRunACheckMoreOftenThanTheFloor) {
  // A dependency that accepts and closes in a loop: an edge after every run,
  // each run 1 ms long, for 10 s of fake time.
  AddEdge();
  slot().min_interval_ms = 100;
  int starts = 0;
  Clock::time_point last_start{};
  const Clock::time_point end = now() + 10s;
  while (now() < end) {
    Schedule::Edge(&slot(), now());
    SchedulePlan plan = Decide();
    bool started = false;
    for (const ScheduleStep& s : plan.steps) {
      if (s.kind != ScheduleStep::Kind::kStart) continue;
      started = true;
      if (starts > 0) {
        EXPECT_GE(now() - last_start, 100ms);
      }
      ++starts;
      last_start = now();
      clock_.Advance(1ms);
      trackers_[0]->Record(CheckResult::Pass(), clock_.Now());
      schedule_.Finished(slots_[0].get(), now(), trackers_[0]->phase(),
                         trackers_[0]->failing_side());
    }
    if (started) continue;  // the result's Land pokes the timer: decide again
    // The timer sleeps until the plan's wake-up; never a busy loop.
    ASSERT_GT(plan.wake, now());
    clock_.Advance(std::chrono::duration_cast<std::chrono::milliseconds>(plan.wake - now()));
  }
  EXPECT_LE(starts, 101);
  EXPECT_GE(starts, 90);
}

}  // namespace
}  // namespace vigil
