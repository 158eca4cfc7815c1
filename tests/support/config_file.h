// Config files for the vigil binary in a temp dir of their own (removed with
// the object), and a config that many end-to-end tests start from.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace vigil::testing {

class ConfigFile {
 public:
  explicit ConfigFile(const std::string& prefix = "vigil-config");
  ~ConfigFile();
  ConfigFile(const ConfigFile&) = delete;
  ConfigFile& operator=(const ConfigFile&) = delete;

  const std::string& dir() const { return dir_; }
  // DIR/config.json
  std::string path() const { return dir_ + "/config.json"; }

  // Writes `config` to path() (replacing it; mode 0644, so that an agent
  // that dropped its privileges still reads it). Returns path().
  std::string Write(const nlohmann::json& config) const;

 private:
  std::string dir_;
};

// A config with one check, "app": tcp to 127.0.0.1:APP_PORT, role app,
// liveness, every 200 ms with a 200 ms timeout; `server` is the server
// section.
nlohmann::json OneAppConfig(int app_port, const nlohmann::json& server);

}  // namespace vigil::testing
