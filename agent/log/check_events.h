// The log events of one check, worded in one place: check_failed,
// check_recovered, check_passed, check_warn, check_still_failing (rate
// limited), check_flapping, check_flapping_stopped, check_note, check_notice, target_changed and
// the circuit breaker's circuit_opened / circuit_half_open / circuit_closed. The lines go through
// the one reporter (agent/log/reporter.h).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace vigil {

class Reporter;
enum class Level;

// Who the events are about.
struct CheckLabel {
  std::string name;
  std::string kind;
  std::string role;
  bool required = false;
};

class CheckEvents {
 public:
  // A check that keeps failing is logged again at most this often, with a count.
  static constexpr std::chrono::seconds kStillFailingEvery{60};

  CheckEvents(Reporter* reporter, CheckLabel label)
      : reporter_(reporter), label_(std::move(label)) {}

  // A reload may re-read the flags (required, role) of an unchanged check.
  void Relabel(CheckLabel label) { label_ = std::move(label); }

  void TargetChanged(const std::string& from, const std::string& to);
  // What the dependency said on the side (a PostgreSQL NOTICE).
  void Notice(const std::string& note);
  // A pass with a note (e.g. INFO refused by ACL: PING verdict only).
  void PassNote(const std::string& note);

  // The effective status changed; `reason` is why the new warn or fail.
  // `blocked_by`: a check this one depends on that fails too (the root
  // cause), named in the line and in its field "blocked_by".
  void Failed(const std::string& reason, std::chrono::steady_clock::time_point now,
              const std::string& blocked_by = {});
  void Warned(const std::string& reason);
  void Recovered();
  void Passed();
  // One more failed run of a check that is failing already: logged as
  // check_still_failing at most every kStillFailingEvery, with the count of
  // failed runs since the last line and the time it started failing.
  void FailedAgain(const std::string& reason, std::chrono::system_clock::time_point since,
                   std::chrono::steady_clock::time_point now);

  // Flapping started (check_flapping, a warning) or stopped
  // (check_flapping_stopped), at `percent` state change.
  void Flapping(double percent);
  void FlappingStopped(double percent);

  void CircuitOpened(const std::string& reason);
  void CircuitHalfOpen();
  void CircuitClosed();

 private:
  void Emit(Level level, const char* event, const std::string& reason, const char* what,
            std::vector<std::pair<std::string, std::string>> fields = {});
  Level FailureLevel() const;

  Reporter* reporter_;
  CheckLabel label_;
  std::chrono::steady_clock::time_point last_fail_log_{};
  uint64_t fails_since_log_ = 0;
};

}  // namespace vigil
