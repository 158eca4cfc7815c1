#include "agent/core/verdict.h"

namespace vigil {

const char* OverallName(Overall o) {
  switch (o) {
    case Overall::kOk:
      return "ok";
    case Overall::kDegraded:
      return "degraded";
    case Overall::kError:
      return "error";
    case Overall::kStarting:
      return "starting";
  }
  return "error";
}

Status StatusOf(Outcome o) {
  switch (o) {
    case Outcome::kPass:
      return Status::kPass;
    case Outcome::kWarn:
      return Status::kWarn;
    case Outcome::kFail:
      return Status::kFail;
  }
  return Status::kFail;
}

const char* IetfStatusName(Status s) {
  return s == Status::kPass ? "pass" : s == Status::kWarn ? "warn" : "fail";
}

const char* IetfStatusName(Overall o) {
  return o == Overall::kOk ? "pass" : o == Overall::kDegraded ? "warn" : "fail";
}

bool HeldUnready(const CheckView& c) {
  return c.required && c.flapping && c.flap_hold && c.status != Status::kUnknown;
}

Status ReadinessStatus(const CheckView& c) { return HeldUnready(c) ? Status::kFail : c.status; }

bool IsLive(const HealthSnapshot& s, bool loop_alive, const Exclusions& excluded) {
  if (!loop_alive) return false;
  for (const auto& c : s.checks) {
    if (!c.liveness || excluded.count(c.name)) continue;
    if (c.status == Status::kFail) return false;
  }
  return true;
}

bool KeptReady(const HealthSnapshot& s, size_t i, const Scopes* scopes) {
  if (scopes == nullptr || i >= scopes->size() || i >= s.checks.size()) return false;
  return KeptReadyByFleet(s.checks[i], (*scopes)[i]);
}

bool IsReady(const HealthSnapshot& s, const Exclusions& excluded, const Scopes* scopes) {
  if (s.draining) return false;
  for (size_t i = 0; i < s.checks.size(); ++i) {
    const CheckView& c = s.checks[i];
    if (!c.required || excluded.count(c.name)) continue;
    if (!IsUp(ReadinessStatus(c)) && !KeptReady(s, i, scopes)) return false;
  }
  return true;
}

bool IsStarted(const HealthSnapshot& s) {
  for (const auto& c : s.checks) {
    if (c.required && !c.ever_passed) return false;
  }
  return true;
}

Overall OverallStatus(const HealthSnapshot& s, const Scopes* scopes) {
  bool starting = false, degraded = false;
  for (size_t i = 0; i < s.checks.size(); ++i) {
    const CheckView& c = s.checks[i];
    // Liveness never uses fleet data.
    if (c.status == Status::kFail && c.liveness) return Overall::kError;
    if (c.status == Status::kFail && c.required && KeptReady(s, i, scopes)) {
      degraded = true;
      continue;
    }
    if (c.required && ReadinessStatus(c) == Status::kFail) return Overall::kError;
    if (c.status == Status::kUnknown && c.required) starting = true;
    if (c.status == Status::kWarn || (c.status == Status::kFail && !c.required)) degraded = true;
  }
  if (starting) return Overall::kStarting;
  return degraded ? Overall::kDegraded : Overall::kOk;
}

std::vector<std::string> BlockedBy(const HealthSnapshot& s, const CheckView& c) {
  std::vector<std::string> out;
  if (c.status != Status::kFail) return out;
  for (const std::string& dep : c.depends_on) {
    const CheckView* d = s.Find(dep);
    if (d != nullptr && d->status == Status::kFail) out.push_back(dep);
  }
  return out;
}

int OverallHttpCode(Overall o) { return o == Overall::kOk || o == Overall::kDegraded ? 200 : 503; }

}  // namespace vigil
