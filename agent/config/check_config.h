// One entry of "checks": its common keys, its timing and the kind's own JSON
// (docs/configuration.md, docs/checks.md).
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "checks/registry.h"

namespace vigil {

struct BreakerConfig {
  int failure_threshold = 5;
  int recovery_timeout_ms = 30000;
  int success_threshold = 2;
  bool operator==(const BreakerConfig& o) const {
    return failure_threshold == o.failure_threshold &&
           recovery_timeout_ms == o.recovery_timeout_ms && success_threshold == o.success_threshold;
  }
};

struct CheckTiming {
  int interval_ms = 5000;
  int timeout_ms = 1000;
  int unhealthy_threshold = 2;
  int healthy_threshold = 1;
  int jitter_percent = 10;
  // Old addresses may stand in for a failing DNS lookup this long (docs/dns.md).
  int dns_stale_s = 300;
  BreakerConfig breaker;
  // A TLS dependency whose certificate expires within this many days warns
  // (0: never).
  int cert_expiry_warn_days = 14;
  // Detection at the edge (Envoy's intervals; 0: unset). While failing or on
  // the way there: unhealthy_interval_ms (unset: interval_ms); the run right
  // after the first failure: unhealthy_edge_interval_ms (unset: the
  // unhealthy interval); the run right after the first pass that follows
  // failures: healthy_edge_interval_ms (unset: the interval that applies
  // then). Never two starts closer than min_interval_ms, whatever an edge
  // (a kept connection closed by the dependency) asks.
  int unhealthy_interval_ms = 0;
  int unhealthy_edge_interval_ms = 0;
  int healthy_edge_interval_ms = 0;
  int min_interval_ms = 100;
  // Flapping: percent state change over the last 21 results, Nagios-weighted;
  // over flap_high_percent starts, under flap_low_percent stops.
  bool flap_detection = true;
  double flap_high_percent = 50;
  double flap_low_percent = 25;
  // "flap_hold": "unready" (true) keeps a flapping required check on its
  // failing side for readiness until it stops flapping; "none" (false) not.
  bool flap_hold_unready = true;
  bool operator==(const CheckTiming& o) const {
    return interval_ms == o.interval_ms && timeout_ms == o.timeout_ms &&
           unhealthy_threshold == o.unhealthy_threshold &&
           healthy_threshold == o.healthy_threshold && jitter_percent == o.jitter_percent &&
           dns_stale_s == o.dns_stale_s && breaker == o.breaker &&
           cert_expiry_warn_days == o.cert_expiry_warn_days &&
           unhealthy_interval_ms == o.unhealthy_interval_ms &&
           unhealthy_edge_interval_ms == o.unhealthy_edge_interval_ms &&
           healthy_edge_interval_ms == o.healthy_edge_interval_ms &&
           min_interval_ms == o.min_interval_ms && flap_detection == o.flap_detection &&
           flap_high_percent == o.flap_high_percent && flap_low_percent == o.flap_low_percent &&
           flap_hold_unready == o.flap_hold_unready;
  }
};

struct CheckConfig {
  std::string name;
  std::string kind;
  std::string role;
  bool required = false;
  bool liveness = false;
  // A required check whose failure is widespread across the fleet (docs/fleet.md)
  // keeps the pod ready when true ("when_widespread": "stay_ready").
  bool stay_ready_when_widespread = false;
  // Widespread: failing on at least this share of the answering pods.
  double widespread_ratio = 0.5;
  // "depends_on": the checks whose failure is this one's root cause (shown
  // as blocked_by while they fail; readiness unchanged). Names of checks of
  // the same config, validated by CheckDependencies.
  std::vector<std::string> depends_on;
  CheckTiming timing;
  // The check's JSON object after ${VAR} expansion: what the kind's factory
  // builds from, and what reload compares to decide "unchanged". Shared and
  // never changed once parsed (null reads as a JSON null).
  std::shared_ptr<const nlohmann::json> spec;
  std::vector<std::string> secrets;

  // Same expanded JSON and same timing: a reload keeps the check's state.
  bool SameAs(const CheckConfig& o) const;
};

// The role table (README, docs/configuration.md): is a check of this role required by default?
bool RoleRequiredByDefault(const std::string& role);
const std::vector<std::string>& KnownRoles();

// The weakest password vigil accepts: a password scrubbed out of every line
// tells more than it hides when it is a short word.
constexpr size_t kMinPasswordChars = 8;

// The timing keys a check or "defaults" may carry.
const std::vector<std::string>& TimingKeys();

// Reads the timing keys of `obj` (a check or "defaults", at `path`) over *t.
void ReadTiming(const nlohmann::json& obj, const std::string& path, CheckTiming* t);

// Parses and validates one check at `path` ("checks[2]"); its kind's factory
// validates the kind's keys and collects the credentials.
CheckConfig ParseCheck(const nlohmann::json& j, const std::string& path,
                       const CheckTiming& defaults, const CheckRegistry& registry);

// The "depends_on" lists of a whole config: every name is a check of it, and
// no cycle ("checks[2].depends_on: cycle app -> db -> app"); throws
// ConfigError.
void CheckDependencies(const std::vector<CheckConfig>& checks);

// Builds the live check object of a validated config entry.
std::unique_ptr<Check> BuildCheck(const CheckConfig& config,
                                  const CheckRegistry& registry = CheckRegistry::Builtin());

}  // namespace vigil
