#include "agent/core/scheduler.h"

#include "agent/core/schedule.h"

#include <unistd.h>
#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <random>
#include <thread>

namespace vigil {
namespace {

// How long past its deadline a worker may take to hand in its own result
// before the timing thread records the timeout for it.
constexpr auto kDeadlineGrace = std::chrono::milliseconds(20);
// A check that keeps failing is logged again at most this often, with a count.
constexpr auto kStillFailingEvery = std::chrono::seconds(60);
// The timing thread wakes at least this often (heartbeat for /livez).
constexpr auto kMaxSleep = std::chrono::milliseconds(500);

struct Runner {
  Runner(CheckConfig c, std::unique_ptr<Check> chk, Now now)
      : config(std::move(c)), check(std::move(chk)), tracker(config.timing, now) {}

  CheckConfig config;
  std::unique_ptr<Check> check;  // touched only by the worker thread
  // Everything below is guarded by Core::mu.
  CheckTracker tracker;
  std::string target;
  Clock::time_point next_run{};
  Clock::time_point started{};
  Clock::time_point deadline{};
  bool in_flight = false;
  bool abandoned = false;  // deadline passed, timeout recorded already
  bool go = false;
  bool quit = false;
  uint64_t attempt = 0;
  Clock::time_point last_fail_log{};
  uint64_t fails_since_log = 0;
  std::condition_variable cv;
};

}  // namespace

struct Scheduler::Core : std::enable_shared_from_this<Scheduler::Core> {
  SnapshotStore* store;
  Reporter* reporter;
  CheckFactory factory;

  std::mutex mu;
  std::condition_variable cv;
  std::vector<std::shared_ptr<Runner>> runners;  // Guarded by mu.
  // Removed or replaced checks whose attempt was still in flight at a reload:
  // their late answer is thrown away, but until it comes their credentials
  // stay in the scrubber (the driver's error text may quote them).
  std::vector<std::shared_ptr<Runner>> retired;  // Guarded by mu.
  std::vector<std::string> config_secrets;       // Guarded by mu.
  bool stop = false;                             // Guarded by mu.
  bool draining = false;                         // Guarded by mu.
  uint64_t reloads = 0;                          // Guarded by mu.
  uint64_t reload_failures = 0;                  // Guarded by mu.
  uint64_t generation = 0;                       // Guarded by mu.
  WallClock::time_point started_at = WallClock::now();
  Clock::time_point started_steady = Clock::now();
  bool last_reload_ok = true;                                   // Guarded by mu.
  WallClock::time_point last_reload_success = started_at;       // Guarded by mu.
  std::deque<StateEvent> events;                                // Guarded by mu.
  std::shared_ptr<const std::vector<StateEvent>> events_view =  // Guarded by mu.
      std::make_shared<const std::vector<StateEvent>>();
  std::mt19937_64 rng{std::random_device{}() ^ static_cast<uint64_t>(getpid())};
  std::thread timer;

  std::shared_ptr<Runner> MakeRunner(const CheckConfig& c, Now now) {
    auto r = std::make_shared<Runner>(c, factory(c), now);
    r->target = r->check->Target();
    r->next_run = now.steady;  // first run at once
    std::weak_ptr<Core> weak = shared_from_this();
    std::thread([weak, r] { WorkerLoop(weak, r); }).detach();
    return r;
  }

  static void WorkerLoop(std::weak_ptr<Core> weak, std::shared_ptr<Runner> r) {
    for (;;) {
      Deadline deadline;
      uint64_t attempt;
      {
        auto core = weak.lock();
        if (!core) return;
        std::unique_lock<std::mutex> lock(core->mu);
        // Wake up now and then to notice a Core that is gone.
        while (!r->go && !r->quit) r->cv.wait_for(lock, std::chrono::seconds(1));
        if (r->quit) return;
        r->go = false;
        deadline = r->deadline;
        attempt = r->attempt;
      }
      const auto t0 = Clock::now();
      CheckResult result;
      try {
        result = r->check->Run(deadline);
      } catch (const std::exception& e) {
        result = CheckResult::Fail(std::string("internal error: ") + e.what());
      } catch (...) {
        result = CheckResult::Fail("internal error");
      }
      result.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t0);
      if (result.outcome == Outcome::kFail) r->check->Close();
      std::string target = r->check->Target();
      auto core = weak.lock();
      if (!core) return;
      core->Complete(r, attempt, std::move(result), std::move(target));
    }
  }

