#include "agent/config/check_config.h"

#include <regex>

#include <nlohmann/json.hpp>

#include "agent/config/config_fields.h"
#include "checks/common/json_read.h"

namespace vigil {
namespace {

using json = nlohmann::json;

const std::vector<std::string> kBreakerKeys = {"failure_threshold", "recovery_timeout_ms",
                                               "success_threshold"};
const std::vector<std::string> kCommonCheckKeys = {
    "name",      "kind", "role", "required", "liveness", "when_widespread", "widespread_ratio",
    "depends_on"};

// "when_widespread" and "widespread_ratio" (docs/fleet.md).
void ReadFleetKeys(const json& j, const std::string& path, CheckConfig* c) {
  const std::string when =
      OptionalString(j, "when_widespread", "unready", Child(path, "when_widespread"));
  if (when != "unready" && when != "stay_ready") {
    throw ConfigError(Child(path, "when_widespread"),
                      "want \"unready\" or \"stay_ready\", got" + Echo(when));
  }
  c->stay_ready_when_widespread = when == "stay_ready";
  c->widespread_ratio =
      OptionalNumber(j, "widespread_ratio", 0.5, 0.01, 1.0, Child(path, "widespread_ratio"));
}

// "depends_on": a list of check names, each once (which exist is checked
// with the whole config: CheckDependencies).
std::vector<std::string> ReadDependsOn(const json& j, const std::string& path) {
  std::vector<std::string> out;
  auto it = j.find("depends_on");
  if (it == j.end()) return out;
  const std::string field = Child(path, "depends_on");
  if (!it->is_array()) throw ConfigError(field, "must be a list of check names");
  for (size_t i = 0; i < it->size(); ++i) {
    const json& v = (*it)[i];
    const std::string f = field + "[" + std::to_string(i) + "]";
    if (!v.is_string()) throw ConfigError(f, "must be a check name");
    const std::string name = v.get<std::string>();
    if (Contains(out, name)) throw ConfigError(f, "duplicate" + Echo(name));
    out.push_back(name);
  }
  return out;
}

// A path of depends_on edges from `from` back to `target` (depth first), or
// false; `path` holds the names on the way, `target` first.
bool FindCycle(const std::vector<CheckConfig>& checks, const std::string& from,
               const std::string& target, std::vector<std::string>* path,
               std::vector<std::string>* seen) {
  for (const auto& c : checks) {
    if (c.name != from) continue;
    for (const std::string& dep : c.depends_on) {
      if (dep == target) return true;
      if (Contains(*seen, dep)) continue;
      seen->push_back(dep);
      path->push_back(dep);
      if (FindCycle(checks, dep, target, path, seen)) return true;
      path->pop_back();
    }
  }
  return false;
}

// Characters, not bytes: a UTF-8 sequence counts once.
size_t CharCount(const std::string& s) {
  size_t n = 0;
  for (char ch : s) n += (static_cast<unsigned char>(ch) & 0xC0) != 0x80;
  return n;
}

// The place of the string value (at most a few levels down) that holds
// `needle`: "checks[1].url". Empty when none does.
std::string FieldHolding(const json& j, const std::string& needle, const std::string& path,
                         int depth = 0) {
  if (j.is_string()) {
    return j.get_ref<const std::string&>().find(needle) != std::string::npos ? path : "";
  }
  if (depth > 4) return "";
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::string f = FieldHolding(it.value(), needle, Child(path, ShortKey(it.key())), depth + 1);
      if (!f.empty()) return f;
    }
  } else if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      std::string f = FieldHolding(j[i], needle, path + "[" + std::to_string(i) + "]", depth + 1);
      if (!f.empty()) return f;
    }
  }
  return "";
}

// Every credential a check's kind collected is at least kMinPasswordChars
// long. The message names the field, never the password.
void RefuseWeakSecrets(const json& check, const std::vector<std::string>& secrets,
                       const std::string& path) {
  for (const std::string& s : secrets) {
    if (CharCount(s) >= kMinPasswordChars) continue;
    std::string field;
    // The keys that carry credentials first: a short password may also be
    // a piece of the name.
    for (const char* key : {"url", "password", "sentinel_password"}) {
      auto it = check.find(key);
      if (field.empty() && it != check.end() && it->is_string() &&
          it->get_ref<const std::string&>().find(s) != std::string::npos) {
        field = Child(path, key);
      }
    }
    if (field.empty()) field = FieldHolding(check, s, path);
    for (size_t i = 0; field.empty() && i < secrets.size(); ++i)
      field = FieldHolding(check, secrets[i], path);
    throw ConfigError(
        field.empty() ? path : field,
        "password is shorter than " + std::to_string(kMinPasswordChars) + " characters");
  }
}

