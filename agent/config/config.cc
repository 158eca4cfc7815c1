#include "agent/config/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "checks/common/net.h"
#include "checks/common/url.h"

namespace vigil {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxChecks = 256;

const std::vector<std::string> kTopKeys = {"listen",     "drain_seconds", "admin_token_file",
                                           "log_format", "defaults",      "checks",
                                           "server",     "health_details"};

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
    "interval_ms",    "timeout_ms", "unhealthy_threshold", "healthy_threshold",
    "jitter_percent", "breaker",    "dns_stale_s",         "cert_expiry_warn_days"};
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

// A bad value is quoted back only when it is plainly not a secret: short,
// and made of the characters of names, numbers and addresses. Anything else
// (a URL with credentials pasted into the wrong key, a password) is not
// repeated.
std::string Echo(const std::string& value) {
  const bool plain =
      !value.empty() && value.size() <= 64 && std::all_of(value.begin(), value.end(), [](char ch) {
        const unsigned char c = static_cast<unsigned char>(ch);
        return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' ||
               c == ']';
      });
  return plain ? " \"" + value + "\"" : std::string();
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

// A ${VAR} in a postgres connection string may only fill in a value, never
// add a keyword (or, in a postgres:// URL, a host, a path or a parameter):
// each reference of the raw `url` is expanded on its own and its value
// checked against where it stands. `${VAR}` as the whole url is the whole
// connection string and is taken as it is.
void RefuseDsnInjection(const std::string& raw, const EnvLookup& env, const std::string& field) {
  const std::string lower = AsciiLower(raw.substr(0, 14));
  const bool uri = lower.rfind("postgres://", 0) == 0 || lower.rfind("postgresql://", 0) == 0;
  if (raw.rfind("${", 0) == 0 && raw.find('}') == raw.size() - 1) return;
  bool quoted = false, in_query = false;
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '$' && i + 1 < raw.size() && raw[i + 1] == '$') {
      ++i;
      continue;
    }
    if (c == '$' && i + 1 < raw.size() && raw[i + 1] == '{') {
      const size_t close = raw.find('}', i + 2);
      if (close == std::string::npos) return;  // refused by the expansion itself
      const std::string ref = raw.substr(i, close - i + 1);
      const std::string value = ExpandVariables(ref, env, field);
      std::string name = ref.substr(2, ref.size() - 3);
      name = name.substr(0, name.find(":-")).substr(0, 64);
      auto has = [&value](const char* set) {
        return value.find_first_of(set) != std::string::npos;
      };
      const bool control = std::any_of(value.begin(), value.end(), [](char ch) {
        return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
      });
      std::string fault;
      if (uri) {
        if (control || has(" @/?#&[]\\") || (in_query && has("="))) {
          fault =
              "would change the URL's host, path or parameters (it holds one of @ / ? # & [ ] "
              "or whitespace): percent-encode it";
        }
      } else if (quoted) {
        if (control || has("'\\")) {
          fault =
              "would end the quoted value (it holds a quote or a backslash): use the "
              "postgres:// URL form with the value percent-encoded";
        }
      } else if (control || value.empty() || has(" \t'\\=")) {
        fault =
            "would add a keyword to the connection string (it is empty or holds whitespace, "
            "'=', a quote or a backslash): quote it, as in password='${" +
            name + "}'";
      }
      if (!fault.empty()) throw ConfigError(field, "the value of ${" + name + "} " + fault);
      i = close;
      continue;
    }
    if (uri) {
      if (c == '?') in_query = true;
    } else if (quoted && c == '\\') {
      ++i;  // an escaped character inside quotes
    } else if (c == '\'') {
      quoted = !quoted;
    }
  }
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
  t->dns_stale_s = ReadInt(obj, "dns_stale_s", t->dns_stale_s, 0, 86400, path);
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
void ExpandAll(json* j, const EnvLookup& env, const std::string& path, FileExpansions* files,
               int depth = 0) {
  if (depth > kMaxDepth) throw ConfigError(path, "nested too deeply");
  if (j->is_string()) {
    *j = ExpandVariables(j->get<std::string>(), env, path.empty() ? "(root)" : path, files);
  } else if (j->is_object()) {
    for (auto it = j->begin(); it != j->end(); ++it)
      ExpandAll(&it.value(), env, Child(path, ShortKey(it.key())), files, depth + 1);
  } else if (j->is_array()) {
    for (size_t i = 0; i < j->size(); ++i)
      ExpandAll(&(*j)[i], env, path + "[" + std::to_string(i) + "]", files, depth + 1);
  }
}

