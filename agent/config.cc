#include "agent/config.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "checks/net.h"

namespace vigil {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxChecks = 256;

const std::vector<std::string> kTopKeys = {
    "listen", "drain_seconds", "admin_token_file", "log_format", "defaults", "checks", "server"};

// The "server" object: key, range, member.
struct ServerKey {
  const char* key;
  int min, max;
  int ServerConfig::*member;
};
const ServerKey kServerKeys[] = {
    {"threads", 1, 64, &ServerConfig::threads},
    {"max_connections", 1, 65536, &ServerConfig::max_connections},
    {"read_timeout_ms", 100, 600000, &ServerConfig::read_timeout_ms},
    {"write_timeout_ms", 100, 600000, &ServerConfig::write_timeout_ms},
    {"keep_alive_timeout_s", 0, 3600, &ServerConfig::keep_alive_timeout_s},
    {"max_header_bytes", 1024, 65536, &ServerConfig::max_header_bytes},
};
const std::vector<std::string> kTimingKeys = {
    "interval_ms",    "timeout_ms", "unhealthy_threshold",  "healthy_threshold",
    "jitter_percent", "breaker",    "cert_expiry_warn_days"};
const std::vector<std::string> kBreakerKeys = {"failure_threshold", "recovery_timeout_ms",
                                               "success_threshold"};
const std::vector<std::string> kCommonCheckKeys = {"name", "kind", "role", "required", "liveness"};

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string Child(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// Keys are printed as given but cut short: a key is user input too.
std::string ShortKey(const std::string& key) {
  if (key.empty()) return "\"\"";
  return key.size() > 64 ? key.substr(0, 64) + "..." : key;
}

void RejectUnknownKeys(const json& obj, const std::vector<std::string>& allowed,
                       const std::string& path) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!Contains(allowed, it.key()))
      throw ConfigError(Child(path, ShortKey(it.key())), "unknown key");
  }
}

void RequireObject(const json& j, const std::string& path) {
  if (!j.is_object()) throw ConfigError(path, "must be an object");
}

int ReadInt(const json& obj, const char* key, int fallback, int min, int max,
            const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  const std::string field = Child(path, key);
  if (!it->is_number()) throw ConfigError(field, "must be a number");
  double v = it->get<double>();
  if (!std::isfinite(v) || std::floor(v) != v) throw ConfigError(field, "must be a whole number");
  if (v < min || v > max) {
    throw ConfigError(field, "out of range: " + it->dump() + " (want " + std::to_string(min) +
                                 ".." + std::to_string(max) + ")");
  }
  return static_cast<int>(v);
}

void ReadTiming(const json& obj, const std::string& path, CheckTiming* t) {
  t->interval_ms = ReadInt(obj, "interval_ms", t->interval_ms, 100, 3600000, path);
  t->timeout_ms = ReadInt(obj, "timeout_ms", t->timeout_ms, 10, 60000, path);
  t->unhealthy_threshold =
      ReadInt(obj, "unhealthy_threshold", t->unhealthy_threshold, 1, 1000, path);
  t->healthy_threshold = ReadInt(obj, "healthy_threshold", t->healthy_threshold, 1, 1000, path);
  t->jitter_percent = ReadInt(obj, "jitter_percent", t->jitter_percent, 0, 100, path);
  t->cert_expiry_warn_days =
      ReadInt(obj, "cert_expiry_warn_days", t->cert_expiry_warn_days, 0, 3650, path);
  auto it = obj.find("breaker");
  if (it != obj.end()) {
    const std::string bpath = Child(path, "breaker");
    RequireObject(*it, bpath);
    RejectUnknownKeys(*it, kBreakerKeys, bpath);
    BreakerConfig& b = t->breaker;
    b.failure_threshold = ReadInt(*it, "failure_threshold", b.failure_threshold, 1, 1000, bpath);
    b.recovery_timeout_ms =
        ReadInt(*it, "recovery_timeout_ms", b.recovery_timeout_ms, 100, 3600000, bpath);
    b.success_threshold = ReadInt(*it, "success_threshold", b.success_threshold, 1, 1000, bpath);
  }
}

std::string ReadString(const json& obj, const char* key, const std::string& fallback,
                       const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_string()) throw ConfigError(Child(path, key), "must be a string");
  return it->get<std::string>();
}

bool ReadBool(const json& obj, const char* key, bool fallback, const std::string& path) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_boolean()) throw ConfigError(Child(path, key), "must be true or false");
  return it->get<bool>();
}

// A config is a few levels deep; [[[[...]]]] a hundred thousand deep would
// overflow the stack of every recursive walk (this one, json copies).
constexpr int kMaxDepth = 32;

