// Bodies of /health (vigil's JSON and the IETF health+json draft), the
// kube-apiserver style check lines of ?verbose, and the status page.
#include <nlohmann/json.hpp>

#include "agent/api.h"
#include "agent/reporter.h"
#include "agent/version.h"

namespace vigil {
namespace {

using json = nlohmann::json;

json TimeOrNull(const std::optional<WallClock::time_point>& t) {
  return t ? json(FormatTime(*t)) : json(nullptr);
}

double Round3(double v) { return static_cast<double>(static_cast<int64_t>(v * 1000 + 0.5)) / 1000; }

json CheckJson(const CheckView& c) {
  json j;
  j["name"] = c.name;
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
  if (c.tls_not_after) {
    j["tls_expires"] = FormatTime(WallClock::time_point(std::chrono::seconds(*c.tls_not_after)));
  }
  return j;
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

}  // namespace

std::string RenderCheckLine(const CheckView& c) {
  switch (c.status) {
    case Status::kPass:
      return "[+]" + c.name + " ok";
    case Status::kWarn:
      return "[+]" + c.name + " ok, warn: " + c.reason;
    case Status::kUnknown:
      return (c.required ? "[-]" : "[~]") + c.name + " not checked yet" +
             (c.required ? "" : ", not required");
    case Status::kFail:
      // SPEC §2's exact line; the reason is in /health and the logs.
      if (!c.required) return "[~]" + c.name + " degraded, not required";
      return "[-]" + c.name + " failed: " + c.reason;
  }
  return "[-]" + c.name + " failed";
}

std::string RenderHealthJson(const HealthSnapshot& s, const PodInfo& pod, WallClock::time_point now,
                             const CheckView* only) {
  const Overall o = OverallStatus(s);
  json j;
  j["status"] = OverallName(o);
  j["ready"] = IsReady(s);
  j["draining"] = s.draining;
  j["version"] = kVersion;
  j["uptime_s"] = std::chrono::duration_cast<std::chrono::seconds>(now - s.started_at).count();
  json p = json::object();
  if (!pod.name.empty()) p["name"] = pod.name;
  if (!pod.namespace_.empty()) p["namespace"] = pod.namespace_;
  if (!pod.node.empty()) p["node"] = pod.node;
  j["pod"] = p;
  json checks = json::object();
  for (const auto& c : s.checks) {
    if (only != nullptr && &c != only) continue;
    checks[c.name] = CheckJson(c);
  }
  j["checks"] = checks;
  if (only != nullptr) {
    // /health/{check}: the check itself at the top, the pod's verdict beside it.
    json one = CheckJson(*only);
    one["pod_status"] = OverallName(o);
    one["ready"] = IsReady(s);
    return Dump(one);
  }
  return Dump(j);
}

std::string RenderHealthIetf(const HealthSnapshot& s, const PodInfo& pod,
                             WallClock::time_point now) {
  // draft-inadarei-api-health-check: pass / warn / fail.
  const Overall o = OverallStatus(s);
  auto ietf = [](Status st) {
    return st == Status::kPass ? "pass" : st == Status::kWarn ? "warn" : "fail";
  };
  json j;
  j["status"] = o == Overall::kOk ? "pass" : o == Overall::kDegraded ? "warn" : "fail";
  j["version"] = "1";
  j["releaseId"] = kVersion;
  j["serviceId"] = pod.name.empty() ? "vigil" : pod.name;
  j["description"] = "vigil dependency health";
  json checks = json::object();
  const std::string time = FormatTime(now);
  for (const auto& c : s.checks) {
    json e;
    e["componentId"] = c.name;
    e["componentType"] = c.kind == "tcp" || c.kind == "http" ? "component" : "datastore";
    e["observedValue"] = Round3(c.latency_ms);
    e["observedUnit"] = "ms";
    e["status"] = ietf(c.status);
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
