#include "agent/core/fleet.h"

#include <algorithm>
#include <cstdio>
#include <random>

#include "agent/core/snapshot.h"

namespace vigil {
namespace {

// A stay_ready check's round may take the whole fleet timeout; this much
// more covers the moment between the check's result and the round's start.
constexpr std::chrono::milliseconds kPendingGrace{100};

// Peers whose latest run of `check` ended at or after `t`: they have had
// their chance to see what this pod saw.
int PeersCheckedSince(const FleetView& f, const std::string& check, WallClock::time_point t,
                      WallClock::time_point now) {
  int n = 0;
  for (const PeerAnswer& a : f.answers) {
    if (!f.Fresh(a, now)) continue;
    const PeerCheck* pc = a.Find(check);
    if (pc != nullptr && pc->checked && *pc->checked >= t) ++n;
  }
  return n;
}

// A stay_ready check that has just failed waits for the fleet to have seen
// it: until min_pods pods (this one included) report a run of the check
// that ended after the failure, in a round that started after it, or at
// most one check interval (with its jitter and timeout) plus two rounds'
// timeouts. The peers' checks run out of step with this one's; a "pass"
// from before the failure says nothing about it.
bool Pending(const CheckView& c, const FleetView& f, WallClock::time_point now) {
  if (!c.required || !c.stay_ready_when_widespread || c.status != Status::kFail) return false;
  if (now < c.since) return false;
  const auto window = std::chrono::milliseconds(
      static_cast<int64_t>(c.interval_ms * (1 + c.jitter_percent / 100.0)) + c.timeout_ms +
      2LL * f.timeout_ms);
  if (now - c.since > window + kPendingGrace) return false;
  const bool round_since = f.last_round_started && *f.last_round_started >= c.since;
  return !round_since || PeersCheckedSince(f, c.name, c.since, now) + 1 < f.min_pods;
}

}  // namespace

const std::string& InstanceId() {
  static const std::string id = [] {
    std::random_device rd;
    char buf[17];
    std::snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
    return std::string(buf);
  }();
  return id;
}

const char* ScopeName(Scope s) {
  switch (s) {
    case Scope::kWidespread:
      return "widespread";
    case Scope::kLocal:
      return "local";
    case Scope::kNone:
      return "none";
  }
  return "none";
}

const char* DropReasonName(DropReason r) {
  switch (r) {
    case DropReason::kTimeout:
      return "timeout";
    case DropReason::kRefused:
      return "refused";
    case DropReason::kStatus:
      return "status";
    case DropReason::kOversized:
      return "oversized";
    case DropReason::kMalformed:
      return "malformed";
    case DropReason::kUnauthorized:
      return "unauthorized";
  }
  return "malformed";
}

const PeerCheck* PeerAnswer::Find(const std::string& check) const {
  auto it = std::lower_bound(checks.begin(), checks.end(), check,
                             [](const PeerCheck& c, const std::string& n) { return c.name < n; });
  return it != checks.end() && it->name == check ? &*it : nullptr;
}

bool FleetView::Fresh(const PeerAnswer& a, WallClock::time_point now) const {
  return now - a.received <= std::chrono::milliseconds(3LL * interval_ms);
}

CheckScope ScopeOf(const CheckView& c, const FleetView* fleet, WallClock::time_point now) {
  CheckScope out;
  const bool fails_here = c.status == Status::kFail;
  out.failing = fails_here ? 1 : 0;
  if (fleet == nullptr || !fleet->enabled) return out;
  out.answered = fleet->rounds > 0;
  for (const PeerAnswer& a : fleet->answers) {
    if (!fleet->Fresh(a, now)) continue;
    const PeerCheck* pc = a.Find(c.name);
    if (pc == nullptr || !pc->HasResult()) continue;
    ++out.pods;
    if (pc->Failing()) {
      ++out.failing;
      out.failing_pods.push_back(a.name.empty() ? a.address : a.name);
    }
  }
  out.pending = Pending(c, *fleet, now);
  if (!fails_here || out.pods < fleet->min_pods) return out;
  // failing / pods >= ratio, without the rounding of a division.
  const bool widespread = out.failing >= c.widespread_ratio * out.pods - 1e-9;
  out.scope = widespread ? Scope::kWidespread : Scope::kLocal;
  return out;
}

std::vector<CheckScope> ScopesOf(const HealthSnapshot& s, const FleetView* fleet,
                                 WallClock::time_point now) {
  std::vector<CheckScope> out;
  out.reserve(s.checks.size());
  for (const CheckView& c : s.checks) out.push_back(ScopeOf(c, fleet, now));
  return out;
}

int AnsweringPods(const FleetView* fleet, WallClock::time_point now) {
  int n = 1;
  if (fleet == nullptr || !fleet->enabled) return n;
  for (const PeerAnswer& a : fleet->answers) n += fleet->Fresh(a, now) ? 1 : 0;
  return n;
}

bool KeptReadyByFleet(const CheckView& c, const CheckScope& scope) {
  if (!c.required || !c.stay_ready_when_widespread || c.status != Status::kFail) return false;
  return scope.scope == Scope::kWidespread || scope.pending;
}

}  // namespace vigil
