// The config the agent runs with: the file, then the command-line flags and
// their VIGIL_* variables over it (docs/configuration.md, docs/http.md).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "agent/config/config.h"
#include "agent/http/server.h"

namespace vigil {

// Command-line flags (or their VIGIL_* variables) that override the file.
struct Overrides {
  std::optional<std::string> listen;
  std::optional<int> drain_seconds;
  std::optional<std::string> log_format;
  std::optional<std::string> admin_token_file;
  // "server" settings by key ("max_connections", ...), from --max-connections
  // and the like (ServerSettings()).
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

}  // namespace vigil