// Expands variables in every string value of the document, in place.
void ExpandAll(json* j, const EnvLookup& env, const std::string& path, int depth = 0) {
  if (depth > kMaxDepth) throw ConfigError(path, "nested too deeply");
  if (j->is_string()) {
    *j = ExpandVariables(j->get<std::string>(), env, path.empty() ? "(root)" : path);
  } else if (j->is_object()) {
    for (auto it = j->begin(); it != j->end(); ++it)
      ExpandAll(&it.value(), env, Child(path, ShortKey(it.key())), depth + 1);
  } else if (j->is_array()) {
    for (size_t i = 0; i < j->size(); ++i)
      ExpandAll(&(*j)[i], env, path + "[" + std::to_string(i) + "]", depth + 1);
  }
}

// "line 3, column 7" from a byte offset in the text.
std::string Position(const std::string& text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

CheckConfig ParseCheck(const json& j, const std::string& path, const CheckTiming& defaults,
                       const CheckRegistry& registry) {
  RequireObject(j, path);
  CheckConfig c;
  auto name_it = j.find("name");
  if (name_it == j.end()) throw ConfigError(path + ".name", "missing");
  if (!name_it->is_string()) throw ConfigError(path + ".name", "must be a string");
  c.name = name_it->get<std::string>();
  static const std::regex kName("[a-z0-9-]{1,63}");
  if (!std::regex_match(c.name, kName)) {
    throw ConfigError(path + ".name",
                      "invalid name \"" + c.name.substr(0, 80) + "\" (want [a-z0-9-]{1,63})");
  }
  auto kind_it = j.find("kind");
  if (kind_it == j.end()) throw ConfigError(path + ".kind", "missing");
  if (!kind_it->is_string()) throw ConfigError(path + ".kind", "must be a string");
  c.kind = kind_it->get<std::string>();
  const CheckKind* kind = registry.Find(c.kind);
  if (kind == nullptr) {
    throw ConfigError(path + ".kind", "unknown kind \"" + c.kind.substr(0, 40) +
                                          "\" (want one of " + Join(registry.Names()) + ")");
  }
  std::vector<std::string> allowed = kCommonCheckKeys;
  allowed.insert(allowed.end(), kTimingKeys.begin(), kTimingKeys.end());
  allowed.insert(allowed.end(), kind->keys.begin(), kind->keys.end());
  RejectUnknownKeys(j, allowed, path);

  c.role = ReadString(j, "role", kind->default_role, path);
  if (!Contains(KnownRoles(), c.role)) {
    throw ConfigError(path + ".role", "unknown role \"" + c.role.substr(0, 40) +
                                          "\" (want one of " + Join(KnownRoles()) + ")");
  }
  c.required = ReadBool(j, "required", RoleRequiredByDefault(c.role), path);
  c.liveness = ReadBool(j, "liveness", false, path);
  c.timing = defaults;
  ReadTiming(j, path, &c.timing);
  c.spec = j;
  // Building the check validates its kind-specific fields and collects its
  // credentials; the object itself is thrown away (no network touched).
  CheckSpec spec{j, path, &c.secrets};
  kind->create(spec);
  return c;
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

const std::vector<std::string>& KnownRoles() {
  static const std::vector<std::string> roles = {"cache",    "pubsub", "flags",       "queue",
                                                 "session",  "lock",   "idempotency", "rate-limit",
                                                 "database", "app"};
  return roles;
}

bool RoleRequiredByDefault(const std::string& role) {
  // SPEC §1 / seed 002: the app serves without these, slower or staler.
  return !(role == "cache" || role == "pubsub" || role == "flags" || role == "queue");
}

std::string ExpandVariables(const std::string& in, const EnvLookup& env, const std::string& field) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '$' || i + 1 >= in.size()) {
      out += in[i];
      continue;
    }
    if (in[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (in[i + 1] != '{') {
      out += in[i];
      continue;
    }
    size_t close = in.find('}', i + 2);
    if (close == std::string::npos) throw ConfigError(field, "unterminated ${ in value");
    std::string body = in.substr(i + 2, close - i - 2);
    std::optional<std::string> fallback;
    size_t dflt = body.find(":-");
    std::string name = body.substr(0, dflt);
    if (dflt != std::string::npos) fallback = body.substr(dflt + 2);
    // [A-Za-z_][A-Za-z0-9_]*, checked by hand: std::regex recurses once a
    // character and a ${...} of some 100 KB overflowed the stack.
    auto word = [](char ch) {
      const unsigned char c = static_cast<unsigned char>(ch);
      return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    };
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) ||
        !std::all_of(name.begin(), name.end(), word)) {
      // Not echoed: a literal password may hold "${" (the text up to "}"
      // would be a piece of it).
      throw ConfigError(field,
                        "invalid variable reference ${...} (a name is [A-Za-z_][A-Za-z0-9_]*; "
                        "write $$ for a literal $)");
    }
    std::optional<std::string> value = env(name);
    if (!value || (value->empty() && fallback)) value = fallback;
    if (!value) {
      throw ConfigError(field, "unresolved variable ${" +
                                   (name.size() > 64 ? name.substr(0, 64) + "..." : name) + "}");
    }
    out += *value;
    i = close;
  }
  return out;
}

