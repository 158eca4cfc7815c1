// Verdicts are pure functions of a snapshot (README "Endpoints", docs/http.md):
// trivially testable, and the only place the readiness policy is written down.
#pragma once

#include <set>
#include <string>
#include <vector>

#include "agent/core/fleet.h"
#include "agent/core/snapshot.h"

namespace vigil {

enum class Overall { kOk, kDegraded, kError, kStarting };
const char* OverallName(Overall o);  // "ok" | "degraded" | "error" | "starting"

using Exclusions = std::set<std::string>;
// Each check's place in the fleet, in the snapshot's order (ScopesOf); a null
// pointer, or an empty vector, is the local verdict alone: /fleet/self and
// `vigil check` use that.
using Scopes = std::vector<CheckScope>;

// The status one run's outcome stands for: pass, warn or fail. The tracker's
// thresholds decide when it becomes the check's effective status; `vigil
// check` takes it as it is.
Status StatusOf(Outcome o);

// The words of draft-inadarei-api-health-check (/health?format=ietf):
// "pass", "warn" or "fail" (a check not run yet is "fail").
const char* IetfStatusName(Status s);
// The pod's: ok is "pass", degraded "warn", error and starting "fail".
const char* IetfStatusName(Overall o);

// A check's own result counts as up: pass or warn.
inline bool IsUp(Status s) { return s == Status::kPass || s == Status::kWarn; }

// flap_hold: a required check that flaps, with "flap_hold": "unready",
// counts as failing for readiness until it stops flapping, whatever its
// latest result.
bool HeldUnready(const CheckView& c);
// The status readiness and /health's overall status read: kFail while
// HeldUnready, else the check's own. The fleet's rules apply after it.
Status ReadinessStatus(const CheckView& c);

// 200 on /livez: the loop is alive and no `liveness: true` check is failing.
// Redis and the database never enter it unless marked liveness.
bool IsLive(const HealthSnapshot& s, bool loop_alive, const Exclusions& excluded = {});

// 200 on /readyz: every required check passes or warns, and not draining.
// With `scopes`, a failing `stay_ready` check whose failure is widespread
// (or whose round is pending) does not count against it.
bool IsReady(const HealthSnapshot& s, const Exclusions& excluded = {},
             const Scopes* scopes = nullptr);

// 200 on /startupz: every required check has passed at least once.
bool IsStarted(const HealthSnapshot& s);

// /health's status: error (a required or liveness check fails) before
// starting (a required check has no result yet) before degraded (an optional
// check fails, or any warns, or the fleet keeps a failing required check
// ready) before ok.
Overall OverallStatus(const HealthSnapshot& s, const Scopes* scopes = nullptr);

// The check at index i is kept ready by the fleet (KeptReadyByFleet).
bool KeptReady(const HealthSnapshot& s, size_t i, const Scopes* scopes);

// Root cause: while `c` fails, the checks of its depends_on that fail too,
// in its depends_on order (the first is its blocked_by); empty otherwise.
// Shown only: the check keeps its own verdict.
std::vector<std::string> BlockedBy(const HealthSnapshot& s, const CheckView& c);

// 200 for ok and degraded, 503 for error and starting.
int OverallHttpCode(Overall o);

}  // namespace vigil
