#include "agent/config/fleet_config.h"

#include <cstdlib>

#include <nlohmann/json.hpp>

#include "agent/config/admin_token.h"
#include "agent/config/config_fields.h"
#include "checks/common/json_read.h"
#include "checks/common/net.h"
#include "checks/registry.h"

namespace vigil {
namespace {

using json = nlohmann::json;

const std::vector<std::string> kFleetKeys = {"peers",      "port",     "interval_ms", "sample",
                                             "timeout_ms", "min_pods", "token_file"};
constexpr size_t kMaxStaticPeers = 1000;
constexpr size_t kMaxDnsName = 253;

bool IsDnsName(const std::string& s) {
  if (s.empty() || s.size() > kMaxDnsName || s.front() == '.' || s.front() == '-') return false;
  size_t label = 0;
  for (char c : s) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok || ++label > 63) return false;
  }
  return true;
}

void ReadPeers(const json& f, FleetConfig* out) {
  auto it = f.find("peers");
  if (it == f.end()) throw ConfigError("fleet.peers", "missing");
  if (it->is_string()) {
    const std::string& name = it->get_ref<const std::string&>();
    if (!IsDnsName(name)) {
      throw ConfigError("fleet.peers",
                        "want a DNS name or a list of \"host:port\", got" + Echo(name));
    }
    out->peers_dns = name;
    return;
  }
  if (!it->is_array()) {
    throw ConfigError("fleet.peers", "want a DNS name or a list of \"host:port\"");
  }
  if (it->empty()) throw ConfigError("fleet.peers", "must not be empty");
  if (it->size() > kMaxStaticPeers) {
    throw ConfigError("fleet.peers", "at most " + std::to_string(kMaxStaticPeers) + " peers");
  }
  for (size_t i = 0; i < it->size(); ++i) {
    const std::string field = "fleet.peers[" + std::to_string(i) + "]";
    const json& p = (*it)[i];
    if (!p.is_string()) throw ConfigError(field, "must be a string");
    std::string host;
    int port = 0;
    const std::string& s = p.get_ref<const std::string&>();
    if (!SplitHostPort(s, &host, &port) || host.empty() || port <= 0 || port > 65535) {
      throw ConfigError(field, "want HOST:PORT, got" + Echo(s));
    }
    out->peers_static.push_back(s);
  }
}

}  // namespace

bool FleetConfig::operator==(const FleetConfig& o) const {
  return enabled == o.enabled && peers_dns == o.peers_dns && peers_static == o.peers_static &&
         port == o.port && interval_ms == o.interval_ms && sample == o.sample &&
         timeout_ms == o.timeout_ms && min_pods == o.min_pods && token_file == o.token_file;
}

FleetConfig ReadFleet(const json& doc) {
  FleetConfig out;
  auto it = doc.find("fleet");
  if (it == doc.end() || it->is_null()) return out;
  RequireObject(*it, "fleet");
  RejectUnknownKeys(*it, kFleetKeys, "fleet");
  const json& f = *it;
  out.enabled = true;
  ReadPeers(f, &out);
  out.port = OptionalInt(f, "port", 0, 1, 65535, "fleet.port");
  if (f.contains("port") && out.peers_dns.empty()) {
    throw ConfigError("fleet.port", "only with a DNS name in fleet.peers (a list names its ports)");
  }
  out.interval_ms =
      OptionalInt(f, "interval_ms", out.interval_ms, 500, 3600000, "fleet.interval_ms");
  out.sample = OptionalInt(f, "sample", out.sample, 1, 1000, "fleet.sample");
  out.timeout_ms = OptionalInt(f, "timeout_ms", out.timeout_ms, 50, 60000, "fleet.timeout_ms");
  if (out.timeout_ms >= out.interval_ms) {
    throw ConfigError("fleet.timeout_ms", "must be shorter than fleet.interval_ms (" +
                                              std::to_string(out.interval_ms) + ")");
  }
  out.min_pods = OptionalInt(f, "min_pods", out.min_pods, 1, 100000, "fleet.min_pods");
  out.token_file = OptionalString(f, "token_file", "", "fleet.token_file");
  return out;
}

std::string LoadFleetToken(const FleetConfig& fleet) {
  if (const char* env = std::getenv("VIGIL_FLEET_TOKEN"); env != nullptr && *env != '\0') {
    ValidateAdminToken(env, "VIGIL_FLEET_TOKEN", "fleet token");
    return env;
  }
  if (fleet.token_file.empty()) return "";
  return ReadAdminTokenFile(fleet.token_file, "fleet.token_file", "fleet token").value_or("");
}

}  // namespace vigil