void SetServerOption(const std::string& key, int value, const std::string& field,
                     ServerConfig* server) {
  for (const ServerKey& k : kServerKeys) {
    if (key != k.key) continue;
    if (value < k.min || value > k.max) {
      throw ConfigError(field, "out of range: " + std::to_string(value) + " (want " +
                                   std::to_string(k.min) + ".." + std::to_string(k.max) + ")");
    }
    server->*k.member = value;
    return;
  }
  throw ConfigError(field, "unknown server setting");
}

void ValidateListen(const std::string& listen, const std::string& field) {
  std::string host;
  int port = 0;
  std::string addr = listen;
  if (!addr.empty() && addr[0] == ':') addr = "0.0.0.0" + addr;
  if (!SplitHostPort(addr, &host, &port) || host.empty()) {
    throw ConfigError(field, "want HOST:PORT, got \"" + listen.substr(0, 80) + "\"");
  }
}

Config ParseConfig(const std::string& text, const EnvLookup& env, const CheckRegistry& registry) {
  if (text.size() > kMaxConfigBytes) throw ConfigError("(file)", "larger than 1 MiB");
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::parse_error& e) {
    throw ConfigError("(file)", "invalid JSON at " + Position(text, e.byte > 0 ? e.byte - 1 : 0));
  } catch (const json::exception&) {
    // out_of_range.406: a number like 1e400. Anything but ConfigError would
    // end the process (and a reload would take the running agent down).
    throw ConfigError("(file)", "invalid JSON: a number out of range");
  }
  RequireObject(doc, "(root)");
  RejectUnknownKeys(doc, kTopKeys, "");
  ExpandAll(&doc, env, "");

  Config cfg;
  cfg.listen = ReadString(doc, "listen", cfg.listen, "");
  ValidateListen(cfg.listen, "listen");
  cfg.drain_seconds = ReadInt(doc, "drain_seconds", cfg.drain_seconds, 0, 3600, "");
  cfg.admin_token_file = ReadString(doc, "admin_token_file", "", "");
  cfg.log_format = ReadString(doc, "log_format", cfg.log_format, "");
  if (cfg.log_format != "json" && cfg.log_format != "text") {
    throw ConfigError("log_format",
                      "want \"json\" or \"text\", got \"" + cfg.log_format.substr(0, 40) + "\"");
  }

  if (auto it = doc.find("server"); it != doc.end()) {
    RequireObject(*it, "server");
    std::vector<std::string> keys;
    for (const ServerKey& k : kServerKeys) keys.push_back(k.key);
    RejectUnknownKeys(*it, keys, "server");
    for (const ServerKey& k : kServerKeys) {
      cfg.server.*k.member = ReadInt(*it, k.key, cfg.server.*k.member, k.min, k.max, "server");
    }
  }

  CheckTiming defaults;
  if (auto it = doc.find("defaults"); it != doc.end()) {
    RequireObject(*it, "defaults");
    RejectUnknownKeys(*it, kTimingKeys, "defaults");
    ReadTiming(*it, "defaults", &defaults);
  }

  auto checks_it = doc.find("checks");
  if (checks_it == doc.end()) throw ConfigError("checks", "missing");
  if (!checks_it->is_array()) throw ConfigError("checks", "must be an array");
  if (checks_it->size() > kMaxChecks) {
    throw ConfigError("checks", "too many checks (at most " + std::to_string(kMaxChecks) + ")");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < checks_it->size(); ++i) {
    const std::string path = "checks[" + std::to_string(i) + "]";
    CheckConfig c = ParseCheck((*checks_it)[i], path, defaults, registry);
    if (!names.insert(c.name).second) {
      throw ConfigError(path + ".name", "duplicate name \"" + c.name + "\"");
    }
    cfg.secrets.insert(cfg.secrets.end(), c.secrets.begin(), c.secrets.end());
    cfg.checks.push_back(std::move(c));
  }
  return cfg;
}

Config LoadConfigFile(const std::string& path, const EnvLookup& env,
                      const CheckRegistry& registry) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("(file)", "cannot read " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) throw ConfigError("(file)", "larger than 1 MiB");
  }
  return ParseConfig(text, env, registry);
}

std::unique_ptr<Check> BuildCheck(const CheckConfig& config, const CheckRegistry& registry) {
  const CheckKind* kind = registry.Find(config.kind);
  if (kind == nullptr) throw ConfigError(config.name + ".kind", "unknown kind");
  std::vector<std::string> secrets;
  CheckSpec spec{config.spec, config.name, &secrets};
  return kind->create(spec);
}

}  // namespace vigil
