#include "agent/core/scheduler.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>
#include <algorithm>
#include <deque>
#include <thread>
#include <utility>

#include "agent/config/config.h"
#include "agent/core/check_tracker.h"
#include "agent/core/schedule.h"
#include "agent/core/snapshot.h"
#include "agent/log/check_events.h"
#include "agent/log/reporter.h"
#include "checks/common/thread_annotations.h"

namespace vigil {
namespace {

// Runners share their core's mutex: a function that holds the core's `held`
// holds a runner's `alias` (the same Mutex). The analysis compares names, not
// objects, so it is told here.
void SameMutex(const Mutex& held, const Mutex& alias) VIGIL_REQUIRES(held)
    VIGIL_THREAD_ANNOTATION(assert_capability(alias)) {
  (void)held;
  (void)alias;
}

RunSlot SlotOf(const CheckTiming& t, Clock::time_point first_run) {
  RunSlot s(t.interval_ms, t.timeout_ms, t.jitter_percent, first_run);
  s.unhealthy_interval_ms = t.unhealthy_interval_ms;
  s.unhealthy_edge_interval_ms = t.unhealthy_edge_interval_ms;
  s.healthy_edge_interval_ms = t.healthy_edge_interval_ms;
  s.min_interval_ms = t.min_interval_ms;
  return s;
}

CheckLabel LabelOf(const CheckConfig& c) { return {c.name, c.kind, c.role, c.required}; }

// One check: its live object, what the core knows of it and the handshake
// with its worker thread.
struct Runner {
  Runner(Mutex& core_mu, const CheckConfig& c, std::unique_ptr<Check> chk, Reporter* reporter,
         Now now)
      : mu(core_mu),
        check(std::move(chk)),
        config(c),
        tracker(c.timing, now),
        slot(SlotOf(c.timing, now.steady)),
        events(reporter, LabelOf(c)),
        target(check->Target()) {}

  ~Runner() { close(wake_fd); }
  Runner(const Runner&) = delete;
  Runner& operator=(const Runner&) = delete;

  // Wakes the worker whichever way it waits (the condition variable, or
  // poll on its check's kept connection and wake_fd).
  void Wake() {
    cv.NotifyAll();
    const uint64_t one = 1;
    if (write(wake_fd, &one, sizeof one) < 0) {
      // Full (it counts to 2^64) or closed: the worker is awake anyway.
    }
  }

  Mutex& mu;                     // the core's
  std::unique_ptr<Check> check;  // touched only by the worker thread (once running)
  // Worker only: what came on the idle connection was harmless but the
  // socket may stay readable, so the worker waits without watching it until
  // the next run (no spin).
  bool idle_watch_paused = false;
  const int wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  CheckConfig config VIGIL_GUARDED_BY(mu);
  CheckTracker tracker VIGIL_GUARDED_BY(mu);
  RunSlot slot VIGIL_GUARDED_BY(mu);  // first run: at once
  CheckEvents events VIGIL_GUARDED_BY(mu);
  std::string target VIGIL_GUARDED_BY(mu);
  bool go VIGIL_GUARDED_BY(mu) = false;    // the worker is to run slot.attempt now
  bool quit VIGIL_GUARDED_BY(mu) = false;  // stopped, or removed by a reload
  CondVar cv;                              // wakes the worker
};

// What a worker is told: run until `deadline`, as attempt number `attempt`.
struct Order {
  Deadline deadline;
  uint64_t attempt = 0;
};

// One attempt of a check, bounded by its deadline; an exception is a failure.
CheckResult RunAttempt(Check& check, Deadline deadline) {
  const auto t0 = Clock::now();
  CheckResult result;
  try {
    result = check.Run(deadline);
  } catch (const std::exception& e) {
    result = CheckResult::Fail(std::string("internal error: ") + e.what());
  } catch (...) {
    result = CheckResult::Fail("internal error");
  }
  result.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
  if (result.outcome == Outcome::kFail) check.Close();
  return result;
}

const SteadyScheduleClock kSteadyClock;

}  // namespace

struct Scheduler::Core : std::enable_shared_from_this<Scheduler::Core> {
  Core(SnapshotStore* s, Reporter* r, CheckFactory f, const ScheduleClock* c)
      : store(s),
        reporter(r),
        factory(std::move(f)),
        clock(c ? *c : kSteadyClock),
        started_at(clock.Now().wall),
        started_steady(clock.Now().steady) {}