  // The scrubber's secrets: the current config's and the retired checks'.
  void UpdateSecretsLocked() {
    std::vector<std::string> secrets = config_secrets;
    for (const auto& r : retired)
      secrets.insert(secrets.end(), r->config.secrets.begin(), r->config.secrets.end());
    reporter->SetSecrets(secrets);
  }

  void Complete(const std::shared_ptr<Runner>& r, uint64_t attempt, CheckResult result,
                std::string target) {
    std::lock_guard<std::mutex> lock(mu);
    if (stop || r->attempt != attempt) return;
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
    r->in_flight = false;
    if (r->target != target) {
      reporter->Report({Level::kInfo,
                        "target_changed",
                        r->config.name,
                        r->config.kind,
                        "",
                        "[" + r->config.name + "] " + KindDisplayName(r->config.kind) +
                            " target changed from " + r->target + " to " + target,
                        {{"from", r->target}, {"to", target}}});
      r->target = std::move(target);
    }
    for (const std::string& note : result.notes) {
      // What the dependency said on the side (a PostgreSQL NOTICE): the
      // check passes each distinct one once; scrubbed like every line.
      Emit(*r, Level::kWarn, "check_notice", note, " ");
    }
    Now now = Now::Real();
    if (r->abandoned) {
      r->abandoned = false;  // its timeout is recorded already
    } else {
      RecordLocked(*r, std::move(result), now);
    }
    Reschedule(*r, now);
    if (!r->quit) Publish();
    cv.notify_all();
  }

  void Reschedule(Runner& r, Now now) {
    std::uniform_real_distribution<double> unit(0.0, 1.0);
    const CheckTiming& timing = r.config.timing;
    // The first run was at once; the second comes anywhere in the interval
    // after it, so pods started together fall out of step at once.
    auto next = r.started + (r.attempt == 1 ? SpreadInterval(timing.interval_ms, unit(rng))
                                            : JitteredInterval(timing.interval_ms,
                                                               timing.jitter_percent, unit(rng)));
    r.next_run = std::max(next, now.steady);
  }

  void RecordLocked(Runner& r, CheckResult result, Now now) {
    if (result.timed_out) {
      result.reason =
          TimeoutReasonOf(result, std::chrono::milliseconds(r.config.timing.timeout_ms));
    }
    ApplyCertExpiry(
        &result, r.config.timing.cert_expiry_warn_days,
        std::chrono::duration_cast<std::chrono::seconds>(now.wall.time_since_epoch()).count());
    result.reason = reporter->redactor().Scrub(std::move(result.reason));
    if (result.outcome == Outcome::kPass && !result.reason.empty()) {
      // A pass with a note (e.g. INFO refused by ACL: PING verdict only).
      // Checks say it once; it is logged, not shown as a warn.
      Emit(r, Level::kWarn, "check_note", result.reason, " note: ");
    }
    Transition t = r.tracker.Record(result, now);
    LogTransition(r, t, now);
    if (result.outcome == Outcome::kFail && !t.status_changed &&
        r.tracker.status() == Status::kFail) {
      ++r.fails_since_log;
      if (now.steady - r.last_fail_log >= kStillFailingEvery) {
        Emit(r, r.config.required ? Level::kError : Level::kWarn, "check_still_failing",
             r.tracker.reason(), " error: ",
             {{"failures", std::to_string(r.fails_since_log)},
              {"since", FormatTime(r.tracker.since())}});
        r.fails_since_log = 0;
        r.last_fail_log = now.steady;
      }
    }
  }

  void Emit(const Runner& r, Level level, const char* event, const std::string& reason,
            const char* what, std::vector<std::pair<std::string, std::string>> fields = {}) {
    std::string message = "[" + r.config.name + "] " + KindDisplayName(r.config.kind) + what;
    if (!reason.empty()) message += reason;
    reporter->Report({level, event, r.config.name, r.config.kind, reason, std::move(message),
                      std::move(fields)});
  }

