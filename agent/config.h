// The agent's configuration: one JSON file (SPEC §5), ${VAR} expanded from the
// environment, command-line flags and VIGIL_* variables over it.
#pragma once

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
  BreakerConfig breaker;
  // A TLS dependency whose certificate expires within this many days warns
  // (0: never).
  int cert_expiry_warn_days = 14;
  bool operator==(const CheckTiming& o) const {
    return interval_ms == o.interval_ms && timeout_ms == o.timeout_ms &&
           unhealthy_threshold == o.unhealthy_threshold &&
           healthy_threshold == o.healthy_threshold && jitter_percent == o.jitter_percent &&
           breaker == o.breaker && cert_expiry_warn_days == o.cert_expiry_warn_days;
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

struct Config {
  std::string listen = "0.0.0.0:8086";
  ServerConfig server;
  int drain_seconds = 5;
  std::string admin_token_file;
  std::string log_format = "json";  // "json" | "text"
  std::vector<CheckConfig> checks;
  // Every credential found anywhere in the config: scrubbed from all output.
  std::vector<std::string> secrets;
};

// Looks a variable up in the environment; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// The role table of SPEC §1: is a check of this role required by default?
bool RoleRequiredByDefault(const std::string& role);
const std::vector<std::string>& KnownRoles();

// Parses and validates config text; throws ConfigError naming the field.
Config ParseConfig(const std::string& text, const EnvLookup& env,
                   const CheckRegistry& registry = CheckRegistry::Builtin());

// Reads a file (at most 1 MiB) and parses it; throws ConfigError.
Config LoadConfigFile(const std::string& path, const EnvLookup& env,
                      const CheckRegistry& registry = CheckRegistry::Builtin());

// Validates a "HOST:PORT" listen address; throws ConfigError on `field`.
void ValidateListen(const std::string& listen, const std::string& field);

// Builds the live check object of a validated config entry.
std::unique_ptr<Check> BuildCheck(const CheckConfig& config,
                                  const CheckRegistry& registry = CheckRegistry::Builtin());

// Replaces ${VAR} and ${VAR:-default} in `in`; "$$" is a literal "$".
// Throws ConfigError(field, "unresolved variable ${NAME}") for an unset one.
std::string ExpandVariables(const std::string& in, const EnvLookup& env, const std::string& field);

}  // namespace vigil
