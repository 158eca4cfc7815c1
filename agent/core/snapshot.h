// The immutable picture every endpoint answers from. The scheduler builds a
// new one whenever something changes and swaps it in; a request takes a
// shared_ptr to the current one and never waits on a check.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/core/check_state.h"

namespace vigil {

struct CheckView {
  std::string name;
  std::string kind;
  std::string role;
  bool required = false;
  bool liveness = false;
  // "when_widespread": "stay_ready", and its ratio (agent/core/fleet.h).
  bool stay_ready_when_widespread = false;
  double widespread_ratio = 0.5;
  // "depends_on": the checks whose failure is this one's root cause.
  std::vector<std::string> depends_on;
  std::string target;
  int interval_ms = 0;
  int timeout_ms = 0;
  int jitter_percent = 0;
  Status status = Status::kUnknown;
  WallClock::time_point since;
  double latency_ms = 0;
  int consecutive_failures = 0;
  std::optional<WallClock::time_point> last_success;
  std::string last_error;  // latest failure's reason, kept after recovery
  std::string reason;      // why the current warn/fail
  BreakerState circuit = BreakerState::kClosed;
  bool ever_passed = false;
  uint64_t attempts = 0;
  uint64_t failures_total = 0;
  std::array<uint64_t, kFailureKindCount> failures_by_kind{};  // indexed by FailureKind
  std::vector<RecentRun> recent;  // the last kRecentRuns attempts, oldest first
  CheckSignals signals;           // what the latest attempt read
  DurationHistogram durations;
  std::array<uint64_t, 3> breaker_transitions{};
  // TLS checks: notAfter (Unix seconds) of the dependency's certificate.
  std::optional<int64_t> tls_not_after;
  // Flapping (docs/configuration.md): flapping now, the percent state change and the
  // results it is computed from (the last kFlapWindow, oldest first, true
  // for pass or warn); flap_hold: "flap_hold": "unready".
  bool flapping = false;
  double flap_percent = 0;
  std::vector<bool> flap_history;
  bool flap_hold = true;
};

struct HealthSnapshot {
  std::vector<CheckView> checks;  // in config order
  bool draining = false;
  WallClock::time_point started_at;
  Clock::time_point started_steady;
  uint64_t config_reloads = 0;
  uint64_t config_reload_failures = 0;
  // The latest reload's outcome (true at start), and when the config last
  // loaded successfully (start, then each applied reload).
  bool last_reload_ok = true;
  WallClock::time_point last_reload_success;
  // The last kMaxStateEvents state changes, oldest first; shared between
  // snapshots (rebuilt only when one is added). Never null once published.
  std::shared_ptr<const std::vector<StateEvent>> events;
  uint64_t generation = 0;

  const CheckView* Find(const std::string& name) const {
    for (const auto& c : checks)
      if (c.name == name) return &c;
    return nullptr;
  }
};

// What the daemon owns and each snapshot shows beside the checks: draining
// and the config reloads. The daemon keeps it and hands a copy to the
// scheduler, which puts it into every snapshot it publishes.
struct DaemonState {
  bool draining = false;
  uint64_t config_reloads = 0;
  uint64_t config_reload_failures = 0;
  bool last_reload_ok = true;
  WallClock::time_point last_reload_success = WallClock::now();

  // A reload was tried at `now`; `ok`: it was applied.
  void CountReload(bool ok, WallClock::time_point now);
};

class CheckTracker;
struct CheckConfig;

// A check's entry in the snapshot: its config, its current target and what
// its tracker knows.
CheckView ViewOf(const CheckConfig& config, const std::string& target, const CheckTracker& tracker);

// A check's identity from its config (name, kind, role, required, liveness),
// with no result yet: the start of ViewOf and of `vigil check`'s rows.
CheckView IdentityOf(const CheckConfig& config);

// Puts the daemon's state into a snapshot.
void SetDaemonState(const DaemonState& d, HealthSnapshot* s);

// Holds the current snapshot; readers and the one writer never block each other
// for longer than a shared_ptr copy.
class SnapshotStore {
 public:
  SnapshotStore() : current_(std::make_shared<const HealthSnapshot>()) {}
  std::shared_ptr<const HealthSnapshot> Get() const { return std::atomic_load(&current_); }
  void Set(std::shared_ptr<const HealthSnapshot> s) {
    std::atomic_store(&current_, std::move(s));
    if (auto ls = std::atomic_load(&listeners_)) {
      for (const auto& l : *ls) l();
    }
  }
  // Each is called after every Set, on the publisher's thread: must not
  // block (the fleet client's wake-up when a check changes).
  void AddListener(std::function<void()> f) {
    auto ls = std::atomic_load(&listeners_);
    auto next = std::make_shared<std::vector<std::function<void()>>>(
        ls ? *ls : std::vector<std::function<void()>>{});
    next->push_back(std::move(f));
    std::atomic_store(&listeners_,
                      std::shared_ptr<const std::vector<std::function<void()>>>(std::move(next)));
  }

  // The scheduler loop's heartbeat, for /livez: steady-clock nanoseconds.
  void Beat(Clock::time_point now) { heartbeat_.store(now.time_since_epoch().count()); }
  Clock::time_point LastBeat() const {
    return Clock::time_point(Clock::duration(heartbeat_.load()));
  }

 private:
  std::shared_ptr<const HealthSnapshot> current_;
  std::shared_ptr<const std::vector<std::function<void()>>> listeners_;
  std::atomic<Clock::rep> heartbeat_{Clock::now().time_since_epoch().count()};
};

}  // namespace vigil
