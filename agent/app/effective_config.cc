#include "agent/app/effective_config.h"

#include <algorithm>

namespace vigil {
namespace {

// The flag a "server" key is set by in error texts ("--read-timeout-ms").
std::string FlagOf(const std::string& key) {
  if (const ServerSetting* s = FindServerSetting(key)) return s->flag;
  std::string flag = "--" + key;
  std::replace(flag.begin(), flag.end(), '_', '-');
  return flag;
}

}  // namespace

void ApplyOverrides(const Overrides& o, Config* c) {
  if (o.listen) {
    ValidateListen(*o.listen, "--listen");
    c->listen = *o.listen;
  }
  if (o.drain_seconds) {
    if (*o.drain_seconds < 0 || *o.drain_seconds > 3600)
      throw ConfigError("--drain-seconds", "out of range (0..3600)");
    c->drain_seconds = *o.drain_seconds;
  }
  if (o.log_format) {
    if (*o.log_format != "json" && *o.log_format != "text")
      throw ConfigError("--log-format", "want \"json\" or \"text\"");
    c->log_format = *o.log_format;
  }
  if (o.admin_token_file) c->admin_token_file = *o.admin_token_file;
  for (const auto& [key, value] : o.server) SetServerOption(key, value, FlagOf(key), &c->server);
}

// ServerLimits belongs to the HTTP layer, above the config: the fields are
// copied one by one (ServerSettings() lists the same six).
ServerLimits LimitsOf(const ServerConfig& s) {
  ServerLimits l;
  l.threads = s.threads;
  l.max_connections = s.max_connections;
  l.read_timeout_ms = s.read_timeout_ms;
  l.write_timeout_ms = s.write_timeout_ms;
  l.keep_alive_timeout_s = s.keep_alive_timeout_s;
  l.max_header_bytes = static_cast<size_t>(s.max_header_bytes);
  return l;
}

Config LoadEffectiveConfig(const std::string& path, const Overrides& o,
                           std::vector<SecretFile>* files_seen) {
  Config c = LoadConfigFile(path, ProcessEnv(), CheckRegistry::Builtin(), files_seen);
  ApplyOverrides(o, &c);
  LoadAdminToken(c, ProcessEnv());  // a weak token is a config error too
  return c;
}

}  // namespace vigil