  SnapshotStore* const store;
  Reporter* const reporter;
  const CheckFactory factory;
  const ScheduleClock& clock;
  const WallClock::time_point started_at;
  const Clock::time_point started_steady;

  Mutex mu;
  CondVar cv;  // wakes the timing thread
  std::vector<std::shared_ptr<Runner>> runners VIGIL_GUARDED_BY(mu);
  // Removed or replaced checks whose attempt was still in flight at a reload:
  // their late answer is thrown away, but until it comes their credentials
  // stay in the scrubber (the driver's error text may quote them).
  std::vector<std::shared_ptr<Runner>> retired VIGIL_GUARDED_BY(mu);
  std::vector<std::string> config_secrets VIGIL_GUARDED_BY(mu);
  bool stop VIGIL_GUARDED_BY(mu) = false;
  bool poked VIGIL_GUARDED_BY(mu) = false;  // something changed: decide again now
  DaemonState daemon VIGIL_GUARDED_BY(mu);
  uint64_t generation VIGIL_GUARDED_BY(mu) = 0;
  std::deque<StateEvent> events VIGIL_GUARDED_BY(mu);
  std::shared_ptr<const std::vector<StateEvent>> events_view VIGIL_GUARDED_BY(mu) =
      std::make_shared<const std::vector<StateEvent>>();
  Schedule schedule VIGIL_GUARDED_BY(mu){std::random_device{}() ^ static_cast<uint64_t>(getpid())};
  std::thread timer;

  std::shared_ptr<Runner> MakeRunner(const CheckConfig& c, Now now) {
    auto r = std::make_shared<Runner>(mu, c, factory(c), reporter, now);
    std::weak_ptr<Core> weak = shared_from_this();
    std::thread([weak, r] { WorkerLoop(weak, r); }).detach();
    return r;
  }

  static void WorkerLoop(const std::weak_ptr<Core>& weak, const std::shared_ptr<Runner>& r) {
    for (;;) {
      Order order;
      bool run = false;
      if (!AwaitOrder(weak, *r, &order, &run)) return;
      if (!run) continue;  // a quiet second: look whether the core is still there
      CheckResult result = RunAttempt(*r->check, order.deadline);
      r->idle_watch_paused = false;
      std::string target = r->check->Target();
      auto core = weak.lock();
      if (!core) return;
      core->Complete(r, order.attempt, std::move(result), std::move(target));
    }
  }

  // Waits up to a second for the next run (`*run`, with its order). False
  // when the worker is to end: the core is gone or the runner quit. With a
  // kept connection, it watches it meanwhile (detection at the edge).
  static bool AwaitOrder(const std::weak_ptr<Core>& weak, Runner& r, Order* order, bool* run) {
    auto core = weak.lock();
    if (!core) return false;
    const int idle_fd = r.idle_watch_paused ? -1 : r.check->IdleFd();
    if (idle_fd >= 0) return core->WatchIdle(r, idle_fd, order, run);
    MutexLock lock(r.mu);
    r.cv.WaitFor(lock, std::chrono::seconds(1),
                 [&r]() VIGIL_NO_THREAD_SAFETY_ANALYSIS { return r.go || r.quit; });
    if (r.quit) return false;
    *run = r.go;
    if (r.go) {
      r.go = false;
      *order = {r.slot.deadline, r.slot.attempt};
    }
    return true;
  }

