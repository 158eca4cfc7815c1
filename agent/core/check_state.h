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
#include "checks/check.h"

namespace vigil {

using WallClock = std::chrono::system_clock;

struct Now {
  Clock::time_point steady;
  WallClock::time_point wall;
  static Now Real() { return {Clock::now(), WallClock::now()}; }
};

// Effective status of a check. kUnknown until the first attempt completes.
enum class Status { kUnknown, kPass, kWarn, kFail };
const char* StatusName(Status s);  // "unknown" | "pass" | "warn" | "fail"

enum class BreakerState { kClosed = 0, kHalfOpen = 1, kOpen = 2 };
const char* BreakerName(BreakerState s);  // "closed" | "half-open" | "open"

// Histogram bucket upper bounds (seconds) for vigil_check_duration_seconds:
// from a loopback PING (~100 µs) to a multi-second timeout.
inline constexpr std::array<double, 14> kDurationBuckets = {
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};

struct DurationHistogram {
  std::array<uint64_t, kDurationBuckets.size()> buckets{};  // cumulative counts
  uint64_t count = 0;
  double sum = 0;
  void Observe(double seconds);
};

// One finished attempt, for the status page's strip of recent runs.
struct RecentRun {
  WallClock::time_point time;
  Outcome outcome = Outcome::kFail;
  double latency_ms = 0;
};
// Runs kept per check: enough for a strip a person reads at a glance, and a
// fixed cost per check in every snapshot and /health answer.
inline constexpr size_t kRecentRuns = 20;

// A change of a check's effective status, for /events and the status page.
struct StateEvent {
  WallClock::time_point time;
  std::string check;
  Status from = Status::kUnknown;
  Status to = Status::kUnknown;
  std::string reason;  // why the new warn/fail (scrubbed); empty otherwise
};
// State changes the agent keeps, the newest ones (agent-wide).
inline constexpr size_t kMaxStateEvents = 50;

// What changed with one recorded event; the reporter logs these.
struct Transition {
  bool status_changed = false;
  Status from = Status::kUnknown;
  Status to = Status::kUnknown;
  bool breaker_changed = false;
  BreakerState breaker_from = BreakerState::kClosed;
  BreakerState breaker_to = BreakerState::kClosed;
};

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
  // Transitions into each breaker state, indexed by BreakerState.
  const std::array<uint64_t, 3>& breaker_transitions() const { return breaker_transitions_; }

 private:
  std::chrono::milliseconds recovery() const {
    return std::chrono::milliseconds(timing_.breaker.recovery_timeout_ms);
  }
  void SetStatus(Status s, Now now, Transition* t);
  void SetBreaker(BreakerState b, Now now, Transition* t);

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
};

}  // namespace vigil