// ${file:/path}: the body after "file:" is the path, to the closing brace.
std::string ExpandFile(const std::string& path, const std::string& field, FileExpansions* files) {
  if (path.empty() || path[0] != '/') {
    // Relative to what? The agent's working directory is an accident of how
    // it was started; a mounted Secret always has an absolute path.
    throw ConfigError(field, "a ${file:...} path must be absolute (${file:/path})");
  }
  SecretFile stamp;
  stamp.path = path;
  const bool known =
      files != nullptr && std::any_of(files->files.begin(), files->files.end(),
                                      [&](const SecretFile& f) { return f.path == path; });
  try {
    std::string contents = ReadSecretFile(path, field, &stamp);
    if (files != nullptr) {
      if (!known) files->files.push_back(stamp);
      files->contents.emplace_back(field, contents);
    }
    return contents;
  } catch (const ConfigError&) {
    // Still watched: the file may appear later (stamp.size stays -1).
    if (files != nullptr && !known) files->files.push_back(stamp);
    throw;
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
    throw ConfigError(path + ".name", "invalid name" + Echo(c.name) + " (want [a-z0-9-]{1,63})");
  }
  auto kind_it = j.find("kind");
  if (kind_it == j.end()) throw ConfigError(path + ".kind", "missing");
  if (!kind_it->is_string()) throw ConfigError(path + ".kind", "must be a string");
  c.kind = kind_it->get<std::string>();
  const CheckKind* kind = registry.Find(c.kind);
  if (kind == nullptr) {
    throw ConfigError(path + ".kind", "unknown kind" + Echo(c.kind) + " (want one of " +
                                          Join(registry.Names()) + ")");
  }
  std::vector<std::string> allowed = kCommonCheckKeys;
  allowed.insert(allowed.end(), kTimingKeys.begin(), kTimingKeys.end());
  allowed.insert(allowed.end(), kind->keys.begin(), kind->keys.end());
  RejectUnknownKeys(j, allowed, path);

  c.role = ReadString(j, "role", kind->default_role, path);
  if (!Contains(KnownRoles(), c.role)) {
    throw ConfigError(path + ".role",
                      "unknown role" + Echo(c.role) + " (want one of " + Join(KnownRoles()) + ")");
  }
  c.required = ReadBool(j, "required", RoleRequiredByDefault(c.role), path);
  c.liveness = ReadBool(j, "liveness", false, path);
  c.timing = defaults;
  ReadTiming(j, path, &c.timing);
  c.spec = j;
  // Building the check validates its kind-specific fields and collects its
  // credentials; the object itself is thrown away (no network touched).
  CheckSpec spec{j, path, &c.secrets};
  spec.dns_stale_s = c.timing.dns_stale_s;
  kind->create(spec);
  RefuseWeakSecrets(j, c.secrets, path);
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
  // The app serves without these, slower or staler (README "Configuration").
  return !(role == "cache" || role == "pubsub" || role == "flags" || role == "queue");
}