  // AwaitOrder with a kept connection: poll it and the wake-up for up to a
  // second. A lost connection (the check says so, and closed it) asks the
  // schedule for a run now, rate limited by min_interval_ms.
  bool WatchIdle(Runner& r, int idle_fd, Order* order, bool* run) VIGIL_EXCLUDES(mu) {
    if (TakeOrder(r, order, run)) return *run;  // false: the runner quit
    pollfd p[2] = {{idle_fd, static_cast<short>(POLLIN | POLLRDHUP), 0}, {r.wake_fd, POLLIN, 0}};
    const int n = poll(p, 2, 1000);
    uint64_t count = 0;
    if (read(r.wake_fd, &count, sizeof count) < 0) {
      // Nothing to drain.
    }
    if (n > 0 && p[0].revents != 0) {
      if (r.check->IdleConnectionLost()) {
        EdgeLost(r);
      } else {
        // Harmless and consumed; if the socket is still readable, the check
        // could not drain it: stop watching until the next run (no spin).
        pollfd again{idle_fd, static_cast<short>(POLLIN | POLLRDHUP), 0};
        r.idle_watch_paused = poll(&again, 1, 0) > 0;
      }
    }
    return TakeOrder(r, order, run) ? *run : true;
  }

  // An order waiting for the worker, taken (`*run`); true if there is one or
  // the runner quit.
  bool TakeOrder(Runner& r, Order* order, bool* run) VIGIL_EXCLUDES(mu) {
    MutexLock lock(mu);
    SameMutex(mu, r.mu);
    *run = r.go && !r.quit;
    if (r.go) {
      r.go = false;
      *order = {r.slot.deadline, r.slot.attempt};
    }
    return *run || r.quit;
  }

  // The dependency closed the check's kept connection while idle.
  void EdgeLost(Runner& r) VIGIL_EXCLUDES(mu) {
    MutexLock lock(mu);
    SameMutex(mu, r.mu);
    if (stop || r.quit) return;
    if (Schedule::Edge(&r.slot, clock.Now().steady)) Poke();
  }

  // The scrubber's secrets: the current config's and the retired checks'.
  void UpdateSecretsLocked() VIGIL_REQUIRES(mu) {
    std::vector<std::string> secrets = config_secrets;
    for (const auto& r : retired) {
      SameMutex(mu, r->mu);
      secrets.insert(secrets.end(), r->config.secrets.begin(), r->config.secrets.end());
    }
    reporter->SetSecrets(secrets);
  }

  void Poke() VIGIL_REQUIRES(mu) {
    poked = true;
    cv.NotifyAll();
  }

  void Complete(const std::shared_ptr<Runner>& r, uint64_t attempt, CheckResult result,
                std::string target) VIGIL_EXCLUDES(mu) {
    MutexLock lock(mu);
    SameMutex(mu, r->mu);
    if (stop || r->slot.attempt != attempt) return;
    if (r->quit) {
      // The late answer of a check that a reload removed or replaced: not
      // logged, not recorded, and its credentials may leave the scrubber.
      auto it = std::find(retired.begin(), retired.end(), r);
      if (it != retired.end()) {
        retired.erase(it);
        UpdateSecretsLocked();
      }
      return;
    }
    Land(*r, std::move(result), std::move(target));
  }

  // A worker's result, in time or after its timeout was recorded.
  void Land(Runner& r, CheckResult result, std::string target) VIGIL_REQUIRES(mu) {
    SameMutex(mu, r.mu);
    if (r.target != target) {
      r.events.TargetChanged(r.target, target);
      r.target = std::move(target);
    }
    // What the dependency said on the side: the check passes each distinct
    // one once; scrubbed like every line.
    for (const std::string& note : result.notes) r.events.Notice(note);
    Now now = clock.Now();
    if (!r.slot.abandoned) RecordLocked(r, std::move(result), now);
    schedule.Finished(&r.slot, now.steady, r.tracker.phase(), r.tracker.failing_side());
    Publish();
    Poke();
  }

  void RecordLocked(Runner& r, CheckResult result, Now now) VIGIL_REQUIRES(mu) {
    SameMutex(mu, r.mu);
    const CheckTiming& timing = r.config.timing;
    if (result.timed_out) {
      result.reason = TimeoutReasonOf(result, std::chrono::milliseconds(timing.timeout_ms));
    }
    ApplyCertExpiry(
        &result, timing.cert_expiry_warn_days,
        std::chrono::duration_cast<std::chrono::seconds>(now.wall.time_since_epoch()).count());
    result.reason = reporter->redactor().Scrub(std::move(result.reason));
    // A pass with a note: checks say it once; it is logged, not shown as a warn.
    if (result.outcome == Outcome::kPass && !result.reason.empty()) {
      r.events.PassNote(result.reason);
    }
    Transition t = r.tracker.Record(result, now);
    ReportTransition(r, t, now);
    if (result.outcome == Outcome::kFail && !t.status_changed &&
        r.tracker.status() == Status::kFail) {
      r.events.FailedAgain(r.tracker.reason(), r.tracker.since(), now.steady);
    }
  }

