// The agent's configuration: one JSON file (docs/configuration.md), ${VAR} expanded from the
// environment, command-line flags and VIGIL_* variables over it. The parts
// have headers of their own, all included here: check_config.h (one check),
// server_settings.h ("server"), variables.h (${...}), secret_files.h,
// admin_token.h.
#pragma once

#include <string>
#include <vector>

#include "agent/config/admin_token.h"
#include "agent/config/check_config.h"
#include "agent/config/fleet_config.h"
#include "agent/config/kubernetes_config.h"
#include "agent/config/secret_files.h"
#include "agent/config/server_settings.h"
#include "agent/config/variables.h"
#include "checks/registry.h"

namespace vigil {

struct Config {
  std::string listen = "0.0.0.0:8086";
  ServerConfig server;
  int drain_seconds = 5;
  std::string admin_token_file;
  std::string log_format = "json";  // "json" | "text"
  // "full": /health shows every detail of a check; "status": only its name,
  // status, required flag and since (no target, no error text).
  std::string health_details = "full";
  // Peers to ask for their local verdicts (docs/fleet.md); off when absent.
  FleetConfig fleet;
  // Kubernetes Events on the pod (docs/kubernetes.md#events); off by default.
  KubernetesConfig kubernetes;
  std::vector<CheckConfig> checks;
  // Every credential found anywhere in the config: scrubbed from all output.
  std::vector<std::string> secrets;
  // The files ${file:...} references read, each once: watched for rotation.
  std::vector<SecretFile> secret_files;
};

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

}  // namespace vigil
