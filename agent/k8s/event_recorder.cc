#include "agent/k8s/event_recorder.h"

#include <atomic>
#include <deque>
#include <thread>

#include "agent/core/snapshot.h"
#include "agent/k8s/event_book.h"
#include "agent/k8s/event_object.h"
#include "agent/k8s/kube_client.h"
#include "agent/k8s/state_changes.h"
#include "agent/log/reporter.h"
#include "checks/common/thread_annotations.h"

namespace vigil {
namespace {

constexpr char kCreateType[] = "application/json";
constexpr char kPatchType[] = "application/merge-patch+json";

bool Retryable(const KubeResponse& r) {
  if (r.timed_out) return false;  // a slow API is not asked again
  return r.status == 0 || r.status == 429 || r.status >= 500;
}

EventRecorder::Drop DropOf(const KubeResponse& r) {
  if (r.timed_out) return EventRecorder::Drop::kTimeout;
  if (r.status == 0) return EventRecorder::Drop::kError;
  if (r.status == 429 || r.status >= 500) return EventRecorder::Drop::kUnavailable;
  return EventRecorder::Drop::kRejected;
}

std::string Describe(const KubeResponse& r) {
  if (r.status == 0) return r.error;
  std::string s = "HTTP " + std::to_string(r.status);
  if (r.status == 401 || r.status == 403) {
    s += " (is the service account token mounted and the Role allowing create and patch on "
         "events.k8s.io events bound?)";
  }
  return s;
}

}  // namespace

const char* EventRecorder::DropName(Drop d) {
  static constexpr const char* kNames[] = {"queue_full",  "rate_limited", "rejected",
                                           "unavailable", "timeout",      "error"};
  return kNames[static_cast<size_t>(d)];
}

const char* EventRecorder::SentName(Sent s) {
  static constexpr const char* kNames[] = {"created", "updated", "exists"};
  return kNames[static_cast<size_t>(s)];
}

struct EventRecorder::Core {
  const SnapshotStore* snapshots;
  Reporter* reporter;
  const Options options;

  Mutex mu;
  CondVar cv;
  KubernetesConfig config VIGIL_GUARDED_BY(mu);
  bool config_changed VIGIL_GUARDED_BY(mu) = false;
  bool stop VIGIL_GUARDED_BY(mu) = false;
  ChangeWatcher watcher VIGIL_GUARDED_BY(mu);
  std::deque<DependencyChange> queue VIGIL_GUARDED_BY(mu);
  // The client of a request in flight, for Stop's Abort.
  std::shared_ptr<KubeClient> client VIGIL_GUARDED_BY(mu);
  std::atomic<bool> enabled{false};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Sent::kCount)> sent{};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(Drop::kCount)> dropped{};

  // The thread's own.
  std::thread thread;
  EventBook book;
  bool api_failing = false;
  WallClock::time_point last_name_time{};

  Core(const SnapshotStore* s, Reporter* r, Options o) : snapshots(s), reporter(r), options(o) {}

  void OnSnapshot();
  void Loop();
  bool Next(DependencyChange* change, std::shared_ptr<KubeClient>* client);
  void Handle(KubeClient& client, const DependencyChange& change);
  void Create(KubeClient& client, const DependencyChange& change);
  void Patch(KubeClient& client, const DependencyChange& change, const EventBook::Decision& d);
  KubeResponse Send(KubeClient& client, const std::string& method, const std::string& path,
                    const char* type, const std::string& body);
  bool Backoff(std::chrono::milliseconds wait);
  void Count(Sent s) { ++sent[static_cast<size_t>(s)]; }
  void Count(Drop d) { ++dropped[static_cast<size_t>(d)]; }
  void Outcome(const KubeResponse& r, const DependencyChange& change);
  std::string Collection(const KubeClient& client) const {
    return "/apis/events.k8s.io/v1/namespaces/" + client.config().pod_namespace + "/events";
  }
};

void EventRecorder::Core::OnSnapshot() {
  if (!enabled.load(std::memory_order_relaxed)) return;
  const std::shared_ptr<const HealthSnapshot> s = snapshots->Get();
  MutexLock lock(mu);
  std::vector<DependencyChange> changes = watcher.Observe(*s);
  if (changes.empty()) return;
  for (DependencyChange& c : changes) {
    if (queue.size() >= options.queue_capacity) {
      Count(Drop::kQueueFull);
      continue;
    }
    queue.push_back(std::move(c));
  }
  cv.NotifyOne();
}

// Waits for a change to send (or a new config); false on stop.
bool EventRecorder::Core::Next(DependencyChange* change, std::shared_ptr<KubeClient>* out) {
  MutexLock lock(mu);
  for (;;) {
    cv.Wait(lock, [this]() VIGIL_NO_THREAD_SAFETY_ANALYSIS {
      return stop || config_changed || !queue.empty();
    });
    if (stop) return false;
    if (config_changed) {
      config_changed = false;
      if (!client || client->config() != config) {
        client = config.events ? std::make_shared<KubeClient>(config) : nullptr;
        book = EventBook();
      }
    }
    if (queue.empty()) continue;
    *change = std::move(queue.front());
    queue.pop_front();
    if (!client) continue;  // turned off: what was queued goes
    *out = client;
    return true;
  }
}

void EventRecorder::Core::Loop() {
  DependencyChange change;
  std::shared_ptr<KubeClient> client;
  while (Next(&change, &client)) Handle(*client, change);
}

