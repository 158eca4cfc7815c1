// When each check runs: pure timing decisions with the time passed in, so
// every rule is unit-tested without sleeping (tests/unit/schedule_test.cc).
// The scheduler's thread (agent/core/scheduler.h) asks Decide, hands the
// starts to the workers, records the timeouts and sleeps until the plan's
// wake-up.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

#include "agent/core/check_state.h"

namespace vigil {

class CheckTracker;

// Where the scheduler's time comes from: the steady and the wall clock in
// the agent, a fake one in tests.
class ScheduleClock {
 public:
  virtual ~ScheduleClock() = default;
  virtual vigil::Now Now() const = 0;
};

// std::chrono::steady_clock (and the system clock for the wall time).
class SteadyScheduleClock : public ScheduleClock {
 public:
  vigil::Now Now() const override { return vigil::Now::Real(); }
};

// Interval plus jitter in [0, interval * jitter_percent / 100], at least 1 ms
// so that a zero interval can never spin ("prevent live lock", as Envoy puts it).
// `unit` is a uniform draw in [0, 1).
std::chrono::milliseconds JitteredInterval(int interval_ms, int jitter_percent, double unit);

// The gap between a check's first run and its second: uniform in
// (0, interval], at least 1 ms, so that pods started together spread their
// phases at once instead of running in lock-step. `unit` is a uniform draw in
// [0, 1).
std::chrono::milliseconds SpreadInterval(int interval_ms, double unit);

struct RunSlot;

// The interval before the next run (before jitter), by where the check
// stands (CheckTracker::phase, failing_side): interval_ms when healthy,
// unhealthy_interval_ms while failing or on the way there,
// unhealthy_edge_interval_ms after the first failure,
// healthy_edge_interval_ms after the first pass that follows failures; an
// unset one stands in for by the one that would apply otherwise. Never below
// min_interval_ms.
int IntervalFor(const RunSlot& slot, RunPhase phase, bool failing_side);

// One check's place in the schedule.
struct RunSlot {
  RunSlot(int interval, int timeout, int jitter, Clock::time_point first_run)
      : interval_ms(interval), timeout_ms(timeout), jitter_percent(jitter), next_run(first_run) {}

  int interval_ms;
  int timeout_ms;
  int jitter_percent;
  // Detection at the edge (CheckTiming's; 0: unset, IntervalFor says what
  // stands in).
  int unhealthy_interval_ms = 0;
  int unhealthy_edge_interval_ms = 0;
  int healthy_edge_interval_ms = 0;
  int min_interval_ms = 100;
  Clock::time_point next_run;  // when idle: the next start
  Clock::time_point started{};
  Clock::time_point deadline{};  // of the run in flight: started + timeout
  bool in_flight = false;
  bool abandoned = false;  // past its deadline; its timeout is recorded already
  uint64_t attempt = 0;    // runs started
};

// A check as the schedule sees it: its slot and its breaker (the tracker).
struct ScheduledCheck {
  RunSlot* slot;
  CheckTracker* tracker;
};

// One thing to do now, for checks[check] of the Decide call.
struct ScheduleStep {
  enum class Kind {
    kStart,        // run it now; its slot is in flight with its deadline set
    kTimedOut,     // past its deadline: record TimeoutResult; a late answer is dropped
    kBreakerWait,  // due, but the breaker is open: skipped until its trial
  };
  Kind kind;
  size_t check;
  Transition breaker;  // a start may turn an open breaker half-open
};

struct SchedulePlan {
  std::vector<ScheduleStep> steps;
  Clock::time_point wake;  // when to decide again at the latest
};

class Schedule {
 public:
  // How long past its deadline a worker may take to hand in its own result
  // before the timeout is recorded for it.
  static constexpr std::chrono::milliseconds kDeadlineGrace{20};
  // Decide is asked at least this often (the heartbeat /livez reads).
  static constexpr std::chrono::milliseconds kMaxSleep{500};

  explicit Schedule(uint64_t seed) : rng_(seed) {}

  // What to start, what has timed out and what the breaker holds back, at
  // `now`. Updates the slots (and the breakers, an open one past its
  // recovery timeout turning half-open). A check still running is left
  // alone: at most one run of a check is in flight.
  SchedulePlan Decide(Now now, const std::vector<ScheduledCheck>& checks);

  // The run in flight has handed in its result at `now`: sets the next
  // start. The first run was at once; the second comes SpreadInterval after
  // the first one's result (not its start: when a fleet's first runs all
  // time out together against an overloaded server, their retries spread
  // over the interval after the timeout instead of coming at once), each
  // later one JitteredInterval after the previous start.
  // The interval is IntervalFor(phase, failing_side); never two starts
  // closer than min_interval_ms (the spread second run: uniform over what
  // that floor leaves of the interval).
  void Finished(RunSlot* slot, Clock::time_point now, RunPhase phase = RunPhase::kHealthy,
                bool failing_side = false);

  // An edge: the check's kept connection was closed by its dependency while
  // idle. An idle check runs now, or min_interval_ms after its last start if
  // that is later (a dependency that accepts and closes in a loop cannot
  // make it run more often). True if its next run moved earlier.
  static bool Edge(RunSlot* slot, Clock::time_point now);

  // The admin's breaker reset: an idle check runs at once.
  static void RunNow(RunSlot* slot, Clock::time_point now);

  // The result recorded for a run that passed its deadline: a failed run,
  // timed out, that took exactly its timeout.
  static CheckResult TimeoutResult(const RunSlot& slot);

 private:
  void DecideOne(Now now, const ScheduledCheck& c, size_t index, SchedulePlan* plan);
  double Draw();

  std::mt19937_64 rng_;
};

}  // namespace vigil
