// The HTTP API as a pure function: request in, response out, answered from the
// current snapshot. Kept apart from the sockets so it can be unit-tested and
// fuzzed without them (agent/http/server.h serves it). The bodies come from
// agent/http/render.h, metrics.h and status_page.h.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/core/fleet.h"
#include "agent/core/snapshot.h"
#include "agent/core/verdict.h"
#include "agent/http/http_message.h"
#include "checks/common/thread_annotations.h"

namespace vigil {

struct PodInfo {
  std::string name, namespace_, node;  // from POD_NAME, POD_NAMESPACE, NODE_NAME
  static PodInfo FromEnv();
};

// Figures of the process and the agent for /metrics, read at scrape time.
// The Kubernetes event recorder's counts (agent/k8s/event_recorder.h), by
// label value.
struct KubernetesEventCounts {
  bool enabled = false;
  std::vector<std::pair<std::string, uint64_t>> sent;     // result -> count
  std::vector<std::pair<std::string, uint64_t>> dropped;  // reason -> count
};

struct AgentCounters {
  std::function<uint64_t()> log_events_dropped;
  std::function<KubernetesEventCounts()> kubernetes_events;
};

class Api {
 public:
  struct Options {
    PodInfo pod;
    std::string admin_token;  // empty: admin routes are off (404)
    // Closes a check's breaker and runs it now; false for an unknown check.
    std::function<bool(const std::string&)> reset_breaker;
    AgentCounters counters;
    // The scheduler loop counts as stalled (not live) after this long.
    std::chrono::milliseconds stall_after{std::chrono::seconds(30)};
    // false ("health_details": "status"): /health, /health/{check} and the
    // ?verbose lines show each check's name, status, required flag and
    // since, no target and no error text.
    bool health_details_full = true;
    // Brute force on the admin token: more than `admin_max_failures` wrong
    // tokens within `admin_failure_window` and every admin request (a right
    // token too) gets 429 with Retry-After until the oldest of them leaves
    // the window.
    int admin_max_failures = 5;
    std::chrono::seconds admin_failure_window{10};
    // Called once when such a lockout begins (the daemon logs it), with the
    // seconds it lasts. Called on an event-loop thread: must not block.
    std::function<void(int)> on_admin_lockout;
    // The clock of the failure window (tests set it).
    std::function<Clock::time_point()> now;
    // The fleet's answers (docs/fleet.md); null: every verdict is local.
    const FleetStore* fleet = nullptr;
    // Peers must present it on GET /fleet/self; empty: no token asked.
    std::string fleet_token;
  };

  Api(const SnapshotStore* store, Options options);

  HttpResponse Handle(const HttpRequest& req) const;

  void SetAdminToken(std::string token);
  void SetFleetToken(std::string token);
  void SetHealthDetails(bool full) { details_full_.store(full); }

 private:
  HttpResponse HandleGet(const std::string& path, const std::multimap<std::string, std::string>& q,
                         const HttpRequest& req) const;
  HttpResponse HandleAdmin(const std::string& path, const HttpRequest& req) const;
  HttpResponse HandleFleet(const std::string& path, const HttpRequest& req, const HealthSnapshot& s,
                           const Scopes& scopes) const;
  bool LoopAlive() const;

  const SnapshotStore* store_;
  Options options_;
  std::shared_ptr<const std::string> admin_token_;
  std::shared_ptr<const std::string> fleet_token_;
  std::atomic<bool> details_full_;

  // Wrong admin tokens of the current window. Several event-loop threads
  // call Handle at once; nothing here waits on anything but this lock.
  struct AdminFailures {
    Mutex mu;
    std::deque<Clock::time_point> times VIGIL_GUARDED_BY(mu);  // oldest first
  };
  std::unique_ptr<AdminFailures> admin_failures_ = std::make_unique<AdminFailures>();
};

// Splits a request target into a percent-decoded path and query parameters.
// False for a target that is not an origin-form path (absolute URI, "*",
// bad escapes, NUL, "..").
bool ParseTarget(const std::string& target, std::string* path,
                 std::multimap<std::string, std::string>* query);

// The token of an `Authorization: Bearer TOKEN` header: the scheme in any
// case, then spaces or tabs (RFC 9110 §11.1); nullopt for anything else.
std::optional<std::string> BearerToken(const std::string& authorization);

// Constant-time comparison for the admin token.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace vigil
