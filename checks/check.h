// The one interface every dependency check implements.
//
// A check runs one attempt against its dependency and must return by the
// deadline it is given: all network I/O inside a check is non-blocking and
// polled against that deadline, and name resolution runs under it too
// (checks/common/net.h). Scheduling, thresholds, jitter and the circuit breaker are
// not a check's business: they live in the agent's Scheduler, the same for
// every kind (Envoy's health checker base takes the same split).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace vigil {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

enum class Outcome { kPass, kWarn, kFail };

const char* OutcomeName(Outcome o);  // "pass" | "warn" | "fail"

// Why a run failed, from a small fixed set so that
// vigil_check_failures_total{reason} stays bounded. Each kind sets it where
// the failure happens (never by reading the reason text afterwards); see
// docs/metrics.md for which kind produces which.
enum class FailureKind {
  kTimeout,   // the deadline ran out
  kRefused,   // no connection: refused, reset, host or network unreachable
  kDns,       // the name did not resolve
  kTls,       // TLS handshake or certificate
  kAuth,      // credentials or permissions refused
  kProtocol,  // an answer that is not what the protocol says
  kRole,      // wrong role (Redis master/replica, PostgreSQL in recovery)
  kLoading,   // the server is starting up or loading its data
  kReadonly,  // the server refuses writes (READONLY, read-only transaction)
  kOom,       // the server is out of memory
  kStatus,    // it answered, and said it is not OK (HTTP status, cluster_state)
  kBody,      // the HTTP body lacks what expect_body_contains wants
  kOther,
};
inline constexpr size_t kFailureKindCount = static_cast<size_t>(FailureKind::kOther) + 1;

// "timeout" | "refused" | ... | "other": the `reason` label.
const char* FailureKindName(FailureKind k);

// What a check read on its way besides the verdict, for /metrics gauges.
// Set only what was read on this run; absent values are not rendered.
struct CheckSignals {
  std::optional<double> redis_memory_ratio;  // used_memory / maxmemory, maxmemory > 0
  std::optional<std::string> redis_role;     // "master" | "replica"
  std::optional<bool> postgres_in_recovery;
  std::optional<double> postgres_replication_lag_s;  // on a replica, when measured
  bool empty() const {
    return !redis_memory_ratio && !redis_role && !postgres_in_recovery &&
           !postgres_replication_lag_s;
  }
};

struct CheckResult {
  Outcome outcome = Outcome::kFail;
  // How long Run took. Every check built through CheckRegistry has it set
  // by the registry's wrapper around Run (checks/registry.cc), the same for
  // every kind; a kind does not time itself. The agent's scheduler does not
  // use it: it times the call from its worker thread and records that.
  std::chrono::microseconds latency{0};
  // One line, on fail or warn; never holds a credential.
  std::string reason;
  // The deadline ran out. The scheduler words the reason the same way for
  // every kind: "timeout after N ms" with N the check's timeout_ms.
  bool timed_out = false;
  // Why it failed (meaningful on fail only).
  FailureKind failure = FailureKind::kOther;
  // Signals read on the way (Redis INFO, PostgreSQL recovery state).
  CheckSignals signals{};
  // Things the dependency said on the side (PostgreSQL's NOTICE/WARNING
  // messages), one line each, each said once: the agent logs them.
  std::vector<std::string> notes{};

  // TLS checks: notAfter (Unix seconds) of the leaf certificate the
  // dependency presented on the connection the run used (or last used).
  std::optional<int64_t> tls_not_after{};

  static CheckResult Pass() { return {Outcome::kPass, {}, {}, false}; }
  static CheckResult Warn(std::string why) { return {Outcome::kWarn, {}, std::move(why), false}; }
  static CheckResult Fail(std::string why) { return {Outcome::kFail, {}, std::move(why), false}; }
  static CheckResult Fail(FailureKind kind, std::string why) {
    return {Outcome::kFail, {}, std::move(why), false, kind};
  }
  static CheckResult Timeout(std::string phase) {
    return {Outcome::kFail, {}, "timeout while " + std::move(phase), true, FailureKind::kTimeout};
  }
};

// Threads: a check is used by one thread at a time, and its calls never
// overlap. The agent builds it (and reads Target() once) on the thread that
// loads the config, then starts the check's own worker thread, which alone
// calls Run, Target and Close from then on (agent/core/scheduler.cc); the
// check is destroyed after the worker's last call. Nothing calls a check
// from another thread, not even during a run: there is no cancel call (a
// run past its deadline is left to finish on its worker, its result thrown
// away). So a check's own state needs no lock. Only what a check hands to a
// thread of its own (PostgreSQL's cancel request) crosses threads: that
// thread owns its data, or shares it under a vigil::Mutex
// (checks/common/thread_annotations.h).
class Check {
 public:
  virtual ~Check() = default;
  Check() = default;
  Check(const Check&) = delete;
  Check& operator=(const Check&) = delete;

  // Runs one attempt; returns no later than `deadline` (plus scheduling noise).
  // A check may keep connections open between calls and must reconnect
  // after a failure.
  virtual CheckResult Run(Deadline deadline) = 0;

  // "host:port" (or a list of them) the check talks to. Never credentials.
  // May change during a run (Sentinel failover), so it is read after Run.
  virtual std::string Target() const = 0;

  // Drops kept-open connections: the agent calls it after a failed run,
  // between runs, so the next run reconnects.
  virtual void Close() {}

  // Detection at the edge. Between runs, the socket of the connection the
  // check keeps open, or -1 (none kept, or a kind that keeps none). The
  // agent's worker waits on it between runs: readable (or hung up) means
  // the dependency closed it or said something unasked.
  virtual int IdleFd() const { return -1; }

  // Called between runs when IdleFd() turned readable. True: the connection
  // is lost (EOF, an error, data a request did not ask for) and the check has
  // closed it; the agent runs the check at once (never more often than
  // min_interval_ms). False: what came was harmless and is consumed (a
  // PostgreSQL NOTICE); the connection stays.
  virtual bool IdleConnectionLost() { return false; }
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
