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
#include <unordered_map>
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
    // Wrong admin tokens, counted per client address: more than
    // `admin_max_failures` of them from one address within
    // `admin_failure_window` and every admin request from that address (a
    // right token too) gets 429 with Retry-After until the oldest of them
    // leaves the window. Other addresses are not affected; a request
    // without credentials gets 401 and is not counted.
    int admin_max_failures = 5;
    std::chrono::seconds admin_failure_window{10};
    // Addresses whose failures are remembered; past it the one that failed
    // least recently is forgotten.
    size_t admin_max_clients = 1024;
    // Called once when such a lockout begins (the daemon logs it), with the
    // seconds it lasts and the client's address. Called on an event-loop
    // thread: must not block.
    std::function<void(int, const std::string&)> on_admin_lockout;
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

  // The 429 for a client that is locked out; else counts a failure when
  // `failed` and sets *lockout_began to the seconds of a lockout it starts.
  std::optional<HttpResponse> AdminBudget(const std::string& peer, bool failed,
                                          int* lockout_began) const;

  // Wrong admin tokens of the current window, per client address. Several
  // event-loop threads call Handle at once; nothing here waits on anything
  // but this lock.
  struct AdminFailures {
    struct Client {
      std::deque<Clock::time_point> times;  // oldest first
    };
    Mutex mu;
    std::unordered_map<std::string, Client> clients VIGIL_GUARDED_BY(mu);
  };
  std::unique_ptr<AdminFailures> admin_failures_ = std::make_unique<AdminFailures>();
};

// Splits a request target (origin-form, or absolute-form http(s)://...,
// RFC 9112 3.2.2) into a percent-decoded path and query parameters. False
// for "*", another scheme, bad escapes, NUL, "..", an escaped '/' or '\\'
// in the path, or a target over kMaxTargetBytes.
bool ParseTarget(const std::string& target, std::string* path,
                 std::multimap<std::string, std::string>* query);

// The token of an "Authorization: Bearer TOKEN" value (RFC 9110 11.4: the
// scheme in any case, one or more spaces before the token); "" for none.
std::string BearerToken(const std::string& authorization);

// Constant-time comparison for the admin token.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

}  // namespace vigil
