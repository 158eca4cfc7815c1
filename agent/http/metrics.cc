// Prometheus text exposition (format 0.0.4) of the snapshot, plus the standard
// process_* figures read from /proc. Every family has HELP and TYPE, label
// values are escaped, and `promtool check metrics` has nothing to say.
#include "agent/http/metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "agent/core/verdict.h"
#include "agent/http/api.h"
#include "checks/common/untrusted_text.h"
#include "checks/common/version.h"

namespace vigil {
namespace {

// A label value: valid UTF-8 (Prometheus refuses the whole scrape
// otherwise), with '\\', '"' and LF escaped.
std::string Escape(const std::string& raw) {
  const std::string v = ValidUtf8(raw);
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string Num(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

class Writer {
 public:
  void Family(const char* name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void Sample(const std::string& name, const std::string& labels, double v) {
    out_ << name;
    if (!labels.empty()) out_ << '{' << labels << '}';
    out_ << ' ' << Num(v) << '\n';
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

std::string L(const char* k, const std::string& v) {
  return std::string(k) + "=\"" + Escape(v) + "\"";
}

struct ProcStat {
  double cpu_seconds = 0, rss_bytes = 0, vsize_bytes = 0, start_time = 0;
  bool ok = false;
};

ProcStat ReadProcStat() {
  ProcStat p;
  std::ifstream in("/proc/self/stat");
  std::string line;
  if (!std::getline(in, line)) return p;
  // Fields after the command name, which may hold spaces: skip past ')'.
  auto close = line.rfind(')');
  if (close == std::string::npos) return p;
  std::istringstream rest(line.substr(close + 2));
  std::vector<std::string> f;
  std::string tok;
  while (rest >> tok) f.push_back(tok);
  // f[0] is field 3 (state): utime=14, stime=15, starttime=22, vsize=23, rss=24.
  if (f.size() < 22) return p;
  const double tck = static_cast<double>(sysconf(_SC_CLK_TCK));
  p.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / tck;
  const double start_ticks = std::stod(f[19]);
  p.vsize_bytes = std::stod(f[20]);
  p.rss_bytes = std::stod(f[21]) * static_cast<double>(sysconf(_SC_PAGESIZE));
  std::ifstream st("/proc/stat");
  std::string key;
  double btime = 0;
  while (st >> key) {
    if (key == "btime") {
      st >> btime;
      break;
    }
    std::getline(st, key);
  }
  p.start_time = btime + start_ticks / tck;
  p.ok = true;
  return p;
}

int CountOpenFds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
    --n;  // the directory stream itself
  }
  return n;
}

// The signals the checks read, each family only when some check has it
// (a check's series only while its latest run read it).
void RenderSignals(const HealthSnapshot& s, Writer* w) {
  auto any = [&](auto has) {
    for (const auto& c : s.checks)
      if (has(c.signals)) return true;
    return false;
  };
  if (any([](const CheckSignals& g) { return g.redis_memory_ratio.has_value(); })) {
    w->Family("vigil_redis_memory_ratio", "gauge",
              "Redis used_memory / maxmemory (only when maxmemory is set).");
    for (const auto& c : s.checks)
      if (c.signals.redis_memory_ratio)
        w->Sample("vigil_redis_memory_ratio", L("check", c.name), *c.signals.redis_memory_ratio);
  }
  if (any([](const CheckSignals& g) { return g.redis_role.has_value(); })) {
    w->Family("vigil_redis_role", "gauge",
              "Redis replication role: 1 for the current one (master or replica).");
    for (const auto& c : s.checks) {
      if (!c.signals.redis_role) continue;
      for (const char* role : {"master", "replica"}) {
        w->Sample("vigil_redis_role", L("check", c.name) + "," + L("role", role),
                  *c.signals.redis_role == role ? 1 : 0);
      }
    }
  }
  if (any([](const CheckSignals& g) { return g.postgres_in_recovery.has_value(); })) {
    w->Family("vigil_postgres_in_recovery", "gauge",
              "1 when PostgreSQL is in recovery (a replica or standby), 0 on a primary.");
    for (const auto& c : s.checks)
      if (c.signals.postgres_in_recovery)
        w->Sample("vigil_postgres_in_recovery", L("check", c.name),
                  *c.signals.postgres_in_recovery ? 1 : 0);
  }
  if (any([](const CheckSignals& g) { return g.postgres_replication_lag_s.has_value(); })) {
    w->Family("vigil_postgres_replication_lag_seconds", "gauge",
              "Replication lag of a PostgreSQL replica in seconds (0 when it has replayed all "
              "it received).");
    for (const auto& c : s.checks)
      if (c.signals.postgres_replication_lag_s)
        w->Sample("vigil_postgres_replication_lag_seconds", L("check", c.name),
                  *c.signals.postgres_replication_lag_s);
  }
}

// The agent's own verdicts.
void RenderVerdicts(const HealthSnapshot& s, bool live, const Scopes& scopes, Writer* w) {
  const Overall o = OverallStatus(s, &scopes);
  w->Family("vigil_ready", "gauge", "1 when /readyz answers 200, else 0.");
  w->Sample("vigil_ready", "", IsReady(s, {}, &scopes) ? 1 : 0);
  w->Family("vigil_live", "gauge", "1 when /livez answers 200, else 0.");
  w->Sample("vigil_live", "", live ? 1 : 0);
  w->Family("vigil_draining", "gauge", "1 while draining after SIGTERM.");
  w->Sample("vigil_draining", "", s.draining ? 1 : 0);
  w->Family("vigil_health_status", "gauge", "Overall /health status: 1 for the current one.");
  for (Overall x : {Overall::kOk, Overall::kDegraded, Overall::kError, Overall::kStarting}) {
    w->Sample("vigil_health_status", L("status", OverallName(x)), x == o ? 1 : 0);
  }
}

// What each check is and how it stands, and the signals it read.
void RenderCheckStates(const HealthSnapshot& s, Writer* w) {
  w->Family("vigil_check_up", "gauge", "1 when the check passes or warns, else 0.");
  for (const auto& c : s.checks) {
    w->Sample("vigil_check_up",
              L("check", c.name) + "," + L("kind", c.kind) + "," + L("role", c.role) + "," +
                  L("required", c.required ? "true" : "false"),
              IsUp(c.status) ? 1 : 0);
  }
  w->Family("vigil_check_info", "gauge",
            "A configured check; the value is always 1. target is host:port, never credentials.");
  for (const auto& c : s.checks) {
    w->Sample("vigil_check_info",
              L("check", c.name) + "," + L("kind", c.kind) + "," + L("role", c.role) + "," +
                  L("required", c.required ? "true" : "false") + "," + L("target", c.target),
              1);
  }
  RenderSignals(s, w);
  w->Family("vigil_check_status", "gauge", "Effective status of a check: 1 for the current one.");
  for (const auto& c : s.checks) {
    for (Status x : {Status::kUnknown, Status::kPass, Status::kWarn, Status::kFail}) {
      w->Sample("vigil_check_status", L("check", c.name) + "," + L("status", StatusName(x)),
                x == c.status ? 1 : 0);
    }
  }
  w->Family("vigil_check_duration_seconds", "histogram", "Duration of check attempts.");
  for (const auto& c : s.checks) {
    const std::string lc = L("check", c.name);
    for (size_t i = 0; i < kDurationBuckets.size(); ++i) {
      w->Sample("vigil_check_duration_seconds_bucket", lc + "," + L("le", Num(kDurationBuckets[i])),
                static_cast<double>(c.durations.buckets[i]));
    }
    w->Sample("vigil_check_duration_seconds_bucket", lc + ",le=\"+Inf\"",
              static_cast<double>(c.durations.count));
    w->Sample("vigil_check_duration_seconds_sum", lc, c.durations.sum);
    w->Sample("vigil_check_duration_seconds_count", lc, static_cast<double>(c.durations.count));
  }
}

// Attempts and failures of each check.
void RenderCheckCounts(const HealthSnapshot& s, Writer* w) {
  w->Family("vigil_check_attempts_total", "counter", "Check attempts run.");
  for (const auto& c : s.checks)
    w->Sample("vigil_check_attempts_total", L("check", c.name), static_cast<double>(c.attempts));
  // Every reason of every check, from 0: a series that appears only with its
  // first failure makes rate() and increase() miss that failure. The set is
  // fixed (13 a check), so this stays bounded.
  w->Family("vigil_check_failures_total", "counter",
            "Check attempts that failed, by reason (runs the open circuit breaker skips are not "
            "attempts).");
  for (const auto& c : s.checks) {
    for (size_t k = 0; k < kFailureKindCount; ++k) {
      w->Sample(
          "vigil_check_failures_total",
          L("check", c.name) + "," + L("reason", FailureKindName(static_cast<FailureKind>(k))),
          static_cast<double>(c.failures_by_kind[k]));
    }
  }
  w->Family("vigil_check_consecutive_failures", "gauge", "Failed attempts in a row.");
  for (const auto& c : s.checks)
    w->Sample("vigil_check_consecutive_failures", L("check", c.name), c.consecutive_failures);
  w->Family("vigil_check_last_success_timestamp_seconds", "gauge",
            "Unix time of the last passing attempt (0 if none).");
  for (const auto& c : s.checks) {
    double t = c.last_success
                   ? std::chrono::duration<double>(c.last_success->time_since_epoch()).count()
                   : 0;
    w->Sample("vigil_check_last_success_timestamp_seconds", L("check", c.name), t);
  }
}

// Flapping: one series a check.
void RenderFlapping(const HealthSnapshot& s, Writer* w) {
  w->Family("vigil_check_flapping", "gauge",
            "1 while the check flaps (percent state change of its last 21 results over "
            "flap_high_percent, until under flap_low_percent), else 0.");
  for (const auto& c : s.checks)
    w->Sample("vigil_check_flapping", L("check", c.name), c.flapping ? 1 : 0);
}

// Root cause: one series a depends_on edge, 1 while the check fails and the
// check it depends on fails too (BlockedBy).
void RenderBlocked(const HealthSnapshot& s, Writer* w) {
  bool any = false;
  for (const auto& c : s.checks) any = any || !c.depends_on.empty();
  if (!any) return;
  w->Family("vigil_check_blocked", "gauge",
            "1 while the check fails and the check it depends on (by) fails too, else 0.");
  for (const auto& c : s.checks) {
    const std::vector<std::string> blocked = BlockedBy(s, c);
    for (const std::string& dep : c.depends_on) {
      const bool on = std::find(blocked.begin(), blocked.end(), dep) != blocked.end();
      w->Sample("vigil_check_blocked", L("check", c.name) + "," + L("by", dep), on ? 1 : 0);
    }
  }
}

// Circuit breakers and TLS certificate expiry.
void RenderBreakersAndCerts(const HealthSnapshot& s, Writer* w) {
  w->Family("vigil_circuit_breaker_state", "gauge",
            "Circuit breaker state: 0 closed, 1 half-open, 2 open.");
  for (const auto& c : s.checks)
    w->Sample("vigil_circuit_breaker_state", L("check", c.name), static_cast<int>(c.circuit));
  w->Family("vigil_circuit_breaker_transitions_total", "counter",
            "Circuit breaker transitions, by the state entered.");
  for (const auto& c : s.checks) {
    for (BreakerState b : {BreakerState::kClosed, BreakerState::kHalfOpen, BreakerState::kOpen}) {
      w->Sample("vigil_circuit_breaker_transitions_total",
                L("check", c.name) + "," + L("to", BreakerName(b)),
                static_cast<double>(c.breaker_transitions[static_cast<size_t>(b)]));
    }
  }
  bool any_tls = false;
  for (const auto& c : s.checks) any_tls = any_tls || c.tls_not_after.has_value();
  if (any_tls) {
    w->Family("vigil_check_tls_cert_expiry_timestamp_seconds", "gauge",
              "Unix time when the TLS certificate the dependency presents expires.");
    for (const auto& c : s.checks) {
      if (!c.tls_not_after) continue;
      w->Sample("vigil_check_tls_cert_expiry_timestamp_seconds", L("check", c.name),
                static_cast<double>(*c.tls_not_after));
    }
  }
}

// The Kubernetes Events the recorder sent and dropped (docs/kubernetes.md#events).
void RenderKubernetesEvents(const AgentCounters& counters, Writer* w) {
  const KubernetesEventCounts k =
      counters.kubernetes_events ? counters.kubernetes_events() : KubernetesEventCounts();
  w->Family("vigil_kubernetes_events_enabled", "gauge",
            "1 when kubernetes_events is on: check state changes are recorded as Events.");
  w->Sample("vigil_kubernetes_events_enabled", "", k.enabled ? 1 : 0);
  w->Family("vigil_kubernetes_events_sent_total", "counter",
            "Kubernetes Events the API accepted, by result (created, updated: a series count, "
            "exists: 409 on create).");
  for (const auto& [result, n] : k.sent) {
    w->Sample("vigil_kubernetes_events_sent_total", L("result", result), static_cast<double>(n));
  }
  w->Family("vigil_kubernetes_events_dropped_total", "counter",
            "Kubernetes Events not recorded, by reason (queue_full, rate_limited, rejected, "
            "unavailable, timeout, error).");
  for (const auto& [reason, n] : k.dropped) {
    w->Sample("vigil_kubernetes_events_dropped_total", L("reason", reason), static_cast<double>(n));
  }
}

// Config reloads and the log.
void RenderAgentCounters(const HealthSnapshot& s, const AgentCounters& counters, Writer* w) {
  w->Family("vigil_config_reloads_total", "counter", "Configuration reloads applied.");
  w->Sample("vigil_config_reloads_total", "", static_cast<double>(s.config_reloads));
  w->Family("vigil_config_reload_failures_total", "counter",
            "Configuration reloads refused as invalid.");
  w->Sample("vigil_config_reload_failures_total", "",
            static_cast<double>(s.config_reload_failures));
  w->Family("vigil_config_last_reload_successful", "gauge",
            "1 when the latest configuration reload was applied (or none was tried), 0 when it "
            "was refused.");
  w->Sample("vigil_config_last_reload_successful", "", s.last_reload_ok ? 1 : 0);
  w->Family("vigil_config_last_reload_success_timestamp_seconds", "gauge",
            "Unix time the configuration was last loaded successfully (start or reload).");
  w->Sample("vigil_config_last_reload_success_timestamp_seconds", "",
            std::chrono::duration<double>(s.last_reload_success.time_since_epoch()).count());
  w->Family("vigil_log_events_dropped_total", "counter",
            "Log events dropped because stdout was full or closed.");
  w->Sample("vigil_log_events_dropped_total", "",
            counters.log_events_dropped ? static_cast<double>(counters.log_events_dropped()) : 0);
  RenderKubernetesEvents(counters, w);
}

// The standard process_* figures, read from /proc.
void RenderProcess(Writer* w) {
  ProcStat p = ReadProcStat();
  if (p.ok) {
    w->Family("process_cpu_seconds_total", "counter", "Total user and system CPU time in seconds.");
    w->Sample("process_cpu_seconds_total", "", p.cpu_seconds);
    w->Family("process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
    w->Sample("process_resident_memory_bytes", "", p.rss_bytes);
    w->Family("process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes.");
    w->Sample("process_virtual_memory_bytes", "", p.vsize_bytes);
    w->Family("process_start_time_seconds", "gauge",
              "Start time of the process since unix epoch in seconds.");
    w->Sample("process_start_time_seconds", "", p.start_time);
  }
  w->Family("process_open_fds", "gauge", "Number of open file descriptors.");
  w->Sample("process_open_fds", "", CountOpenFds());
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
    w->Family("process_max_fds", "gauge", "Maximum number of open file descriptors.");
    w->Sample("process_max_fds", "", static_cast<double>(rl.rlim_cur));
  }
}

// The fleet (docs/fleet.md): with the fleet off, this pod alone.
void RenderFleet(const HealthSnapshot& s, const FleetView* fleet, const Scopes& scopes,
                 WallClock::time_point now, Writer* w) {
  w->Family("vigil_fleet_pods", "gauge", "Pods answering in the fleet, this one included.");
  w->Sample("vigil_fleet_pods", "", AnsweringPods(fleet, now));
  w->Family("vigil_fleet_peers_known", "gauge", "Peers found (DNS or list), this pod left out.");
  w->Sample("vigil_fleet_peers_known", "", fleet != nullptr ? fleet->peers_known : 0);
  w->Family("vigil_fleet_rounds_total", "counter", "Fleet rounds completed.");
  w->Sample("vigil_fleet_rounds_total", "", fleet != nullptr ? fleet->rounds : 0);
  w->Family("vigil_fleet_check_failing_pods", "gauge",
            "Pods failing the check, this one included, among those answering.");
  for (size_t i = 0; i < s.checks.size() && i < scopes.size(); ++i) {
    w->Sample("vigil_fleet_check_failing_pods", L("check", s.checks[i].name), scopes[i].failing);
  }
  w->Family("vigil_check_scope", "gauge",
            "Where the check fails: widespread, local or none; 1 for the current one.");
  for (size_t i = 0; i < s.checks.size() && i < scopes.size(); ++i) {
    for (Scope x : kScopes) {
      w->Sample("vigil_check_scope", L("check", s.checks[i].name) + "," + L("scope", ScopeName(x)),
                scopes[i].scope == x ? 1 : 0);
    }
  }
  w->Family("vigil_fleet_answers_dropped_total", "counter",
            "Peer answers thrown away, by reason (timeout, refused, status, oversized, "
            "malformed, unauthorized).");
  for (size_t r = 0; r < kDropReasonCount; ++r) {
    w->Sample("vigil_fleet_answers_dropped_total",
              L("reason", DropReasonName(static_cast<DropReason>(r))),
              fleet != nullptr ? static_cast<double>(fleet->dropped[r]) : 0);
  }
}

}  // namespace

std::string RenderMetrics(const HealthSnapshot& s, bool live, const AgentCounters& counters,
                          const FleetView* fleet, const Scopes& scopes, WallClock::time_point now) {
  Writer w;
  w.Family("vigil_build_info", "gauge", "Build information; the value is always 1.");
  w.Sample("vigil_build_info", L("version", kVersion), 1);
  RenderVerdicts(s, live, scopes, &w);
  RenderFleet(s, fleet, scopes, now, &w);
  RenderCheckStates(s, &w);
  RenderCheckCounts(s, &w);
  RenderFlapping(s, &w);
  RenderBlocked(s, &w);
  RenderBreakersAndCerts(s, &w);
  RenderAgentCounters(s, counters, &w);
  RenderProcess(&w);
  return w.str();
}

}  // namespace vigil
