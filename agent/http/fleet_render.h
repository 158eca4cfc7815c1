// The fleet's bodies (docs/fleet.md): GET /fleet/self, what this pod tells
// its peers (its LOCAL verdicts only, never fleet-adjusted ones, so no pod
// reasons from another pod's reasoning), and GET /fleet, the last rounds as
// this pod sees them. Pure functions of a snapshot and a fleet view.
#pragma once

#include <string>

#include "agent/core/fleet.h"
#include "agent/core/snapshot.h"
#include "agent/core/verdict.h"

namespace vigil {

struct PodInfo;

// {"v":1,"instance":...,"pod":{...},"status":...,"ready":...,
//  "checks":{"db":{"status":"fail","since":...}}}
std::string RenderFleetSelf(const HealthSnapshot& s, const PodInfo& pod);

// {"enabled":...,"pods":[this pod first, then each peer's fresh answer],
//  "checks":{"db":{"failing":..,"pods":..,"scope":..,"failing_pods":[..]}}}
std::string RenderFleet(const HealthSnapshot& s, const FleetView* fleet, const Scopes& scopes,
                        const PodInfo& pod, WallClock::time_point now);

}  // namespace vigil
