// What the agent knows about one check: the effective status after the
// healthy/unhealthy thresholds, the circuit breaker, and the counters that
// /health and /metrics show. Pure logic with the time passed in, so every
// transition is unit-tested without sleeping.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/core/check_state.h"

namespace vigil {

class CheckTracker {
 public:
  CheckTracker(CheckTiming timing, Now now);

  // Whether the breaker lets an attempt touch the dependency now. An open
  // breaker past its recovery timeout turns half-open here and allows one trial.
  bool AllowAttempt(Now now, Transition* t);

  // Records a finished attempt (reason already worded and scrubbed).
  Transition Record(const CheckResult& result, Now now);

  // Admin reset: breaker closed, counters cleared; status unchanged until the
  // next attempt (which the scheduler runs at once).
  Transition ResetBreaker(Now now);

  // When an open breaker next allows a trial.
  Clock::time_point BreakerRetryAt() const { return opened_at_ + recovery(); }

  void UpdateTiming(const CheckTiming& timing) { timing_ = timing; }

  Status status() const { return status_; }
  BreakerState breaker() const { return breaker_; }
  WallClock::time_point since() const { return since_; }
  std::chrono::microseconds last_latency() const { return last_latency_; }
  int consecutive_failures() const { return consecutive_failures_; }
  int consecutive_successes() const { return consecutive_successes_; }
  std::optional<WallClock::time_point> last_success() const { return last_success_; }
  const std::string& last_error() const { return last_error_; }
  const std::string& reason() const { return reason_; }
  bool ever_passed() const { return ever_passed_; }
  uint64_t attempts() const { return attempts_; }
  uint64_t failures_total() const { return failures_total_; }
  // Failed attempts by FailureKind (indexed by it); they add up to
  // failures_total().
  const std::array<uint64_t, kFailureKindCount>& failures_by_kind() const {
    return failures_by_kind_;
  }
  // The last kRecentRuns attempts, oldest first.
  std::vector<RecentRun> recent() const;
  // What the latest attempt read (Redis INFO, PostgreSQL recovery state).
  const CheckSignals& signals() const { return signals_; }
  const DurationHistogram& durations() const { return durations_; }
  // notAfter (Unix seconds) of the dependency's TLS certificate, as last seen.
  std::optional<int64_t> tls_not_after() const { return tls_not_after_; }
  // Flapping (agent/core/check_state.h): whether it flaps now, the percent
  // state change of the last kFlapWindow results and those results (oldest
  // first, true for pass or warn).
  bool flapping() const { return flapping_; }
  double flap_percent() const { return flap_percent_; }
  std::vector<bool> flap_history() const;
  // Where the check stands for its next run's interval (after Record).
  RunPhase phase() const { return phase_; }
  // Failing, or passed fewer than healthy_threshold times since a failure.
  bool failing_side() const { return failing_side_; }
  // Transitions into each breaker state, indexed by BreakerState.
  const std::array<uint64_t, 3>& breaker_transitions() const { return breaker_transitions_; }

 private:
  std::chrono::milliseconds recovery() const {
    return std::chrono::milliseconds(timing_.breaker.recovery_timeout_ms);
  }
  void SetStatus(Status s, Now now, Transition* t);
  void SetBreaker(BreakerState b, Now now, Transition* t);
  // The parts of Record: what the run was (latency, signals, the strip of
  // recent runs), the counters its outcome moves, the breaker's step, and
  // the effective status after the thresholds.
  void NoteRun(const CheckResult& r, Now now);
  void CountOutcome(const CheckResult& r, Now now);
  void StepBreaker(bool ok, Now now, Transition* t);
  void StepStatus(Outcome outcome, Now now, Transition* t);
  void StepFlapping(bool ok, Transition* t);
  void StepPhase(bool ok, bool previous_failed);

  CheckTiming timing_;
  Status status_ = Status::kUnknown;
  WallClock::time_point since_;
  BreakerState breaker_ = BreakerState::kClosed;
  Clock::time_point opened_at_{};
  int breaker_failures_ = 0;   // consecutive failed attempts while closed
  int breaker_successes_ = 0;  // consecutive passes while half-open
  int consecutive_failures_ = 0;
  int consecutive_successes_ = 0;
  std::chrono::microseconds last_latency_{0};
  std::optional<WallClock::time_point> last_success_;
  std::string last_error_;
  std::string reason_;  // of the latest attempt, for warn/fail
  bool ever_passed_ = false;
  uint64_t attempts_ = 0;
  uint64_t failures_total_ = 0;
  std::array<uint64_t, kFailureKindCount> failures_by_kind_{};
  std::array<RecentRun, kRecentRuns> recent_{};  // a ring; recent_next_ is the oldest once full
  size_t recent_next_ = 0;
  size_t recent_count_ = 0;
  CheckSignals signals_;
  DurationHistogram durations_;
  std::array<uint64_t, 3> breaker_transitions_{};
  std::optional<int64_t> tls_not_after_;
  uint32_t flap_bits_ = 0;  // the last results, newest in bit 0: 1 for up
  size_t flap_count_ = 0;   // results in flap_bits_, at most kFlapWindow
  bool flapping_ = false;
  double flap_percent_ = 0;
  bool failing_side_ = false;  // since a failure, until healthy_threshold passes
  RunPhase phase_ = RunPhase::kHealthy;
};

}  // namespace vigil