void EventRecorder::Core::Handle(KubeClient& client, const DependencyChange& change) {
  const Clock::time_point now = Clock::now();
  book.Expire(now);
  const EventBook::Decision d = book.Decide(change.check, change.reason, now);
  switch (d.action) {
    case EventBook::Action::kRateLimited:
      Count(Drop::kRateLimited);
      return;
    case EventBook::Action::kPatch:
      Patch(client, change, d);
      return;
    case EventBook::Action::kCreate:
      Create(client, change);
      return;
  }
}

void EventRecorder::Core::Create(KubeClient& client, const DependencyChange& change) {
  // Names are unique per pod: a later wall time for each, as client-go's
  // POD.UNIXNANO.
  WallClock::time_point t = WallClock::now();
  if (t <= last_name_time) t = last_name_time + std::chrono::nanoseconds(1);
  last_name_time = t;
  const KubernetesConfig& k = client.config();
  const std::string name = EventName(k.pod_name, t);
  const PodRef pod{k.pod_name, k.pod_namespace, k.pod_uid};
  const KubeResponse r =
      Send(client, "POST", Collection(client), kCreateType, EventJson(pod, name, change));
  if (r.status == 200 || r.status == 201 || r.status == 409) {
    // 409: an Event of this name exists already; it is the one to update.
    book.Created(change.check, change.reason, name);
    Count(r.status == 409 ? Sent::kExists : Sent::kCreated);
  } else {
    book.Forget(change.check, change.reason);
  }
  Outcome(r, change);
}

void EventRecorder::Core::Patch(KubeClient& client, const DependencyChange& change,
                                const EventBook::Decision& d) {
  const KubeResponse r = Send(client, "PATCH", Collection(client) + "/" + d.name, kPatchType,
                              SeriesPatchJson(d.count, change.time));
  if (r.status == 404) {
    // The Event is gone (expired, deleted): a new one.
    book.Forget(change.check, change.reason);
    book.Decide(change.check, change.reason, Clock::now());
    Create(client, change);
    return;
  }
  if (r.status == 200 || r.status == 201) {
    Count(Sent::kUpdated);
  } else if (r.status >= 400 && r.status < 500 && r.status != 429) {
    book.Forget(change.check, change.reason);
  }
  Outcome(r, change);
}

KubeResponse EventRecorder::Core::Send(KubeClient& client, const std::string& method,
                                       const std::string& path, const char* type,
                                       const std::string& body) {
  KubeResponse r;
  std::chrono::milliseconds wait = options.backoff;
  for (int attempt = 1;; ++attempt) {
    r = client.Send(method, path, type, body, Clock::now() + options.request_timeout);
    if (!Retryable(r) || attempt >= options.max_attempts || !Backoff(wait)) return r;
    wait *= 2;
  }
}

// Waits before a retry; false when stopping.
bool EventRecorder::Core::Backoff(std::chrono::milliseconds wait) {
  MutexLock lock(mu);
  return !cv.WaitFor(lock, wait, [this]() VIGIL_NO_THREAD_SAFETY_ANALYSIS { return stop; });
}

// Counts a failure and logs when the API starts and stops failing (once
// each, not once an Event).
void EventRecorder::Core::Outcome(const KubeResponse& r, const DependencyChange& change) {
  const bool ok = (r.status >= 200 && r.status < 300) || r.status == 409;
  if (!ok) Count(DropOf(r));
  if (!ok && !api_failing) {
    reporter->Warn("kubernetes_events_failing",
                   "Kubernetes Event for " + change.check + " (" + change.reason +
                       ") not recorded: " + Describe(r) +
                       "; counted in "
                       "vigil_kubernetes_events_dropped_total",
                   {{"check", change.check}, {"reason", change.reason}});
  } else if (ok && api_failing) {
    reporter->Info("kubernetes_events_recovered", "Kubernetes Events are recorded again");
  }
  api_failing = !ok;
}

EventRecorder::EventRecorder(const SnapshotStore* snapshots, Reporter* reporter, Options options)
    : core_(std::make_shared<Core>(snapshots, reporter, options)) {}

EventRecorder::~EventRecorder() { Stop(); }

void EventRecorder::Start(const KubernetesConfig& config) {
  Apply(config);
  core_->thread = std::thread([core = core_] { core->Loop(); });
}

void EventRecorder::Apply(const KubernetesConfig& config) {
  MutexLock lock(core_->mu);
  if (!config.events || !core_->enabled.load()) core_->watcher.Reset();
  core_->config = config;
  core_->config_changed = true;
  core_->enabled.store(config.events);
  core_->cv.NotifyOne();
}

std::function<void()> EventRecorder::Notifier() const {
  return [core = core_] { core->OnSnapshot(); };
}

EventRecorder::Counts EventRecorder::counts() const {
  Counts c;
  c.enabled = core_->enabled.load();
  for (size_t i = 0; i < c.sent.size(); ++i) c.sent[i] = core_->sent[i].load();
  for (size_t i = 0; i < c.dropped.size(); ++i) c.dropped[i] = core_->dropped[i].load();
  return c;
}

void EventRecorder::Stop() {
  {
    MutexLock lock(core_->mu);
    core_->stop = true;
    if (core_->client) core_->client->Abort();
    core_->cv.NotifyAll();
  }
  if (core_->thread.joinable()) core_->thread.join();
}

}  // namespace vigil
