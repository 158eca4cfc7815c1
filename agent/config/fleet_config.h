// The "fleet" object (docs/fleet.md): where this pod's peers are and how
// often to ask them. Absent: the fleet is off and every verdict is local.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vigil {

struct FleetConfig {
  bool enabled = false;
  // Either a DNS name (a headless Service: every pod's address) ...
  std::string peers_dns;
  // ... or a static list of "host:port".
  std::vector<std::string> peers_static;
  // The port of the DNS form's addresses; 0: vigil's own listen port.
  int port = 0;
  int interval_ms = 5000;
  int sample = 16;
  int timeout_ms = 500;
  int min_pods = 3;
  // Peers present this bearer token on GET /fleet/self, and this pod
  // wants it (VIGIL_FLEET_TOKEN wins over the file).
  std::string token_file;

  bool operator==(const FleetConfig& o) const;
  bool operator!=(const FleetConfig& o) const { return !(*this == o); }
};

// Reads doc["fleet"] when present; throws ConfigError naming the field.
FleetConfig ReadFleet(const nlohmann::json& doc);

// The shortest fleet token vigil accepts (as for the admin token).
constexpr size_t kMinFleetTokenBytes = 16;

// The fleet token: VIGIL_FLEET_TOKEN, else the token file's contents (one
// trailing newline trimmed); "" when neither is set or the file is
// unreadable. Throws ConfigError for a token shorter than
// kMinFleetTokenBytes or a file over 4 KiB.
std::string LoadFleetToken(const FleetConfig& fleet);

}  // namespace vigil
