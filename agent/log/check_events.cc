#include "agent/log/check_events.h"

#include <cstdio>

#include "agent/log/reporter.h"

namespace vigil {

void CheckEvents::Emit(Level level, const char* event, const std::string& reason, const char* what,
                       std::vector<std::pair<std::string, std::string>> fields) {
  std::string message = "[" + label_.name + "] " + KindDisplayName(label_.kind) + what;
  if (!reason.empty()) message += reason;
  reporter_->Report(
      {level, event, label_.name, label_.kind, reason, std::move(message), std::move(fields)});
}

// A required check's failure is an error; an optional one's a warning.
Level CheckEvents::FailureLevel() const { return label_.required ? Level::kError : Level::kWarn; }

void CheckEvents::TargetChanged(const std::string& from, const std::string& to) {
  reporter_->Report({Level::kInfo,
                     "target_changed",
                     label_.name,
                     label_.kind,
                     "",
                     "[" + label_.name + "] " + KindDisplayName(label_.kind) +
                         " target changed from " + from + " to " + to,
                     {{"from", from}, {"to", to}}});
}

void CheckEvents::Notice(const std::string& note) { Emit(Level::kWarn, "check_notice", note, " "); }

void CheckEvents::PassNote(const std::string& note) {
  Emit(Level::kWarn, "check_note", note, " note: ");
}

void CheckEvents::Failed(const std::string& reason, std::chrono::steady_clock::time_point now,
                         const std::string& blocked_by) {
  last_fail_log_ = now;
  fails_since_log_ = 0;
  std::vector<std::pair<std::string, std::string>> fields = {
      {"required", label_.required ? "true" : "false"}, {"role", label_.role}};
  if (blocked_by.empty()) {
    Emit(FailureLevel(), "check_failed", reason, " error: ", std::move(fields));
    return;
  }
  // The root cause named: "[app] HTTP error (blocked by db): connection refused".
  fields.emplace_back("blocked_by", blocked_by);
  Emit(FailureLevel(), "check_failed", reason, (" error (blocked by " + blocked_by + "): ").c_str(),
       std::move(fields));
}

void CheckEvents::Warned(const std::string& reason) {
  Emit(Level::kWarn, "check_warn", reason, " warning: ");
}

void CheckEvents::Recovered() { Emit(Level::kInfo, "check_recovered", "", " recovered"); }

void CheckEvents::Passed() { Emit(Level::kInfo, "check_passed", "", " ok"); }

void CheckEvents::FailedAgain(const std::string& reason,
                              std::chrono::system_clock::time_point since,
                              std::chrono::steady_clock::time_point now) {
  ++fails_since_log_;
  if (now - last_fail_log_ < kStillFailingEvery) return;
  Emit(FailureLevel(), "check_still_failing", reason,
       " error: ", {{"failures", std::to_string(fails_since_log_)}, {"since", FormatTime(since)}});
  fails_since_log_ = 0;
  last_fail_log_ = now;
}

namespace {
std::string Percent(double p) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", p);
  return buf;
}
}  // namespace

void CheckEvents::Flapping(double percent) {
  const std::string pct = Percent(percent);
  Emit(Level::kWarn, "check_flapping", "",
       (" flapping: " + pct + "% state change over the last 21 results").c_str(),
       {{"state_change_percent", pct}});
}

void CheckEvents::FlappingStopped(double percent) {
  const std::string pct = Percent(percent);
  Emit(Level::kInfo, "check_flapping_stopped", "",
       (" stopped flapping: " + pct + "% state change over the last 21 results").c_str(),
       {{"state_change_percent", pct}});
}

void CheckEvents::CircuitOpened(const std::string& reason) {
  Emit(Level::kError, "circuit_opened", reason, " circuit breaker opened: ");
}

void CheckEvents::CircuitHalfOpen() {
  Emit(Level::kInfo, "circuit_half_open", "", " circuit breaker half-open, trying");
}

void CheckEvents::CircuitClosed() {
  Emit(Level::kInfo, "circuit_closed", "", " circuit breaker closed");
}

}  // namespace vigil
