#include "agent/http/fleet_render.h"

#include <nlohmann/json.hpp>

#include "agent/http/api.h"
#include "agent/log/reporter.h"

namespace vigil {
namespace {

using json = nlohmann::json;

json PodJson(const PodInfo& pod) {
  json p = json::object();
  if (!pod.name.empty()) p["name"] = pod.name;
  if (!pod.namespace_.empty()) p["namespace"] = pod.namespace_;
  if (!pod.node.empty()) p["node"] = pod.node;
  return p;
}

std::string Dump(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

// A pod's row: who, its local verdict and each check's local status.
json SelfRow(const HealthSnapshot& s, const PodInfo& pod) {
  json checks = json::object();
  for (const CheckView& c : s.checks) checks[c.name] = StatusName(c.status);
  return {{"name", pod.name},    {"namespace", pod.namespace_},
          {"node", pod.node},    {"address", nullptr},
          {"age_s", 0},          {"status", OverallName(OverallStatus(s))},
          {"ready", IsReady(s)}, {"self", true},
          {"checks", checks}};
}

json PeerRow(const PeerAnswer& a, WallClock::time_point now) {
  const auto age = std::chrono::duration_cast<std::chrono::seconds>(now - a.received).count();
  json checks = json::object();
  for (const PeerCheck& c : a.checks) checks[c.name] = StatusName(c.status);
  return {{"name", a.name},
          {"namespace", a.namespace_},
          {"node", a.node},
          {"address", a.address},
          {"age_s", age < 0 ? 0 : age},
          {"status", a.status},
          {"ready", a.ready},
          {"self", false},
          {"checks", checks}};
}

json CheckRow(const CheckView& c, const CheckScope& sc, const PodInfo& pod) {
  json names = json::array();
  if (c.status == Status::kFail) names.push_back(pod.name.empty() ? "(this pod)" : pod.name);
  for (const std::string& n : sc.failing_pods) names.push_back(n);
  return {{"failing", sc.failing},
          {"pods", sc.pods},
          {"scope", ScopeName(sc.scope)},
          {"status", StatusName(c.status)},
          {"failing_pods", names}};
}

}  // namespace

std::string RenderFleetSelf(const HealthSnapshot& s, const PodInfo& pod) {
  json checks = json::object();
  for (const CheckView& c : s.checks) {
    checks[c.name] = {{"status", StatusName(c.status)}, {"since", FormatTime(c.since)}};
  }
  // The local verdicts: no scopes.
  const json j = {{"v", 1},
                  {"instance", InstanceId()},
                  {"pod", PodJson(pod)},
                  {"status", OverallName(OverallStatus(s))},
                  {"ready", IsReady(s)},
                  {"checks", checks}};
  return Dump(j);
}

std::string RenderFleet(const HealthSnapshot& s, const FleetView* fleet, const Scopes& scopes,
                        const PodInfo& pod, WallClock::time_point now) {
  const bool on = fleet != nullptr && fleet->enabled;
  json j;
  j["enabled"] = on;
  json pods = json::array({SelfRow(s, pod)});
  if (on) {
    j["min_pods"] = fleet->min_pods;
    j["interval_ms"] = fleet->interval_ms;
    j["peers_known"] = fleet->peers_known;
    j["rounds"] = fleet->rounds;
    j["last_round"] =
        fleet->last_round_completed ? json(FormatTime(*fleet->last_round_completed)) : json();
    for (const PeerAnswer& a : fleet->answers) {
      if (fleet->Fresh(a, now)) pods.push_back(PeerRow(a, now));
    }
  }
  j["pods"] = pods;
  json checks = json::object();
  for (size_t i = 0; i < s.checks.size() && i < scopes.size(); ++i) {
    checks[s.checks[i].name] = CheckRow(s.checks[i], scopes[i], pod);
  }
  j["checks"] = checks;
  return Dump(j);
}

}  // namespace vigil
