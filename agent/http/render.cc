// Bodies of /health (vigil's JSON and the IETF health+json draft), the
// body of /events and the kube-apiserver style check lines of ?verbose.
#include "agent/http/render.h"

#include <nlohmann/json.hpp>

#include "agent/core/verdict.h"
#include "agent/http/api.h"
#include "agent/log/reporter.h"
#include "checks/common/untrusted_text.h"
#include "checks/common/version.h"
#include "checks/registry.h"

namespace vigil {
namespace {

using json = nlohmann::json;

json TimeOrNull(const std::optional<WallClock::time_point>& t) {
  return t ? json(FormatTime(*t)) : json(nullptr);
}

double Round3(double v) { return static_cast<double>(static_cast<int64_t>(v * 1000 + 0.5)) / 1000; }

// History for the status page, kept in one place: the last runs of a check
// (outcome and latency, no error text) and the recent state changes (whose
// reasons are error text).
json RecentJson(const CheckView& c) {
  json runs = json::array();
  for (const RecentRun& r : c.recent) {
    runs.push_back({{"time", FormatTime(r.time)},
                    {"outcome", OutcomeName(r.outcome)},
                    {"latency_ms", Round3(r.latency_ms)}});
  }
  return runs;
}

// Flapping: the flag, the percent state change and the results it is
// computed from ("flap_history": the last 21, oldest first, "+" up and "-"
// down; the "recent" strip is 20 runs with outcome and latency).
void FlapJson(const CheckView& c, json* j) {
  (*j)["flapping"] = c.flapping;
  (*j)["state_change_percent"] = Round3(c.flap_percent);
  std::string history;
  for (bool up : c.flap_history) history += up ? '+' : '-';
  (*j)["flap_history"] = history;
}

json EventsJson(const HealthSnapshot& s, bool full) {
  json events = json::array();
  if (s.events == nullptr) return events;
  // Newest first: what a person (or `jq '.events[0]'`) wants first.
  for (auto it = s.events->rbegin(); it != s.events->rend(); ++it) {
    json e = {{"time", FormatTime(it->time)},
              {"check", it->check},
              {"from", StatusName(it->from)},
              {"to", StatusName(it->to)}};
    // A reason is error text: hidden with "health_details": "status".
    if (full && !it->reason.empty()) e["reason"] = it->reason;
    events.push_back(std::move(e));
  }
  return events;
}

json CheckJson(const CheckView& c, bool full) {
  json j;
  j["name"] = c.name;
  if (!full) {
    // "health_details": "status": nothing a neighbour pod could learn the
    // topology or the failures' texts from.
    j["status"] = StatusName(c.status);
    j["required"] = c.required;
    j["since"] = FormatTime(c.since);
    return j;
  }
  j["kind"] = c.kind;
  j["role"] = c.role;
  j["required"] = c.required;
  j["liveness"] = c.liveness;
  j["status"] = StatusName(c.status);
  j["since"] = FormatTime(c.since);
  j["latency_ms"] = Round3(c.latency_ms);
  j["consecutive_failures"] = c.consecutive_failures;
  j["last_success"] = TimeOrNull(c.last_success);
  j["last_error"] = c.last_error.empty() ? json(nullptr) : json(c.last_error);
  if (!c.reason.empty()) j["reason"] = c.reason;
  j["circuit"] = BreakerName(c.circuit);
  j["target"] = c.target;
  if (!c.depends_on.empty()) j["depends_on"] = c.depends_on;
  if (c.tls_not_after) {
    j["tls_expires"] = FormatTime(WallClock::time_point(std::chrono::seconds(*c.tls_not_after)));
  }
  j["recent"] = RecentJson(c);
  FlapJson(c, &j);
  return j;
}

json FleetJson(const CheckScope& sc) {
  return {{"failing", sc.failing}, {"pods", sc.pods}, {"scope", ScopeName(sc.scope)}};
}

const CheckScope* ScopeAt(const Scopes* scopes, size_t i) {
  return scopes != nullptr && i < scopes->size() ? &(*scopes)[i] : nullptr;
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string RenderCheckLine(const CheckView& c, bool full, const CheckScope* scope,
                            const std::string& blocked_by) {
  if (scope != nullptr && KeptReadyByFleet(c, *scope)) {
    if (scope->scope != Scope::kWidespread)
      return "[~]" + c.name + " failed, asking the fleet, kept ready";
    return "[~]" + c.name + " failed on " + std::to_string(scope->failing) + " of " +
           std::to_string(scope->pods) + " pods (widespread), kept ready";
  }
  // The reason came from a dependency and was reduced where it entered;
  // again here, so that no byte of it can ever add a line to the body.
  const std::string reason = UntrustedText(c.reason);
  if (scope != nullptr && HeldUnready(c) && c.status != Status::kFail) {
    return "[-]" + c.name + " flapping, held unready";
  }
  switch (c.status) {
    case Status::kPass:
      return "[+]" + c.name + " ok";
    case Status::kWarn:
      if (!full) return "[+]" + c.name + " ok, warn";
      return "[+]" + c.name + " ok, warn: " + reason;
    case Status::kUnknown:
      return (c.required ? "[-]" : "[~]") + c.name + " not checked yet" +
             (c.required ? "" : ", not required");
    case Status::kFail:
      // The documented line (docs/http.md); the reason is in /health and the logs.
      if (!c.required) return "[~]" + c.name + " degraded, not required";
      if (!full) return "[-]" + c.name + " failed";
      if (!blocked_by.empty()) return "[-]" + c.name + " failed: blocked by " + blocked_by;
      return "[-]" + c.name + " failed: " + reason;
  }
  return "[-]" + c.name + " failed";
}

std::string RenderEventsJson(const HealthSnapshot& s, bool full) {
  json j;
  j["events"] = EventsJson(s, full);
  return Dump(j);
}

std::string RenderHealthJson(const HealthSnapshot& s, const PodInfo& pod, WallClock::time_point now,
                             const CheckView* only, bool full, bool with_events,
                             const Scopes* scopes) {
  const Overall o = OverallStatus(s, scopes);
  const bool ready = IsReady(s, {}, scopes);
  json j;
  j["status"] = OverallName(o);
  j["ready"] = ready;
  j["draining"] = s.draining;
  j["version"] = kVersion;
  j["uptime_s"] = std::chrono::duration_cast<std::chrono::seconds>(now - s.started_at).count();
  j["time"] = FormatTime(now);  // lets a client measure "for how long" on the agent's clock
  json p = json::object();
  if (!pod.name.empty()) p["name"] = pod.name;
  if (!pod.namespace_.empty()) p["namespace"] = pod.namespace_;
  if (!pod.node.empty()) p["node"] = pod.node;
  j["pod"] = p;
  json checks = json::object();
  json one;
  for (size_t i = 0; i < s.checks.size(); ++i) {
    const CheckView& c = s.checks[i];
    if (only != nullptr && &c != only) continue;
    json cj = CheckJson(c, full);
    // Which check another depends on is topology: with details only.
    const std::vector<std::string> blocked = full ? BlockedBy(s, c) : std::vector<std::string>{};
    if (!blocked.empty()) cj["blocked_by"] = blocked.front();
    if (const CheckScope* sc = ScopeAt(scopes, i); sc != nullptr && sc->answered) {
      cj["fleet"] = FleetJson(*sc);
    }
    if (only != nullptr) one = cj;
    checks[c.name] = std::move(cj);
  }
  j["checks"] = checks;
  if (with_events) j["events"] = EventsJson(s, full);
  if (only != nullptr) {
    // /health/{check}: the check itself at the top, the pod's verdict beside it.
    one["pod_status"] = OverallName(o);
    one["ready"] = ready;
    return Dump(one);
  }
  return Dump(j);
}

std::string RenderHealthIetf(const HealthSnapshot& s, const PodInfo& pod, WallClock::time_point now,
                             bool full, const Scopes* scopes) {
  // draft-inadarei-api-health-check: pass / warn / fail.
  const Overall o = OverallStatus(s, scopes);
  json j;
  j["status"] = IetfStatusName(o);
  j["version"] = "1";
  j["releaseId"] = kVersion;
  j["serviceId"] = pod.name.empty() ? "vigil" : pod.name;
  j["description"] = "vigil dependency health";
  json checks = json::object();
  const std::string time = FormatTime(now);
  for (const auto& c : s.checks) {
    json e;
    e["componentId"] = c.name;
    if (!full) {
      // No type (it tells the kind), no latency, no output text.
      e["status"] = IetfStatusName(c.status);
      e["required"] = c.required;
      e["time"] = FormatTime(c.since);
      checks[c.name] = json::array({e});
      continue;
    }
    const CheckKind* kind = CheckRegistry::Builtin().Find(c.kind);
    e["componentType"] =
        kind != nullptr && !kind->component_type.empty() ? kind->component_type : "datastore";
    e["observedValue"] = Round3(c.latency_ms);
    e["observedUnit"] = "ms";
    e["status"] = IetfStatusName(c.status);
    e["time"] = c.last_success && c.status != Status::kFail ? FormatTime(*c.last_success) : time;
    if (c.status == Status::kUnknown) {
      e["output"] = "not checked yet";
    } else if (!c.reason.empty()) {
      e["output"] = c.reason;
    }
    checks[c.name + ":responseTime"] = json::array({e});
  }
  j["checks"] = checks;
  if (o == Overall::kError || o == Overall::kStarting) j["output"] = OverallName(o);
  return Dump(j);
}

}  // namespace vigil
