// The agent's configuration: one JSON file (docs/configuration.md), ${VAR} expanded from the
// environment, command-line flags and VIGIL_* variables over it.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

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
  bool operator==(const CheckTiming& o) const {
    return interval_ms == o.interval_ms && timeout_ms == o.timeout_ms &&
           unhealthy_threshold == o.unhealthy_threshold &&
           healthy_threshold == o.healthy_threshold && jitter_percent == o.jitter_percent &&
           dns_stale_s == o.dns_stale_s && breaker == o.breaker &&
           cert_expiry_warn_days == o.cert_expiry_warn_days;
  }
};

struct CheckConfig {
  std::string name;
  std::string kind;
  std::string role;
  bool required = false;
  bool liveness = false;
  CheckTiming timing;
  // The check's JSON object after ${VAR} expansion: what the kind's factory
  // builds from, and what reload compares to decide "unchanged".
  nlohmann::json spec;
  std::vector<std::string> secrets;

  bool SameAs(const CheckConfig& o) const { return spec == o.spec && timing == o.timing; }
};

// The HTTP server's limits (the "server" object; README "HTTP limits";
// agent/server.h says what each one does). Changing them needs a restart.
struct ServerConfig {
  int threads = 2;  // event-loop threads
  int max_connections = 512;
  int read_timeout_ms = 5000;
  int write_timeout_ms = 5000;
  int keep_alive_timeout_s = 5;
  int max_header_bytes = 8192;
  bool operator==(const ServerConfig& o) const {
    return threads == o.threads && max_connections == o.max_connections &&
           read_timeout_ms == o.read_timeout_ms && write_timeout_ms == o.write_timeout_ms &&
           keep_alive_timeout_s == o.keep_alive_timeout_s && max_header_bytes == o.max_header_bytes;
  }
  bool operator!=(const ServerConfig& o) const { return !(*this == o); }
};

// Sets one "server" key ("max_connections", ...) after a range check; throws
// ConfigError on `field` for an unknown key or a value out of range.
void SetServerOption(const std::string& key, int value, const std::string& field,
                     ServerConfig* server);

// A file a ${file:/path} reference read, as it was when read (fstat of the
// open file, so a watcher that stat()s the path later sees any change since).
// An unreadable one has size -1.
struct SecretFile {
  std::string path;
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t size = -1;
  int64_t mtime_ns = 0;
};

struct Config {
  std::string listen = "0.0.0.0:8086";
  ServerConfig server;
  int drain_seconds = 5;
  std::string admin_token_file;
  std::string log_format = "json";  // "json" | "text"
  // "full": /health shows every detail of a check; "status": only its name,
  // status, required flag and since (no target, no error text).
  std::string health_details = "full";
  std::vector<CheckConfig> checks;
  // Every credential found anywhere in the config: scrubbed from all output.
  std::vector<std::string> secrets;
  // The files ${file:...} references read, each once: watched for rotation.
  std::vector<SecretFile> secret_files;
};

// Looks a variable up in the environment; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// The role table (README "Configuration"): is a check of this role required by default?
bool RoleRequiredByDefault(const std::string& role);
const std::vector<std::string>& KnownRoles();

// Parses and validates config text; throws ConfigError naming the field.
// `files_seen`, when given, receives every ${file:...} met, also when parsing
// fails (the unreadable file included), so a watcher can retry once it appears.
Config ParseConfig(const std::string& text, const EnvLookup& env,
                   const CheckRegistry& registry = CheckRegistry::Builtin(),
                   std::vector<SecretFile>* files_seen = nullptr);

// Reads a file (at most 1 MiB) and parses it; throws ConfigError.
Config LoadConfigFile(const std::string& path, const EnvLookup& env,
                      const CheckRegistry& registry = CheckRegistry::Builtin(),
                      std::vector<SecretFile>* files_seen = nullptr);

// Validates a "HOST:PORT" listen address; throws ConfigError on `field`.
void ValidateListen(const std::string& listen, const std::string& field);

// Builds the live check object of a validated config entry.
std::unique_ptr<Check> BuildCheck(const CheckConfig& config,
                                  const CheckRegistry& registry = CheckRegistry::Builtin());

// The weakest secrets vigil accepts: a password scrubbed out of every line
// tells more than it hides when it is a short word, and a short admin token
// is guessed.
constexpr size_t kMinPasswordChars = 8;
constexpr size_t kMinAdminTokenBytes = 16;
// An admin token file bigger than this is refused without being read whole.
constexpr size_t kMaxAdminTokenFileBytes = 4096;

// Throws ConfigError on `field` ("VIGIL_ADMIN_TOKEN: ...") for a token
// shorter than kMinAdminTokenBytes. Never puts the token in the message.
void ValidateAdminToken(const std::string& token, const std::string& field);

// Reads and validates the admin token file (trailing whitespace trimmed).
// nullopt when the file cannot be opened (admin routes stay off); throws
// ConfigError on `field` for a file over kMaxAdminTokenFileBytes, a token
// that is too short, or a read error.
std::optional<std::string> ReadAdminTokenFile(const std::string& path, const std::string& field);

// The admin token the agent would use for `config`: VIGIL_ADMIN_TOKEN from
// `env` when set and not empty, else the file's; "" when neither is there.
// Throws ConfigError like the two above.
std::string LoadAdminToken(const Config& config, const EnvLookup& env);

// What ExpandVariables read from files: each file (once) and its contents.
struct FileExpansions {
  std::vector<SecretFile> files;  // each path once, in the order met
  // Per reference: its config place ("checks[1].url") and what the file held
  // (a credential: scrubbed from all output).
  std::vector<std::pair<std::string, std::string>> contents;
};

// Replaces ${VAR} and ${VAR:-default} in `in`; "$$" is a literal "$".
// Throws ConfigError(field, "unresolved variable ${NAME}") for an unset one.
// ${file:/path} is replaced by the file's contents with one trailing "\n" or
// "\r\n" cut off; the path must be absolute, the file regular and at most
// kMaxSecretFileBytes; otherwise ConfigError(field, "cannot read secret file
// /path: ..."). Files read are added to `files` when given.
std::string ExpandVariables(const std::string& in, const EnvLookup& env, const std::string& field,
                            FileExpansions* files = nullptr);

constexpr size_t kMaxSecretFileBytes = 64 * 1024;

// Reads a secret file as ${file:...} does (bounded, regular files only, one
// trailing newline cut). Sets *stamp (when given) from the open file. Throws
// ConfigError(field, ...) naming the path, never the contents.
std::string ReadSecretFile(const std::string& path, const std::string& field,
                           SecretFile* stamp = nullptr);

}  // namespace vigil
