// The words of a check's state: its effective status, its breaker, the
// moments and counters /health and /metrics show, and the transitions the
// tracker (agent/core/check_tracker.h) reports.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

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

// Where a check stands for its next run's interval (Envoy's edges): healthy;
// the run right after the first failure; failing or on the way there; the
// run right after the first pass that follows failures.
enum class RunPhase { kHealthy, kUnhealthyEdge, kUnhealthy, kHealthyEdge };

// Flapping (Nagios): results kept for the percent state change.
inline constexpr size_t kFlapWindow = 21;

// Percent state change of `up` (the last results, oldest first, at most
// kFlapWindow; true for pass or warn), weighted as Nagios does: the 20
// possible changes of a 21-result window weigh 0.8 (oldest) to 1.2 (newest),
// linearly; a shorter history counts as the newest end of a window whose
// older results equal its first one. 0..100.
double PercentStateChange(const std::vector<bool>& up);

// What changed with one recorded event; the reporter logs these.
struct Transition {
  bool status_changed = false;
  Status from = Status::kUnknown;
  Status to = Status::kUnknown;
  bool breaker_changed = false;
  BreakerState breaker_from = BreakerState::kClosed;
  BreakerState breaker_to = BreakerState::kClosed;
  // Flapping started (flapping true) or stopped, at flap_percent.
  bool flap_changed = false;
  bool flapping = false;
  double flap_percent = 0;
};

}  // namespace vigil