std::string ReadSecretFile(const std::string& path, const std::string& field, SecretFile* stamp) {
  auto fault = [&](const std::string& why) {
    return ConfigError(field, "cannot read secret file " + path + ": " + why);
  };
  // The stamp is of the file as found, readable or not: a watcher compares
  // it with a later stat() and must not see a change where there is none.
  auto set_stamp = [&](const struct stat& st) {
    if (stamp == nullptr) return;
    stamp->path = path;
    stamp->dev = st.st_dev;
    stamp->ino = st.st_ino;
    stamp->size = st.st_size;
    stamp->mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  };
  struct stat st {};
  // O_NONBLOCK: a FIFO put in the file's place must not hang the agent.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (stat(path.c_str(), &st) == 0) set_stamp(st);
    throw fault(std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (fstat(fd, &st) != 0) throw fault(std::strerror(errno));
  set_stamp(st);
  if (!S_ISREG(st.st_mode)) throw fault("not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxSecretFileBytes) throw fault("larger than 64 KiB");
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw fault(std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    // The file may have grown since fstat().
    if (text.size() > kMaxSecretFileBytes) throw fault("larger than 64 KiB");
  }
  // One line ending, as `echo` and editors leave it; more is content.
  if (text.size() >= 2 && text.compare(text.size() - 2, 2, "\r\n") == 0) {
    text.resize(text.size() - 2);
  } else if (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  return text;
}

std::string ExpandVariables(const std::string& in, const EnvLookup& env, const std::string& field,
                            FileExpansions* files) {
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
    if (body.rfind("file:", 0) == 0) {
      out += ExpandFile(body.substr(5), field, files);
      i = close;
      continue;
    }
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
    throw ConfigError(field, "want HOST:PORT" + (listen.find("://") != std::string::npos
                                                     ? std::string(", not a URL")
                                                     : ", got" + Echo(listen)));
  }
}

Config ParseConfig(const std::string& text, const EnvLookup& env, const CheckRegistry& registry,
                   std::vector<SecretFile>* files_seen) {
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
  FileExpansions files;
  try {
    if (auto it = doc.find("checks"); it != doc.end() && it->is_array()) {
      for (size_t i = 0; i < it->size() && i < kMaxChecks; ++i) {
        const json& c = (*it)[i];
        if (!c.is_object() || c.value("kind", json()) != "postgres") continue;
        auto url = c.find("url");
        if (url != c.end() && url->is_string()) {
          RefuseDsnInjection(url->get<std::string>(), env, "checks[" + std::to_string(i) + "].url");
        }
      }
    }
    ExpandAll(&doc, env, "", &files);
  } catch (const ConfigError&) {
    if (files_seen != nullptr) *files_seen = files.files;
    throw;
  }
  if (files_seen != nullptr) *files_seen = files.files;

  Config cfg;
  cfg.secret_files = files.files;
  for (const auto& read : files.contents) cfg.secrets.push_back(read.second);
  cfg.listen = ReadString(doc, "listen", cfg.listen, "");
  ValidateListen(cfg.listen, "listen");
  cfg.drain_seconds = ReadInt(doc, "drain_seconds", cfg.drain_seconds, 0, 3600, "");
  cfg.admin_token_file = ReadString(doc, "admin_token_file", "", "");
  cfg.log_format = ReadString(doc, "log_format", cfg.log_format, "");
  if (cfg.log_format != "json" && cfg.log_format != "text") {
    throw ConfigError("log_format", "want \"json\" or \"text\", got" + Echo(cfg.log_format));
  }
  cfg.health_details = ReadString(doc, "health_details", cfg.health_details, "");
  if (cfg.health_details != "full" && cfg.health_details != "status") {
    throw ConfigError("health_details",
                      "want \"full\" or \"status\", got" + Echo(cfg.health_details));
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
    // What the check's ${file:...} references held is its credential too.
    for (const auto& [field, contents] : files.contents) {
      if (field.rfind(path + ".", 0) == 0) c.secrets.push_back(contents);
    }
    cfg.secrets.insert(cfg.secrets.end(), c.secrets.begin(), c.secrets.end());
    cfg.checks.push_back(std::move(c));
  }
  return cfg;
}

Config LoadConfigFile(const std::string& path, const EnvLookup& env, const CheckRegistry& registry,
                      std::vector<SecretFile>* files_seen) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("(file)", "cannot read " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) throw ConfigError("(file)", "larger than 1 MiB");
  }
  return ParseConfig(text, env, registry, files_seen);
}

void ValidateAdminToken(const std::string& token, const std::string& field) {
  if (token.size() < kMinAdminTokenBytes) {
    throw ConfigError(
        field, "admin token is shorter than " + std::to_string(kMinAdminTokenBytes) + " bytes");
  }
}

std::optional<std::string> ReadAdminTokenFile(const std::string& path, const std::string& field) {
  // O_NONBLOCK: a FIFO put in its place must not hang the agent.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::string token;
  std::string fault;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    fault = "not a regular file";
  } else if (static_cast<size_t>(st.st_size) > kMaxAdminTokenFileBytes) {
    fault = "larger than " + std::to_string(kMaxAdminTokenFileBytes) + " bytes";
  } else {
    char buf[kMaxAdminTokenFileBytes + 1];
    size_t got = 0;
    while (got < sizeof buf) {
      ssize_t n = ::read(fd, buf + got, sizeof buf - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fault = std::string("cannot read: ") + std::strerror(errno);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    // It may have grown since fstat.
    if (fault.empty() && got > kMaxAdminTokenFileBytes) {
      fault = "larger than " + std::to_string(kMaxAdminTokenFileBytes) + " bytes";
    }
    token.assign(buf, got);
  }
  ::close(fd);
  if (!fault.empty()) throw ConfigError(field, fault);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  ValidateAdminToken(token, field);
  return token;
}

std::string LoadAdminToken(const Config& config, const EnvLookup& env) {
  if (std::optional<std::string> t = env("VIGIL_ADMIN_TOKEN"); t && !t->empty()) {
    ValidateAdminToken(*t, "VIGIL_ADMIN_TOKEN");
    return *t;
  }
  if (config.admin_token_file.empty()) return "";
  return ReadAdminTokenFile(config.admin_token_file, "admin_token_file").value_or("");
}

std::unique_ptr<Check> BuildCheck(const CheckConfig& config, const CheckRegistry& registry) {
  const CheckKind* kind = registry.Find(config.kind);
  if (kind == nullptr) throw ConfigError(config.name + ".kind", "unknown kind");
  std::vector<std::string> secrets;
  CheckSpec spec{config.spec, config.name, &secrets};
  spec.dns_stale_s = config.timing.dns_stale_s;
  return kind->create(spec);
}

}  // namespace vigil
