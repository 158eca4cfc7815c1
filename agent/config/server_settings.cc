#include "agent/config/server_settings.h"

#include "checks/registry.h"

namespace vigil {

bool ServerConfig::operator==(const ServerConfig& o) const {
  for (const ServerSetting& s : ServerSettings()) {
    if (this->*s.member != o.*s.member) return false;
  }
  return true;
}

const std::vector<ServerSetting>& ServerSettings() {
  static const std::vector<ServerSetting> settings = {
      {"threads", 1, 64, "--server-threads", "VIGIL_SERVER_THREADS", &ServerConfig::threads},
      {"max_connections", 1, 65536, "--max-connections", "VIGIL_MAX_CONNECTIONS",
       &ServerConfig::max_connections},
      {"read_timeout_ms", 100, 600000, "--read-timeout-ms", "VIGIL_READ_TIMEOUT_MS",
       &ServerConfig::read_timeout_ms},
      {"write_timeout_ms", 100, 600000, "--write-timeout-ms", "VIGIL_WRITE_TIMEOUT_MS",
       &ServerConfig::write_timeout_ms},
      {"keep_alive_timeout_s", 0, 3600, "--keep-alive-timeout-s", "VIGIL_KEEP_ALIVE_TIMEOUT_S",
       &ServerConfig::keep_alive_timeout_s},
      {"max_header_bytes", 1024, 65536, "--max-header-bytes", "VIGIL_MAX_HEADER_BYTES",
       &ServerConfig::max_header_bytes},
  };
  return settings;
}

const ServerSetting* FindServerSetting(const std::string& key) {
  for (const ServerSetting& s : ServerSettings()) {
    if (key == s.key) return &s;
  }
  return nullptr;
}

void SetServerOption(const std::string& key, int value, const std::string& field,
                     ServerConfig* server) {
  const ServerSetting* s = FindServerSetting(key);
  if (s == nullptr) throw ConfigError(field, "unknown server setting");
  if (value < s->min || value > s->max) {
    throw ConfigError(field, "out of range: " + std::to_string(value) + " (want " +
                                 std::to_string(s->min) + ".." + std::to_string(s->max) + ")");
  }
  server->*s->member = value;
}

}  // namespace vigil
