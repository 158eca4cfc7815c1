// Kubernetes Events on the pod for each change of a check's effective state
// (docs/kubernetes.md#events), on a thread of its own, off every verdict and
// every probe: the snapshot listener compares the new snapshot with the last
// (agent/k8s/state_changes.h) and queues the changes (bounded: a full queue
// drops, counted); the thread sends each as an events.k8s.io/v1 Event (POST)
// or a series update of the Event it sent for the same check and reason
// (PATCH, agent/k8s/event_book.h), one request at a time under a deadline
// (agent/k8s/kube_client.h). 429 and 5xx (and a refused connection) are
// retried a bounded number of times with a backoff, then dropped and
// counted; a request that times out is dropped at once.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

#include "agent/config/kubernetes_config.h"

namespace vigil {

class Reporter;
class SnapshotStore;

class EventRecorder {
 public:
  // Why an Event was not sent (vigil_kubernetes_events_dropped_total{reason}).
  enum class Drop { kQueueFull, kRateLimited, kRejected, kUnavailable, kTimeout, kError, kCount };
  static const char* DropName(Drop d);  // "queue_full", "rate_limited", ...
  // What the API did with one (vigil_kubernetes_events_sent_total{result}).
  enum class Sent { kCreated, kUpdated, kExists, kCount };
  static const char* SentName(Sent s);  // "created", "updated", "exists"

  struct Counts {
    bool enabled = false;
    std::array<uint64_t, static_cast<size_t>(Sent::kCount)> sent{};
    std::array<uint64_t, static_cast<size_t>(Drop::kCount)> dropped{};
  };

  struct Options {
    std::chrono::milliseconds request_timeout{5000};
    // Waits before the 2nd and 3rd attempt (doubled each time).
    std::chrono::milliseconds backoff{1000};
    int max_attempts = 3;
    size_t queue_capacity = 64;
  };

  // Both outlive the recorder.
  EventRecorder(const SnapshotStore* snapshots, Reporter* reporter, Options options);
  EventRecorder(const SnapshotStore* snapshots, Reporter* reporter)
      : EventRecorder(snapshots, reporter, Options()) {}
  ~EventRecorder();
  EventRecorder(const EventRecorder&) = delete;
  EventRecorder& operator=(const EventRecorder&) = delete;

  // Starts the thread (it idles while kubernetes_events is off).
  void Start(const KubernetesConfig& config);
  // A reload: the next request uses the new settings.
  void Apply(const KubernetesConfig& config);
  // For SnapshotStore's listener: compares the new snapshot with the last
  // and queues the changes. Never blocks on the API.
  std::function<void()> Notifier() const;
  Counts counts() const;
  // Ends a request in flight at once and joins the thread.
  void Stop();

 private:
  struct Core;
  std::shared_ptr<Core> core_;
};

}  // namespace vigil
