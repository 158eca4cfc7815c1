// The "server" settings (docs/http.md, "Limits") in one table: the config
// parser, the command-line flags, their VIGIL_* variables and the overrides
// all iterate it, so a setting is added in one place.
#pragma once

#include <string>
#include <vector>

namespace vigil {

// The HTTP server's limits (the "server" object; agent/http/server.h says
// what each one does). Changing them needs a restart.
struct ServerConfig {
  int threads = 2;  // event-loop threads
  int max_connections = 512;
  int read_timeout_ms = 5000;
  int write_timeout_ms = 5000;
  int keep_alive_timeout_s = 5;
  int max_header_bytes = 8192;
  bool operator==(const ServerConfig& o) const;
  bool operator!=(const ServerConfig& o) const { return !(*this == o); }
};

// One "server" setting: its config key, range, flag, variable and member.
struct ServerSetting {
  const char* key;   // "max_connections" (in the "server" object)
  int min, max;      // inclusive
  const char* flag;  // "--max-connections"
  const char* env;   // "VIGIL_MAX_CONNECTIONS"
  int ServerConfig::*member;
};

// Every "server" setting, in the order of docs/configuration.md's table.
const std::vector<ServerSetting>& ServerSettings();

// The setting of a config key; nullptr for an unknown one.
const ServerSetting* FindServerSetting(const std::string& key);

// Sets one "server" key ("max_connections", ...) after a range check; throws
// ConfigError on `field` for an unknown key or a value out of range.
void SetServerOption(const std::string& key, int value, const std::string& field,
                     ServerConfig* server);

}  // namespace vigil