  void LogTransition(Runner& r, const Transition& t, Now now) {
    if (t.breaker_changed) {
      switch (t.breaker_to) {
        case BreakerState::kOpen:
          Emit(r, Level::kError, "circuit_opened", r.tracker.reason(), " circuit breaker opened: ");
          break;
        case BreakerState::kHalfOpen:
          Emit(r, Level::kInfo, "circuit_half_open", "", " circuit breaker half-open, trying");
          break;
        case BreakerState::kClosed:
          Emit(r, Level::kInfo, "circuit_closed", "", " circuit breaker closed");
          break;
      }
    }
    if (!t.status_changed) return;
    const std::string& reason = r.tracker.reason();
    AddEvent({now.wall, r.config.name, t.from, t.to, reason});
    if (t.to == Status::kFail) {
      r.last_fail_log = now.steady;
      r.fails_since_log = 0;
      Emit(r, r.config.required ? Level::kError : Level::kWarn, "check_failed", reason, " error: ",
           {{"required", r.config.required ? "true" : "false"}, {"role", r.config.role}});
    } else if (t.to == Status::kWarn) {
      Emit(r, Level::kWarn, "check_warn", reason, " warning: ");
    } else if (t.to == Status::kPass && t.from != Status::kUnknown) {
      Emit(r, Level::kInfo, "check_recovered", "", " recovered");
    } else if (t.to == Status::kPass) {
      Emit(r, Level::kInfo, "check_passed", "", " ok");
    }
  }

  // Bounded: the oldest event goes when the ring is full. The view that
  // snapshots share is rebuilt here only, so a publish costs a pointer copy.
  void AddEvent(StateEvent e) {
    events.push_back(std::move(e));
    while (events.size() > kMaxStateEvents) events.pop_front();
    events_view = std::make_shared<const std::vector<StateEvent>>(events.begin(), events.end());
  }

  void Publish() {
    auto snap = std::make_shared<HealthSnapshot>();
    snap->draining = draining;
    snap->started_at = started_at;
    snap->started_steady = started_steady;
    snap->config_reloads = reloads;
    snap->config_reload_failures = reload_failures;
    snap->last_reload_ok = last_reload_ok;
    snap->last_reload_success = last_reload_success;
    snap->events = events_view;
    snap->generation = ++generation;
    snap->checks.reserve(runners.size());
    for (const auto& r : runners) {
      const CheckTracker& t = r->tracker;
      CheckView v;
      v.name = r->config.name;
      v.kind = r->config.kind;
      v.role = r->config.role;
      v.required = r->config.required;
      v.liveness = r->config.liveness;
      v.target = r->target;
      v.interval_ms = r->config.timing.interval_ms;
      v.timeout_ms = r->config.timing.timeout_ms;
      v.status = t.status();
      v.since = t.since();
      v.latency_ms = t.last_latency().count() / 1000.0;
      v.consecutive_failures = t.consecutive_failures();
      v.last_success = t.last_success();
      v.last_error = t.last_error();
      v.reason = t.reason();
      v.circuit = t.breaker();
      v.ever_passed = t.ever_passed();
      v.attempts = t.attempts();
      v.failures_total = t.failures_total();
      v.failures_by_kind = t.failures_by_kind();
      v.recent = t.recent();
      v.signals = t.signals();
      v.durations = t.durations();
      v.breaker_transitions = t.breaker_transitions();
      v.tls_not_after = t.tls_not_after();
      snap->checks.push_back(std::move(v));
    }
    store->Set(std::move(snap));
  }

