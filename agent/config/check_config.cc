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
    "name", "kind", "role", "required", "liveness", "when_widespread", "widespread_ratio"};

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
  static const std::vector<std::string> keys = {
      "interval_ms",    "timeout_ms", "unhealthy_threshold", "healthy_threshold",
      "jitter_percent", "breaker",    "dns_stale_s",         "cert_expiry_warn_days"};
  return keys;
}

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

std::unique_ptr<Check> BuildCheck(const CheckConfig& config, const CheckRegistry& registry) {
  const CheckKind* kind = registry.Find(config.kind);
  if (kind == nullptr) throw ConfigError(config.name + ".kind", "unknown kind");
  std::vector<std::string> secrets;
  CheckSpec spec{SpecOf(config), config.name, &secrets};
  spec.dns_stale_s = config.timing.dns_stale_s;
  return kind->create(spec);
}

}  // namespace vigil