const json& SpecOf(const CheckConfig& c) {
  static const json kNull;
  return c.spec ? *c.spec : kNull;
}

// The name and the kind: both required strings.
std::string ReadNameOrKind(const json& j, const char* key, const std::string& path) {
  auto it = j.find(key);
  if (it == j.end()) throw ConfigError(path + "." + key, "missing");
  if (!it->is_string()) throw ConfigError(path + "." + key, "must be a string");
  return it->get<std::string>();
}

}  // namespace

bool CheckConfig::SameAs(const CheckConfig& o) const {
  return SpecOf(*this) == SpecOf(o) && timing == o.timing;
}

const std::vector<std::string>& KnownRoles() {
  static const std::vector<std::string> roles = {"cache",    "pubsub", "flags",       "queue",
                                                 "session",  "lock",   "idempotency", "rate-limit",
                                                 "database", "app"};
  return roles;
}

bool RoleRequiredByDefault(const std::string& role) {
  // The app serves without these, slower or staler (the README's role table).
  return !(role == "cache" || role == "pubsub" || role == "flags" || role == "queue");
}

const std::vector<std::string>& TimingKeys() {
  static const std::vector<std::string> keys = {"interval_ms",
                                                "timeout_ms",
                                                "unhealthy_threshold",
                                                "healthy_threshold",
                                                "jitter_percent",
                                                "breaker",
                                                "dns_stale_s",
                                                "cert_expiry_warn_days",
                                                "unhealthy_interval_ms",
                                                "unhealthy_edge_interval_ms",
                                                "healthy_edge_interval_ms",
                                                "min_interval_ms",
                                                "flap_detection",
                                                "flap_high_percent",
                                                "flap_low_percent",
                                                "flap_hold"};
  return keys;
}

namespace {

// Detection at the edge: Envoy's intervals and the floor under them.
void ReadEdgeTiming(const json& obj, const std::string& path, CheckTiming* t) {
  auto read = [&obj, &path](const char* key, int fallback, int min, int max) {
    return OptionalInt(obj, key, fallback, min, max, Child(path, key));
  };
  t->unhealthy_interval_ms = read("unhealthy_interval_ms", t->unhealthy_interval_ms, 10, 3600000);
  t->unhealthy_edge_interval_ms =
      read("unhealthy_edge_interval_ms", t->unhealthy_edge_interval_ms, 10, 3600000);
  t->healthy_edge_interval_ms =
      read("healthy_edge_interval_ms", t->healthy_edge_interval_ms, 10, 3600000);
  t->min_interval_ms = read("min_interval_ms", t->min_interval_ms, 10, 60000);
}

// Flapping: detection, its two thresholds and what readiness does meanwhile.
void ReadFlapKeys(const json& obj, const std::string& path, CheckTiming* t) {
  t->flap_detection =
      OptionalBool(obj, "flap_detection", t->flap_detection, Child(path, "flap_detection"));
  t->flap_high_percent = OptionalNumber(obj, "flap_high_percent", t->flap_high_percent, 1, 100,
                                        Child(path, "flap_high_percent"));
  t->flap_low_percent = OptionalNumber(obj, "flap_low_percent", t->flap_low_percent, 0, 100,
                                       Child(path, "flap_low_percent"));
  if (t->flap_low_percent > t->flap_high_percent) {
    throw ConfigError(Child(path, "flap_low_percent"),
                      "must not be above flap_high_percent (" +
                          std::to_string(static_cast<int>(t->flap_high_percent)) + ")");
  }
  const std::string hold = OptionalString(
      obj, "flap_hold", t->flap_hold_unready ? "unready" : "none", Child(path, "flap_hold"));
  if (hold != "unready" && hold != "none") {
    throw ConfigError(Child(path, "flap_hold"), "want \"unready\" or \"none\", got" + Echo(hold));
  }
  t->flap_hold_unready = hold == "unready";
}

}  // namespace

