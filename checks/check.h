// The one interface every dependency check implements.
//
// A check runs one attempt against its dependency and must return by the
// deadline it is given: all network I/O inside a check is non-blocking and
// polled against that deadline, and name resolution runs under it too
// (checks/net.h). Scheduling, thresholds, jitter and the circuit breaker are
// not a check's business: they live in the agent's Scheduler, the same for
// every kind (Envoy's health checker base takes the same split).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace vigil {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

enum class Outcome { kPass, kWarn, kFail };

const char* OutcomeName(Outcome o);  // "pass" | "warn" | "fail"

struct CheckResult {
  Outcome outcome = Outcome::kFail;
  // Wall time the attempt took, measured by the check itself.
  std::chrono::microseconds latency{0};
  // One line, on fail or warn; never holds a credential.
  std::string reason;
  // The deadline ran out. The scheduler words the reason the same way for
  // every kind: "timeout after N ms" with N the check's timeout_ms.
  bool timed_out = false;
  // TLS checks: notAfter (Unix seconds) of the leaf certificate the
  // dependency presented on the connection the run used (or last used).
  std::optional<int64_t> tls_not_after;

  static CheckResult Pass() { return {Outcome::kPass, {}, {}, false, {}}; }
  static CheckResult Warn(std::string why) {
    return {Outcome::kWarn, {}, std::move(why), false, {}};
  }
  static CheckResult Fail(std::string why) {
    return {Outcome::kFail, {}, std::move(why), false, {}};
  }
  static CheckResult Timeout(std::string phase) {
    return {Outcome::kFail, {}, "timeout while " + std::move(phase), true, {}};
  }
};

class Check {
 public:
  virtual ~Check() = default;
  Check() = default;
  Check(const Check&) = delete;
  Check& operator=(const Check&) = delete;

  // Runs one attempt; returns no later than `deadline` (plus scheduling noise).
  // Called from one thread at a time; a check may keep connections open
  // between calls and must reconnect after a failure.
  virtual CheckResult Run(Deadline deadline) = 0;

  // "host:port" (or a list of them) the check talks to. Never credentials.
  // May change between runs (Sentinel failover), so it is read after Run.
  virtual std::string Target() const = 0;

  // Drops kept-open connections (used by the breaker and on reload).
  virtual void Close() {}
};

// "timeout after N ms" with N the attempt's budget: the same text for every
// kind so that logs and alerts can match on it.
std::string TimeoutReason(std::chrono::milliseconds budget);

// The reason the agent shows for a timed-out result: TimeoutReason, plus
// "(handshake timeout)" when the deadline ran out inside a TLS handshake.
std::string TimeoutReasonOf(const CheckResult& result, std::chrono::milliseconds budget);

// Certificate expiry: a run that did not fail, on a certificate that
// expires within `warn_days` of `now_unix` (0: off), becomes a warn
// ("certificate expires in 5 days"; "certificate has expired" when a check
// that skips verification got one past its date).
void ApplyCertExpiry(CheckResult* result, int warn_days, int64_t now_unix);

// Milliseconds left until `deadline`, never negative.
int RemainingMs(Deadline deadline);

}  // namespace vigil
