// /metrics: the Prometheus text exposition (format 0.0.4) of a snapshot and
// of the process.
#pragma once

#include <string>

#include "agent/core/verdict.h"

namespace vigil {

struct AgentCounters;
struct HealthSnapshot;

// `live`: the agent's own liveness verdict, exported as vigil_live.
// `fleet` (may be null) and `scopes` (ScopesOf at `now`): the fleet's view.
std::string RenderMetrics(const HealthSnapshot& s, bool live, const AgentCounters& counters,
                          const FleetView* fleet, const Scopes& scopes, WallClock::time_point now);

}  // namespace vigil
