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

bool Pending(const CheckView& c, const FleetView& f, WallClock::time_point now) {
  if (!c.required || !c.stay_ready_when_widespread || c.status != Status::kFail) return false;
  if (now < c.since) return false;
  // Done once a round that started after the failure has come back.
  if (f.last_round_started && *f.last_round_started >= c.since) return false;
  const auto timeout = std::chrono::milliseconds(f.timeout_ms);
  // That round is under way: it ends by its own deadline.
  if (f.round_in_flight && *f.round_in_flight >= c.since) {
    return now - *f.round_in_flight <= timeout + kPendingGrace;
  }
  // Not started yet: a round already in flight (started before the
  // failure) finishes first, within one timeout.
  return now - c.since <= 2 * timeout + kPendingGrace;
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
    if (pc == nullptr || pc->status == Status::kUnknown) continue;
    ++out.pods;
    if (pc->status == Status::kFail) {
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
