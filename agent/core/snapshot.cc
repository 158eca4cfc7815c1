#include "agent/core/snapshot.h"

#include "agent/config/config.h"
#include "agent/core/check_tracker.h"

namespace vigil {

void DaemonState::CountReload(bool ok, WallClock::time_point now) {
  (ok ? config_reloads : config_reload_failures)++;
  last_reload_ok = ok;
  if (ok) last_reload_success = now;
}

void SetDaemonState(const DaemonState& d, HealthSnapshot* s) {
  s->draining = d.draining;
  s->config_reloads = d.config_reloads;
  s->config_reload_failures = d.config_reload_failures;
  s->last_reload_ok = d.last_reload_ok;
  s->last_reload_success = d.last_reload_success;
}

CheckView IdentityOf(const CheckConfig& config) {
  CheckView v;
  v.name = config.name;
  v.kind = config.kind;
  v.role = config.role;
  v.required = config.required;
  v.liveness = config.liveness;
  v.stay_ready_when_widespread = config.stay_ready_when_widespread;
  v.widespread_ratio = config.widespread_ratio;
  v.depends_on = config.depends_on;
  return v;
}

CheckView ViewOf(const CheckConfig& config, const std::string& target, const CheckTracker& t) {
  CheckView v = IdentityOf(config);
  v.target = target;
  v.interval_ms = config.timing.interval_ms;
  v.timeout_ms = config.timing.timeout_ms;
  v.jitter_percent = config.timing.jitter_percent;
  v.status = t.status();
  v.since = t.since();
  v.latency_ms = t.last_latency().count() / 1000.0;
  v.consecutive_failures = t.consecutive_failures();
  v.last_success = t.last_success();
  v.last_error = t.last_error();
  v.reason = t.reason();
  v.circuit = t.breaker();
  v.ever_passed = t.ever_passed();
  v.attempts = t.attempts();
  v.failures_total = t.failures_total();
  v.failures_by_kind = t.failures_by_kind();
  v.recent = t.recent();
  v.signals = t.signals();
  v.durations = t.durations();
  v.breaker_transitions = t.breaker_transitions();
  v.tls_not_after = t.tls_not_after();
  v.flapping = t.flapping();
  v.flap_percent = t.flap_percent();
  v.flap_history = t.flap_history();
  v.flap_hold = config.timing.flap_hold_unready;
  return v;
}

}  // namespace vigil
