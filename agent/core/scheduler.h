// The Scheduler owns all timing policy, the same for every kind (Envoy's
// health checker base is the model): interval, jitter, the absolute timeout,
// healthy/unhealthy thresholds and the circuit breaker. Checks only run one
// attempt when told. What runs when is decided by the pure schedule
// (agent/core/schedule.h); thresholds and breaker by the tracker
// (agent/core/check_tracker.h); the log lines by agent/log/check_events.h.
//
// Threads: one timing thread asks the schedule, hands starts to the workers,
// records timeouts and sleeps until the schedule's next wake-up; each check
// has one worker thread that executes its attempts, so at most one attempt of
// a check is ever in flight and a stuck one delays no other check. A worker
// that overruns its deadline is abandoned: the attempt is recorded as
// "timeout after N ms" at the deadline and its late answer is thrown away.
// Endpoints never touch any of this: they read the snapshot.
//
// Lifetimes: workers are detached. Each holds a shared_ptr to its own runner
// (its check and its handshake) and only a weak_ptr to the scheduler's core;
// it takes the core only to wait for its next run (at most a second at a
// time) and to hand in a result, so a worker stuck in a dependency after
// Stop() or a reload touches nothing freed, and its late result is dropped.
#pragma once

#include <functional>
#include <memory>
#include <string>

namespace vigil {

class Check;
class Reporter;
class ScheduleClock;
class SnapshotStore;
struct CheckConfig;
struct Config;
struct DaemonState;

using CheckFactory = std::function<std::unique_ptr<Check>(const CheckConfig&)>;

class Scheduler {
 public:
  // `factory` defaults to the built-in kinds, `clock` to the steady clock;
  // both outlive the scheduler.
  Scheduler(SnapshotStore* store, Reporter* reporter, CheckFactory factory = nullptr,
            const ScheduleClock* clock = nullptr);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Starts checking `config.checks`; the first run of every check is now,
  // the second uniformly within (0, interval] after it, later ones every
  // interval plus jitter.
  void Start(const Config& config);

  // Reload: unchanged checks keep their state, results and connections;
  // changed ones start afresh; removed ones disappear everywhere. The
  // reporter keeps scrubbing a removed or changed check's old secrets (a
  // rotated password included) until its late result is discarded.
  void Apply(const Config& config);

  // Admin: closes the check's breaker and runs it now. False if unknown.
  bool ResetBreaker(const std::string& name);

  // The daemon's draining flag and reload counters, shown in every snapshot
  // from now on (the daemon owns them; agent/core/snapshot.h).
  void SetDaemonState(const DaemonState& state);

  // Stops the timing thread; workers still inside an attempt are left to
  // finish on their own (they hold only their own state).
  void Stop();

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace vigil
