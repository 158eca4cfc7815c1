// /metrics: the Prometheus text exposition (format 0.0.4) of a snapshot and
// of the process.
#pragma once

#include <string>

namespace vigil {

struct AgentCounters;
struct HealthSnapshot;

// `live`: the agent's own liveness verdict, exported as vigil_live.
std::string RenderMetrics(const HealthSnapshot& s, bool live, const AgentCounters& counters);

}  // namespace vigil
