#include "agent/k8s/state_changes.h"

#include <chrono>

namespace vigil {
namespace {

// "passing" / "failing" / "warning" for the note's previous state.
const char* StateWord(Status s) {
  switch (s) {
    case Status::kPass:
      return "passing";
    case Status::kWarn:
      return "warning";
    case Status::kFail:
      return "failing";
    case Status::kUnknown:
      break;
  }
  return "unknown";
}

// " after 2m14s passing" (or "" when the previous state is unknown).
std::string After(Status before, WallClock::time_point before_since, WallClock::time_point now) {
  if (before == Status::kUnknown) return "";
  return std::string(" after ") + ShortDuration(now - before_since) + " " + StateWord(before);
}

}  // namespace

std::string ShortDuration(WallClock::duration d) {
  long long s = std::chrono::duration_cast<std::chrono::seconds>(d).count();
  if (s < 0) s = 0;
  struct Unit {
    long long seconds;
    char suffix;
  };
  static constexpr Unit kUnits[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
  std::string out;
  int parts = 0;
  for (const Unit& u : kUnits) {
    const long long n = s / u.seconds;
    if (parts == 0 && n == 0 && u.seconds > 1) continue;
    if (parts == 1 && n == 0) break;
    out += std::to_string(n) + u.suffix;
    s -= n * u.seconds;
    if (++parts == 2) break;
  }
  return out;
}

bool ChangeOf(const CheckView& now, Status before, WallClock::time_point before_since,
              DependencyChange* out) {
  if (now.status == before || now.status == Status::kUnknown) return false;
  if (now.status == Status::kPass && before != Status::kFail && before != Status::kWarn) {
    return false;
  }
  out->check = now.name;
  out->time = now.since;
  const std::string after = After(before, before_since, now.since);
  const std::string why = now.reason.empty() ? "" : ": " + now.reason;
  if (now.status == Status::kPass) {
    out->reason = kReasonRecovered;
    out->type = "Normal";
    out->action = "CheckRecovered";
    // The time in the previous state, in the words of the spec's example.
    out->note = now.name + " recovered after " + ShortDuration(now.since - before_since);
  } else if (now.status == Status::kFail) {
    out->reason = now.required ? kReasonDown : kReasonDegraded;
    out->type = "Warning";
    out->action = "CheckFailed";
    out->note =
        now.name + (now.required ? " (required) failed" : " (optional) failed") + after + why;
  } else {
    out->reason = kReasonDegraded;
    out->type = "Warning";
    out->action = "CheckWarned";
    out->note = now.name + " warns" + after + why;
  }
  return true;
}

DependencyChange FlappingChange(const CheckView& now) {
  DependencyChange c;
  c.check = now.name;
  c.reason = kReasonFlapping;
  c.type = "Warning";
  c.action = "CheckFlapping";
  c.note = now.name + " is flapping (now " + StatusName(now.status) + ")";
  c.time = WallClock::now();
  return c;
}

// Called for every snapshot the scheduler publishes: allocates only when
// something changed.
bool ChangeWatcher::Differs(const HealthSnapshot& s) const {
  if (!primed_ || s.checks.size() != seen_.size()) return true;
  for (const CheckView& c : s.checks) {
    auto it = seen_.find(c.name);
    if (it == seen_.end() || it->second.status != c.status || it->second.since != c.since ||
        it->second.flapping != FlappingOf(c)) {
      return true;
    }
  }
  return false;
}

std::vector<DependencyChange> ChangeWatcher::Observe(const HealthSnapshot& s) {
  std::vector<DependencyChange> out;
  if (!Differs(s)) return out;
  std::map<std::string, Seen> next;
  for (const CheckView& c : s.checks) {
    const bool flapping = FlappingOf(c);
    next[c.name] = Seen{c.status, c.since, flapping};
    if (!primed_) continue;
    // A check new to the watcher (start, reload) counts from unknown.
    auto it = seen_.find(c.name);
    const Seen before = it == seen_.end() ? Seen{} : it->second;
    DependencyChange change;
    const bool changed = c.status != before.status || c.since != before.since;
    if (changed && ChangeOf(c, before.status, before.since, &change)) {
      out.push_back(std::move(change));
    }
    if (flapping && !before.flapping) out.push_back(FlappingChange(c));
  }
  seen_ = std::move(next);
  primed_ = true;
  return out;
}

}  // namespace vigil