  void TimerLoop() {
    std::unique_lock<std::mutex> lock(mu);
    while (!stop) {
      Now now = Now::Real();
      store->Beat(now.steady);
      auto wake = now.steady + kMaxSleep;
      bool dirty = false;
      for (auto& rp : runners) {
        Runner& r = *rp;
        if (r.in_flight) {
          if (r.abandoned) continue;
          if (now.steady >= r.deadline + kDeadlineGrace) {
            // The worker is stuck past its deadline: record the timeout at
            // the deadline now; its eventual answer is dropped.
            r.abandoned = true;
            CheckResult timeout;
            timeout.outcome = Outcome::kFail;
            timeout.timed_out = true;
            timeout.failure = FailureKind::kTimeout;
            timeout.latency =
                std::chrono::duration_cast<std::chrono::microseconds>(r.deadline - r.started);
            RecordLocked(r, std::move(timeout), now);
            dirty = true;
          } else {
            wake = std::min(wake, r.deadline + kDeadlineGrace);
          }
          continue;
        }
        if (now.steady >= r.next_run) {
          Transition t;
          if (r.tracker.AllowAttempt(now, &t)) {
            r.in_flight = true;
            r.go = true;
            ++r.attempt;
            r.started = now.steady;
            r.deadline = now.steady + std::chrono::milliseconds(r.config.timing.timeout_ms);
            r.cv.notify_all();
            wake = std::min(wake, r.deadline + kDeadlineGrace);
          } else {
            // Breaker open: leave the dependency alone until the trial. Not
            // an attempt, so counted in neither attempts nor failures (the
            // breaker's own gauge says why the check stays failing).
            r.next_run = r.tracker.BreakerRetryAt();
          }
          if (t.breaker_changed) {
            LogTransition(r, t, now);
            dirty = true;
          }
        }
        if (!r.in_flight) wake = std::min(wake, r.next_run);
      }
      if (dirty) Publish();
      cv.wait_until(lock, wake);
    }
  }

  void QuitRunner(Runner& r) {
    r.quit = true;
    r.cv.notify_all();
  }
};

Scheduler::Scheduler(SnapshotStore* store, Reporter* reporter, CheckFactory factory)
    : core_(std::make_shared<Core>()) {
  core_->store = store;
  core_->reporter = reporter;
  core_->factory =
      factory ? std::move(factory) : [](const CheckConfig& c) { return BuildCheck(c); };
}

Scheduler::~Scheduler() { Stop(); }

void Scheduler::Start(const Config& config) {
  Now now = Now::Real();
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    for (const auto& c : config.checks) core_->runners.push_back(core_->MakeRunner(c, now));
    core_->config_secrets = config.secrets;
    core_->UpdateSecretsLocked();
    core_->Publish();
  }
  core_->timer = std::thread([core = core_] { core->TimerLoop(); });
}

void Scheduler::Apply(const Config& config) {
  Now now = Now::Real();
  std::lock_guard<std::mutex> lock(core_->mu);
  std::vector<std::shared_ptr<Runner>> next;
  for (const auto& c : config.checks) {
    std::shared_ptr<Runner> keep;
    for (auto& r : core_->runners) {
      if (r && r->config.name == c.name && r->config.SameAs(c)) {
        keep = r;
        r = nullptr;
        break;
      }
    }
    if (keep) {
      keep->config = c;  // same spec and timing; flags may be re-read
    } else {
      keep = core_->MakeRunner(c, now);
    }
    next.push_back(std::move(keep));
  }
  for (auto& r : core_->runners) {
    if (!r) continue;
    core_->QuitRunner(*r);
    if (r->in_flight) core_->retired.push_back(r);
  }
  core_->runners = std::move(next);
  core_->config_secrets = config.secrets;
  core_->UpdateSecretsLocked();
  core_->Publish();
  core_->cv.notify_all();
}

bool Scheduler::ResetBreaker(const std::string& name) {
  std::lock_guard<std::mutex> lock(core_->mu);
  for (auto& r : core_->runners) {
    if (r->config.name != name) continue;
    Now now = Now::Real();
    Transition t = r->tracker.ResetBreaker(now);
    core_->LogTransition(*r, t, now);
    if (!r->in_flight) r->next_run = now.steady;
    core_->Publish();
    core_->cv.notify_all();
    return true;
  }
  return false;
}

void Scheduler::SetDraining(bool draining) {
  std::lock_guard<std::mutex> lock(core_->mu);
  core_->draining = draining;
  core_->Publish();
}

void Scheduler::CountReload(bool ok) {
  std::lock_guard<std::mutex> lock(core_->mu);
  (ok ? core_->reloads : core_->reload_failures)++;
  core_->last_reload_ok = ok;
  if (ok) core_->last_reload_success = WallClock::now();
  core_->Publish();
}

void Scheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(core_->mu);
    if (core_->stop) return;
    core_->stop = true;
    for (auto& r : core_->runners) core_->QuitRunner(*r);
  }
  core_->cv.notify_all();
  if (core_->timer.joinable()) core_->timer.join();
}

}  // namespace vigil
