#include "agent/core/check_tracker.h"

#include <algorithm>

#include "agent/core/verdict.h"

namespace vigil {

CheckTracker::CheckTracker(CheckTiming timing, Now now) : timing_(timing), since_(now.wall) {}

void CheckTracker::SetStatus(Status s, Now now, Transition* t) {
  if (s == status_) return;
  t->status_changed = true;
  t->from = status_;
  t->to = s;
  status_ = s;
  since_ = now.wall;
}

void CheckTracker::SetBreaker(BreakerState b, Now now, Transition* t) {
  if (b == breaker_) return;
  t->breaker_changed = true;
  t->breaker_from = breaker_;
  t->breaker_to = b;
  breaker_ = b;
  ++breaker_transitions_[static_cast<size_t>(b)];
  if (b == BreakerState::kOpen) opened_at_ = now.steady;
  breaker_failures_ = 0;
  breaker_successes_ = 0;
}

bool CheckTracker::AllowAttempt(Now now, Transition* t) {
  if (breaker_ != BreakerState::kOpen) return true;
  if (now.steady < BreakerRetryAt()) return false;
  SetBreaker(BreakerState::kHalfOpen, now, t);
  return true;
}

Transition CheckTracker::Record(const CheckResult& r, Now now) {
  Transition t;
  const bool ok = r.outcome != Outcome::kFail;
  const bool previous_failed = consecutive_failures_ > 0;
  NoteRun(r, now);
  CountOutcome(r, now);
  StepBreaker(ok, now, &t);
  StepStatus(r.outcome, now, &t);
  StepFlapping(ok, &t);
  StepPhase(ok, previous_failed);
  return t;
}

// Nagios' flap detection over up/down (a pass <-> warn change is not one:
// both serve). Off: never flapping.
void CheckTracker::StepFlapping(bool ok, Transition* t) {
  flap_bits_ = ((flap_bits_ << 1) | (ok ? 1u : 0u)) & ((1u << kFlapWindow) - 1);
  flap_count_ = std::min(flap_count_ + 1, kFlapWindow);
  flap_percent_ = PercentStateChange(flap_history());
  bool next = flapping_;
  if (!timing_.flap_detection) {
    next = false;
  } else if (!flapping_ && flap_percent_ > timing_.flap_high_percent) {
    next = true;
  } else if (flapping_ && flap_percent_ < timing_.flap_low_percent) {
    next = false;
  }
  if (next == flapping_) return;
  flapping_ = next;
  t->flap_changed = true;
  t->flapping = next;
  t->flap_percent = flap_percent_;
}

// Envoy's edges, as docs/configuration.md words them: the run after the first failure,
// then failing (or on the way there) until healthy_threshold passes; the
// run after the first pass that follows failures.
void CheckTracker::StepPhase(bool ok, bool previous_failed) {
  if (!ok) {
    failing_side_ = true;
    phase_ = consecutive_failures_ == 1 ? RunPhase::kUnhealthyEdge : RunPhase::kUnhealthy;
    return;
  }
  if (consecutive_successes_ >= timing_.healthy_threshold) failing_side_ = false;
  if (previous_failed) {
    phase_ = RunPhase::kHealthyEdge;
  } else {
    phase_ = failing_side_ ? RunPhase::kUnhealthy : RunPhase::kHealthy;
  }
}

std::vector<bool> CheckTracker::flap_history() const {
  std::vector<bool> out;
  out.reserve(flap_count_);
  for (size_t i = flap_count_; i-- > 0;) out.push_back(((flap_bits_ >> i) & 1u) != 0);
  return out;
}

void CheckTracker::NoteRun(const CheckResult& r, Now now) {
  ++attempts_;
  last_latency_ = r.latency;
  if (r.tls_not_after) tls_not_after_ = r.tls_not_after;
  durations_.Observe(std::chrono::duration<double>(r.latency).count());
  reason_ = r.outcome == Outcome::kPass ? std::string() : r.reason;
  signals_ = r.signals;
  recent_[recent_next_] = {now.wall, r.outcome, r.latency.count() / 1000.0};
  recent_next_ = (recent_next_ + 1) % kRecentRuns;
  recent_count_ = std::min(recent_count_ + 1, kRecentRuns);
}

void CheckTracker::CountOutcome(const CheckResult& r, Now now) {
  if (r.outcome != Outcome::kFail) {
    ++consecutive_successes_;
    consecutive_failures_ = 0;
    last_success_ = now.wall;
    ever_passed_ = true;
  } else {
    ++consecutive_failures_;
    consecutive_successes_ = 0;
    ++failures_total_;
    ++failures_by_kind_[static_cast<size_t>(r.failure)];
    last_error_ = r.reason;
  }
}

// Breaker: failure_threshold consecutive failures open it; in half-open
// success_threshold passes close it and one failure reopens it.
void CheckTracker::StepBreaker(bool ok, Now now, Transition* t) {
  switch (breaker_) {
    case BreakerState::kClosed:
      if (ok) {
        breaker_failures_ = 0;
      } else if (++breaker_failures_ >= timing_.breaker.failure_threshold) {
        SetBreaker(BreakerState::kOpen, now, t);
      }
      break;
    case BreakerState::kHalfOpen:
      if (!ok) {
        SetBreaker(BreakerState::kOpen, now, t);
      } else if (++breaker_successes_ >= timing_.breaker.success_threshold) {
        SetBreaker(BreakerState::kClosed, now, t);
      }
      break;
    case BreakerState::kOpen:  // an attempt that started before it opened
      break;
  }
}

void CheckTracker::StepStatus(Outcome outcome, Now now, Transition* t) {
  const bool ok = outcome != Outcome::kFail;
  const Status observed = StatusOf(outcome);
  if (breaker_ != BreakerState::kClosed) {
    // Open or on trial: the dependency counts as failing until the breaker
    // closes, whatever a single trial said.
    SetStatus(Status::kFail, now, t);
  } else if (status_ == Status::kUnknown) {
    // The very first result sets the state at once (faster start-up).
    SetStatus(observed, now, t);
  } else if (status_ == Status::kFail) {
    // Failing: needs healthy_threshold passes in a row, e.g. with 2 a single
    // PONG after an outage does not flip the pod back yet. A breaker that
    // has just closed has seen success_threshold passes: enough on its own.
    if (ok && (consecutive_successes_ >= timing_.healthy_threshold || t->breaker_changed)) {
      SetStatus(observed, now, t);
    }
  } else if (ok) {
    // Passing or warning: pass <-> warn at once (both serve).
    SetStatus(observed, now, t);
  } else if (consecutive_failures_ >= timing_.unhealthy_threshold) {
    // A failure counts only after unhealthy_threshold in a row, e.g. with 2
    // one lost PING is "pending", the second makes it fail.
    SetStatus(Status::kFail, now, t);
  }
}

std::vector<RecentRun> CheckTracker::recent() const {
  std::vector<RecentRun> out;
  out.reserve(recent_count_);
  const size_t first = (recent_next_ + kRecentRuns - recent_count_) % kRecentRuns;
  for (size_t i = 0; i < recent_count_; ++i) out.push_back(recent_[(first + i) % kRecentRuns]);
  return out;
}

Transition CheckTracker::ResetBreaker(Now now) {
  Transition t;
  SetBreaker(BreakerState::kClosed, now, &t);
  breaker_failures_ = 0;
  return t;
}

}  // namespace vigil
