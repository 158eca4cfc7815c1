#include "agent/core/schedule.h"

#include <algorithm>
#include <cmath>

#include "agent/core/check_tracker.h"

namespace vigil {

std::chrono::milliseconds JitteredInterval(int interval_ms, int jitter_percent, double unit) {
  double jitter = interval_ms * (jitter_percent / 100.0) * std::clamp(unit, 0.0, 1.0);
  auto ms = static_cast<int64_t>(interval_ms + jitter);
  return std::chrono::milliseconds(std::max<int64_t>(1, ms));
}

std::chrono::milliseconds SpreadInterval(int interval_ms, double unit) {
  // 1 - unit is in (0, 1]: the whole interval is a possible gap, zero is not.
  const double gap = interval_ms * (1.0 - std::clamp(unit, 0.0, 1.0));
  const auto ms = static_cast<int64_t>(std::ceil(gap));
  return std::chrono::milliseconds(std::clamp<int64_t>(ms, 1, std::max(1, interval_ms)));
}

SchedulePlan Schedule::Decide(Now now, const std::vector<ScheduledCheck>& checks) {
  SchedulePlan plan;
  plan.wake = now.steady + kMaxSleep;
  for (size_t i = 0; i < checks.size(); ++i) DecideOne(now, checks[i], i, &plan);
  return plan;
}

void Schedule::DecideOne(Now now, const ScheduledCheck& c, size_t index, SchedulePlan* plan) {
  RunSlot& s = *c.slot;
  if (s.in_flight) {
    if (s.abandoned) return;  // waiting for the late answer, to drop it
    if (now.steady >= s.deadline + kDeadlineGrace) {
      // The worker is stuck past its deadline: the timeout is recorded at
      // the deadline now, whether or not the worker ever returns.
      s.abandoned = true;
      plan->steps.push_back({ScheduleStep::Kind::kTimedOut, index, {}});
    } else {
      plan->wake = std::min(plan->wake, s.deadline + kDeadlineGrace);
    }
    return;
  }
  if (now.steady >= s.next_run) {
    Transition t;
    if (c.tracker->AllowAttempt(now, &t)) {
      s.in_flight = true;
      ++s.attempt;
      s.started = now.steady;
      s.deadline = now.steady + std::chrono::milliseconds(s.timeout_ms);
      plan->steps.push_back({ScheduleStep::Kind::kStart, index, t});
      plan->wake = std::min(plan->wake, s.deadline + kDeadlineGrace);
      return;
    }
    // Breaker open: leave the dependency alone until the trial. Not an
    // attempt, so counted in neither attempts nor failures.
    s.next_run = c.tracker->BreakerRetryAt();
    plan->steps.push_back({ScheduleStep::Kind::kBreakerWait, index, t});
  }
  plan->wake = std::min(plan->wake, s.next_run);
}

double Schedule::Draw() { return std::uniform_real_distribution<double>(0.0, 1.0)(rng_); }

int IntervalFor(const RunSlot& slot, RunPhase phase, bool failing_side) {
  const int unhealthy =
      slot.unhealthy_interval_ms > 0 ? slot.unhealthy_interval_ms : slot.interval_ms;
  int ms = slot.interval_ms;
  switch (phase) {
    case RunPhase::kHealthy:
      break;
    case RunPhase::kUnhealthy:
      ms = unhealthy;
      break;
    case RunPhase::kUnhealthyEdge:
      ms = slot.unhealthy_edge_interval_ms > 0 ? slot.unhealthy_edge_interval_ms : unhealthy;
      break;
    case RunPhase::kHealthyEdge:
      ms = slot.healthy_edge_interval_ms > 0 ? slot.healthy_edge_interval_ms
           : failing_side                    ? unhealthy
                                             : slot.interval_ms;
      break;
  }
  return std::max(ms, slot.min_interval_ms);
}

void Schedule::Finished(RunSlot* slot, Clock::time_point now, RunPhase phase, bool failing_side) {
  slot->in_flight = false;
  slot->abandoned = false;
  const int ms = IntervalFor(*slot, phase, failing_side);
  const auto floor = slot->started + std::chrono::milliseconds(slot->min_interval_ms);
  if (slot->attempt == 1) {
    // Spread over what the floor leaves of the interval: uniform, no pile-up
    // of phases at min_interval_ms.
    const auto earliest = std::max(now, floor);
    const auto left =
        ms -
        std::chrono::duration_cast<std::chrono::milliseconds>(earliest - slot->started).count();
    slot->next_run =
        earliest + SpreadInterval(static_cast<int>(std::max<int64_t>(1, left)), Draw());
  } else {
    const auto gap = JitteredInterval(ms, slot->jitter_percent, Draw());
    slot->next_run = std::max(slot->started + gap, now);
  }
  slot->next_run = std::max(slot->next_run, floor);
}

bool Schedule::Edge(RunSlot* slot, Clock::time_point now) {
  if (slot->in_flight) return false;
  Clock::time_point at = now;
  if (slot->attempt > 0) {
    at = std::max(now, slot->started + std::chrono::milliseconds(slot->min_interval_ms));
  }
  if (at >= slot->next_run) return false;
  slot->next_run = at;
  return true;
}

void Schedule::RunNow(RunSlot* slot, Clock::time_point now) {
  if (!slot->in_flight) slot->next_run = now;
}

CheckResult Schedule::TimeoutResult(const RunSlot& slot) {
  CheckResult timeout;
  timeout.outcome = Outcome::kFail;
  timeout.timed_out = true;
  timeout.failure = FailureKind::kTimeout;
  timeout.latency =
      std::chrono::duration_cast<std::chrono::microseconds>(slot.deadline - slot.started);
  return timeout;
}

}  // namespace vigil
