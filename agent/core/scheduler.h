// The Scheduler owns all timing policy, the same for every kind (Envoy's
// health checker base is the model): interval, jitter, the absolute timeout,
// healthy/unhealthy thresholds and the circuit breaker. Checks only run one
// attempt when told.
//
// Threads: one timing thread decides when each check runs and enforces
// deadlines; each check has one worker thread that executes its attempts, so
// at most one attempt of a check is ever in flight and a stuck one delays no
// other check. A worker that overruns its deadline is abandoned: the attempt
// is recorded as "timeout after N ms" at the deadline and its late answer is
// thrown away. Endpoints never touch any of this: they read the snapshot.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "agent/config/config.h"
#include "agent/core/snapshot.h"
#include "agent/log/reporter.h"

namespace vigil {

using CheckFactory = std::function<std::unique_ptr<Check>(const CheckConfig&)>;

class Scheduler {
 public:
  Scheduler(SnapshotStore* store, Reporter* reporter, CheckFactory factory = nullptr);
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

  void SetDraining(bool draining);
  void CountReload(bool ok);

  // Stops the timing thread; workers still inside an attempt are left to
  // finish on their own (they hold only their own state).
  void Stop();

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace vigil
