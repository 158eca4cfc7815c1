// The HTTP API as a pure function: request in, response out, answered from the
// current snapshot. Kept apart from cpp-httplib so it can be unit-tested and
// fuzzed without sockets (agent/server.h adapts it).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agent/snapshot.h"
#include "agent/verdict.h"

namespace vigil {

struct HttpRequest {
  std::string method;  // GET, HEAD, POST, ...
  std::string target;  // raw request target: "/readyz?verbose&exclude=db"
  std::string accept;
  std::string authorization;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

struct PodInfo {
  std::string name, namespace_, node;  // from POD_NAME, POD_NAMESPACE, NODE_NAME
  static PodInfo FromEnv();
};

// Figures of the process and the agent for /metrics, read at scrape time.
struct AgentCounters {
  std::function<uint64_t()> log_events_dropped;
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
  };

  Api(const SnapshotStore* store, Options options);

  HttpResponse Handle(const HttpRequest& req) const;

  void SetAdminToken(std::string token);

 private:
  HttpResponse HandleGet(const std::string& path, const std::multimap<std::string, std::string>& q,
                         const HttpRequest& req) const;
  HttpResponse HandleAdmin(const std::string& path, const HttpRequest& req) const;
  bool LoopAlive() const;

  const SnapshotStore* store_;
  Options options_;
  std::shared_ptr<const std::string> admin_token_;
};

// Splits a request target into a percent-decoded path and query parameters.
// False for a target that is not an origin-form path (absolute URI, "*",
// bad escapes, NUL, "..").
bool ParseTarget(const std::string& target, std::string* path,
                 std::multimap<std::string, std::string>* query);

// Constant-time comparison for the admin token.
bool ConstantTimeEquals(const std::string& a, const std::string& b);

// Renderers (agent/render.cc, agent/metrics.cc).
// with_events: /health?events, the recent state changes as "events".
std::string RenderHealthJson(const HealthSnapshot& s, const PodInfo& pod, WallClock::time_point now,
                             const CheckView* only = nullptr, bool with_events = false);
// /events: {"events": [...]}, the recent state changes, newest first.
std::string RenderEventsJson(const HealthSnapshot& s);
std::string RenderHealthIetf(const HealthSnapshot& s, const PodInfo& pod,
                             WallClock::time_point now);
std::string RenderCheckLine(const CheckView& c);  // "[+]db ok"
std::string RenderStatusPage();
std::string RenderMetrics(const HealthSnapshot& s, bool live, const AgentCounters& counters);

}  // namespace vigil
