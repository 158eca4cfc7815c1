// The bodies of /health (vigil's JSON and the IETF health+json draft),
// /events, and the kube-apiserver style check lines of ?verbose: pure
// functions of a snapshot.
#pragma once

#include <string>

#include "agent/core/snapshot.h"

namespace vigil {

struct PodInfo;

// `full` false ("health_details": "status"): each check's name, status,
// required and since only, and no reasons in events. with_events:
// /health?events, the recent state changes as "events".
std::string RenderHealthJson(const HealthSnapshot& s, const PodInfo& pod, WallClock::time_point now,
                             const CheckView* only = nullptr, bool full = true,
                             bool with_events = false);
// /events: {"events": [...]}, the recent state changes, newest first.
std::string RenderEventsJson(const HealthSnapshot& s, bool full = true);
std::string RenderHealthIetf(const HealthSnapshot& s, const PodInfo& pod, WallClock::time_point now,
                             bool full = true);
// "[+]db ok"; `full` false leaves the reason out ("[-]db failed").
std::string RenderCheckLine(const CheckView& c, bool full = true);

}  // namespace vigil