void ReadTiming(const json& obj, const std::string& path, CheckTiming* t) {
  auto read = [&obj, &path](const char* key, int fallback, int min, int max) {
    return OptionalInt(obj, key, fallback, min, max, Child(path, key));
  };
  t->interval_ms = read("interval_ms", t->interval_ms, 100, 3600000);
  t->timeout_ms = read("timeout_ms", t->timeout_ms, 10, 60000);
  t->unhealthy_threshold = read("unhealthy_threshold", t->unhealthy_threshold, 1, 1000);
  t->healthy_threshold = read("healthy_threshold", t->healthy_threshold, 1, 1000);
  t->jitter_percent = read("jitter_percent", t->jitter_percent, 0, 100);
  t->dns_stale_s = read("dns_stale_s", t->dns_stale_s, 0, 86400);
  t->cert_expiry_warn_days = read("cert_expiry_warn_days", t->cert_expiry_warn_days, 0, 3650);
  ReadEdgeTiming(obj, path, t);
  ReadFlapKeys(obj, path, t);
  auto it = obj.find("breaker");
  if (it == obj.end()) return;
  const std::string bpath = Child(path, "breaker");
  RequireObject(*it, bpath);
  RejectUnknownKeys(*it, kBreakerKeys, bpath);
  auto bread = [&it, &bpath](const char* key, int fallback, int min, int max) {
    return OptionalInt(*it, key, fallback, min, max, Child(bpath, key));
  };
  BreakerConfig& b = t->breaker;
  b.failure_threshold = bread("failure_threshold", b.failure_threshold, 1, 1000);
  b.recovery_timeout_ms = bread("recovery_timeout_ms", b.recovery_timeout_ms, 100, 3600000);
  b.success_threshold = bread("success_threshold", b.success_threshold, 1, 1000);
}

CheckConfig ParseCheck(const json& j, const std::string& path, const CheckTiming& defaults,
                       const CheckRegistry& registry) {
  RequireObject(j, path);
  CheckConfig c;
  c.name = ReadNameOrKind(j, "name", path);
  static const std::regex kName("[a-z0-9-]{1,63}");
  if (!std::regex_match(c.name, kName)) {
    throw ConfigError(path + ".name", "invalid name" + Echo(c.name) + " (want [a-z0-9-]{1,63})");
  }
  c.kind = ReadNameOrKind(j, "kind", path);
  const CheckKind* kind = registry.Find(c.kind);
  if (kind == nullptr) {
    throw ConfigError(path + ".kind", "unknown kind" + Echo(c.kind) + " (want one of " +
                                          Join(registry.Names()) + ")");
  }
  std::vector<std::string> allowed = kCommonCheckKeys;
  allowed.insert(allowed.end(), TimingKeys().begin(), TimingKeys().end());
  allowed.insert(allowed.end(), kind->keys.begin(), kind->keys.end());
  RejectUnknownKeys(j, allowed, path);

  c.role = OptionalString(j, "role", kind->default_role, Child(path, "role"));
  if (!Contains(KnownRoles(), c.role)) {
    throw ConfigError(path + ".role",
                      "unknown role" + Echo(c.role) + " (want one of " + Join(KnownRoles()) + ")");
  }
  c.required = OptionalBool(j, "required", RoleRequiredByDefault(c.role), Child(path, "required"));
  c.liveness = OptionalBool(j, "liveness", false, Child(path, "liveness"));
  ReadFleetKeys(j, path, &c);
  c.depends_on = ReadDependsOn(j, path);
  c.timing = defaults;
  ReadTiming(j, path, &c.timing);
  c.spec = std::make_shared<const json>(j);
  // Building the check validates its kind-specific fields and collects its
  // credentials; the object itself is thrown away (no network touched).
  CheckSpec spec{j, path, &c.secrets};
  spec.dns_stale_s = c.timing.dns_stale_s;
  kind->create(spec);
  RefuseWeakSecrets(j, c.secrets, path);
  return c;
}

void CheckDependencies(const std::vector<CheckConfig>& checks) {
  std::vector<std::string> names;
  for (const auto& c : checks) names.push_back(c.name);
  for (size_t i = 0; i < checks.size(); ++i) {
    const std::string field = "checks[" + std::to_string(i) + "].depends_on";
    for (size_t k = 0; k < checks[i].depends_on.size(); ++k) {
      const std::string& dep = checks[i].depends_on[k];
      if (!Contains(names, dep)) {
        throw ConfigError(field + "[" + std::to_string(k) + "]", "unknown check" + Echo(dep));
      }
    }
  }
  // The first check in config order on a cycle names it, starting from itself.
  for (size_t i = 0; i < checks.size(); ++i) {
    std::vector<std::string> path = {checks[i].name};
    std::vector<std::string> seen;
    if (!FindCycle(checks, checks[i].name, checks[i].name, &path, &seen)) continue;
    std::string text;
    for (const std::string& n : path) text += n + " -> ";
    throw ConfigError("checks[" + std::to_string(i) + "].depends_on", "cycle " + text + path[0]);
  }
}

std::unique_ptr<Check> BuildCheck(const CheckConfig& config, const CheckRegistry& registry) {
  const CheckKind* kind = registry.Find(config.kind);
  if (kind == nullptr) throw ConfigError(config.name + ".kind", "unknown kind");
  std::vector<std::string> secrets;
  CheckSpec spec{SpecOf(config), config.name, &secrets};
  spec.dns_stale_s = config.timing.dns_stale_s;
  return kind->create(spec);
}

}  // namespace vigil