  void ReportTransition(Runner& r, const Transition& t, Now now) VIGIL_REQUIRES(mu) {
    SameMutex(mu, r.mu);
    if (t.breaker_changed) {
      switch (t.breaker_to) {
        case BreakerState::kOpen:
          r.events.CircuitOpened(r.tracker.reason());
          break;
        case BreakerState::kHalfOpen:
          r.events.CircuitHalfOpen();
          break;
        case BreakerState::kClosed:
          r.events.CircuitClosed();
          break;
      }
    }
    if (t.flap_changed) {
      if (t.flapping) {
        r.events.Flapping(t.flap_percent);
      } else {
        r.events.FlappingStopped(t.flap_percent);
      }
    }
    if (!t.status_changed) return;
    const std::string& reason = r.tracker.reason();
    AddEvent({now.wall, r.config.name, t.from, t.to, reason});
    if (t.to == Status::kFail) {
      r.events.Failed(reason, now.steady, BlockerLocked(r));
    } else if (t.to == Status::kWarn) {
      r.events.Warned(reason);
    } else if (t.to == Status::kPass && t.from != Status::kUnknown) {
      r.events.Recovered();
    } else if (t.to == Status::kPass) {
      r.events.Passed();
    }
  }

  // The first check of r's depends_on that fails now (BlockedBy's rule on
  // the live trackers), or "".
  std::string BlockerLocked(const Runner& r) VIGIL_REQUIRES(mu) {
    SameMutex(mu, r.mu);
    for (const std::string& dep : r.config.depends_on) {
      for (const auto& o : runners) {
        if (!o) continue;
        SameMutex(mu, o->mu);
        if (o->config.name == dep && o->tracker.status() == Status::kFail) return dep;
      }
    }
    return {};
  }

  // Bounded: the oldest event goes when the ring is full. The view that
  // snapshots share is rebuilt here only, so a publish costs a pointer copy.
  void AddEvent(StateEvent e) VIGIL_REQUIRES(mu) {
    events.push_back(std::move(e));
    while (events.size() > kMaxStateEvents) events.pop_front();
    events_view = std::make_shared<const std::vector<StateEvent>>(events.begin(), events.end());
  }

  void Publish() VIGIL_REQUIRES(mu) {
    auto snap = std::make_shared<HealthSnapshot>();
    vigil::SetDaemonState(daemon, snap.get());
    snap->started_at = started_at;
    snap->started_steady = started_steady;
    snap->events = events_view;
    snap->generation = ++generation;
    snap->checks.reserve(runners.size());
    for (const auto& r : runners) {
      SameMutex(mu, r->mu);
      snap->checks.push_back(ViewOf(r->config, r->target, r->tracker));
    }
    store->Set(std::move(snap));
  }

  // The timing thread: ask the schedule, carry out its plan, sleep until its
  // wake-up or until something changes.
  void TimerLoop() VIGIL_EXCLUDES(mu) {
    MutexLock lock(mu);
    while (!stop) {
      const Now now = clock.Now();
      store->Beat(now.steady);
      std::vector<ScheduledCheck> checks;
      checks.reserve(runners.size());
      for (const auto& r : runners) {
        SameMutex(mu, r->mu);
        checks.push_back({&r->slot, &r->tracker});
      }
      const SchedulePlan plan = schedule.Decide(now, checks);
      if (Carry(plan, now)) Publish();
      poked = false;
      cv.WaitUntil(lock, plan.wake,
                   [this]() VIGIL_NO_THREAD_SAFETY_ANALYSIS { return poked || stop; });
    }
  }

