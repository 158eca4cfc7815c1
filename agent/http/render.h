// The bodies of /health (vigil's JSON and the IETF health+json draft),
// /events, and the kube-apiserver style check lines of ?verbose: pure
// functions of a snapshot.
#pragma once

#include <string>

#include "agent/core/snapshot.h"
#include "agent/core/verdict.h"

namespace vigil {

struct PodInfo;

// `full` false ("health_details": "status"): each check's name, status,
// required and since only, and no reasons in events. with_events:
// /health?events, the recent state changes as "events".
// `scopes` (agent/core/verdict.h): the fleet's view of each check, which
// the verdicts use and each check shows as "fleet" once a round answered.
std::string RenderHealthJson(const HealthSnapshot& s, const PodInfo& pod, WallClock::time_point now,
                             const CheckView* only = nullptr, bool full = true,
                             bool with_events = false, const Scopes* scopes = nullptr);
// /events: {"events": [...]}, the recent state changes, newest first.
std::string RenderEventsJson(const HealthSnapshot& s, bool full = true);
std::string RenderHealthIetf(const HealthSnapshot& s, const PodInfo& pod, WallClock::time_point now,
                             bool full = true, const Scopes* scopes = nullptr);
// "[+]db ok"; `full` false leaves the reason out ("[-]db failed"). With the
// check's fleet scope, a failure the fleet keeps ready reads
// "[~]db failed on 9 of 10 pods (widespread), kept ready". A required
// failure with a failing dependency (`blocked_by`, BlockedBy's first) reads
// "[-]app failed: blocked by db" (with details; without, "[-]app failed"). A readiness line
// (one with a scope) of a check flap_hold keeps unready while its latest
// result passes reads "[-]db flapping, held unready".
std::string RenderCheckLine(const CheckView& c, bool full = true, const CheckScope* scope = nullptr,
                            const std::string& blocked_by = {});

}  // namespace vigil
