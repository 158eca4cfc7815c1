// `vigil run`: the daemon's life: start, serve, reload on SIGHUP or a change
// of the config file, drain on SIGTERM, exit.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "agent/config.h"
#include "agent/server.h"

namespace vigil {

// Command-line flags (or their VIGIL_* variables) that override the file.
struct Overrides {
  std::optional<std::string> listen;
  std::optional<int> drain_seconds;
  std::optional<std::string> log_format;
  std::optional<std::string> admin_token_file;
  // "server" settings by key ("max_connections", ...), from --max-connections
  // and the like.
  std::map<std::string, int> server;
};

// Applies overrides to a parsed config; throws ConfigError ("--listen: ...").
void ApplyOverrides(const Overrides& o, Config* config);

// The server's limits from the config's "server" settings.
ServerLimits LimitsOf(const ServerConfig& server);

// Loads, overrides and validates; throws ConfigError. `files_seen` as for
// LoadConfigFile.
Config LoadEffectiveConfig(const std::string& path, const Overrides& o,
                           std::vector<SecretFile>* files_seen = nullptr);

// Runs the daemon until SIGTERM/SIGINT and the drain; returns the exit code.
int RunDaemon(const std::string& config_path, const Overrides& overrides);

// `vigil check`: every check once, a table on stdout; 0 ready, 1 not. A
// check that throws shows as failed with the exception's text.
int RunChecksOnce(const Config& config, const CheckRegistry& registry = CheckRegistry::Builtin());

// `vigil probe URL`: 0 on 2xx/3xx, 1 other status, 2 bad URL, 3 no answer.
int Probe(const std::string& url, int timeout_ms);

}  // namespace vigil
