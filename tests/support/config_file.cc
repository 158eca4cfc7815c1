#include "tests/support/config_file.h"

#include <sys/stat.h>

#include <fstream>

#include <nlohmann/json.hpp>

#include "tests/support/ports.h"

namespace vigil::testing {

ConfigFile::ConfigFile(const std::string& prefix) : dir_(MakeTempDir(prefix)) {}

ConfigFile::~ConfigFile() { RemoveTree(dir_); }

std::string ConfigFile::Write(const nlohmann::json& config) const {
  const std::string path = this->path();
  std::ofstream(path, std::ios::trunc) << config.dump(2);
  chmod(path.c_str(), 0644);
  return path;
}

nlohmann::json OneAppConfig(int app_port, const nlohmann::json& server) {
  return {{"server", server},
          {"defaults", {{"interval_ms", 200}, {"timeout_ms", 200}}},
          {"checks",
           {{{"name", "app"},
             {"kind", "tcp"},
             {"role", "app"},
             {"liveness", true},
             {"address", "127.0.0.1:" + std::to_string(app_port)}}}}};
}

}  // namespace vigil::testing