  // Starts runs and records timeouts; true if a snapshot is due.
  bool Carry(const SchedulePlan& plan, Now now) VIGIL_REQUIRES(mu) {
    bool dirty = false;
    for (const ScheduleStep& step : plan.steps) {
      Runner& r = *runners[step.check];
      SameMutex(mu, r.mu);
      if (step.kind == ScheduleStep::Kind::kStart) {
        r.go = true;
        r.Wake();
      } else if (step.kind == ScheduleStep::Kind::kTimedOut) {
        // Recorded at the deadline; the worker's eventual answer is dropped.
        RecordLocked(r, Schedule::TimeoutResult(r.slot), now);
        dirty = true;
      }
      if (step.breaker.breaker_changed) {
        ReportTransition(r, step.breaker, now);
        dirty = true;
      }
    }
    return dirty;
  }

  void QuitRunner(Runner& r) VIGIL_REQUIRES(mu) {
    SameMutex(mu, r.mu);
    r.quit = true;
    r.Wake();
  }

  // A reload's checks: the running one if unchanged, else a new one.
  std::shared_ptr<Runner> KeepOrMake(const CheckConfig& c, Now now) VIGIL_REQUIRES(mu) {
    for (auto& r : runners) {
      if (!r) continue;
      SameMutex(mu, r->mu);
      if (r->config.name != c.name || !r->config.SameAs(c)) continue;
      r->config = c;  // same spec and timing; flags may be re-read
      r->events.Relabel(LabelOf(c));
      return std::exchange(r, nullptr);
    }
    return MakeRunner(c, now);
  }

  // After a reload: the runners left over quit; those in flight retire.
  void RetireLeftovers() VIGIL_REQUIRES(mu) {
    for (auto& r : runners) {
      if (!r) continue;
      SameMutex(mu, r->mu);
      QuitRunner(*r);
      if (r->slot.in_flight) retired.push_back(r);
    }
  }
};

Scheduler::Scheduler(SnapshotStore* store, Reporter* reporter, CheckFactory factory,
                     const ScheduleClock* clock)
    : core_(std::make_shared<Core>(
          store, reporter,
          factory ? std::move(factory) : [](const CheckConfig& c) { return BuildCheck(c); },
          clock)) {}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start(const Config& config) {
  const Now now = core_->clock.Now();
  {
    MutexLock lock(core_->mu);
    for (const auto& c : config.checks) core_->runners.push_back(core_->MakeRunner(c, now));
    core_->config_secrets = config.secrets;
    core_->UpdateSecretsLocked();
    core_->Publish();
  }
  core_->timer = std::thread([core = core_] { core->TimerLoop(); });
}

void Scheduler::Apply(const Config& config) {
  const Now now = core_->clock.Now();
  MutexLock lock(core_->mu);
  std::vector<std::shared_ptr<Runner>> next;
  for (const auto& c : config.checks) next.push_back(core_->KeepOrMake(c, now));
  core_->RetireLeftovers();
  core_->runners = std::move(next);
  core_->config_secrets = config.secrets;
  core_->UpdateSecretsLocked();
  core_->Publish();
  core_->Poke();
}

bool Scheduler::ResetBreaker(const std::string& name) {
  MutexLock lock(core_->mu);
  for (auto& r : core_->runners) {
    SameMutex(core_->mu, r->mu);
    if (r->config.name != name) continue;
    const Now now = core_->clock.Now();
    Transition t = r->tracker.ResetBreaker(now);
    core_->ReportTransition(*r, t, now);
    Schedule::RunNow(&r->slot, now.steady);
    core_->Publish();
    core_->Poke();
    return true;
  }
  return false;
}

void Scheduler::SetDaemonState(const DaemonState& state) {
  MutexLock lock(core_->mu);
  core_->daemon = state;
  core_->Publish();
}

void Scheduler::Stop() {
  {
    MutexLock lock(core_->mu);
    if (core_->stop) return;
    core_->stop = true;
    for (auto& r : core_->runners) core_->QuitRunner(*r);
    core_->Poke();
  }
  if (core_->timer.joinable()) core_->timer.join();
}

}  // namespace vigil
