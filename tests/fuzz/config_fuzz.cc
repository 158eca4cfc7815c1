// Config text -> Config or ConfigError, never anything else. The
// daemon, `vigil validate` and a reload catch ConfigError only: any other
// exception, a crash, a hang or a sanitizer report here would take the agent
// down on a bad ConfigMap. A config that parses also builds every check
// (without touching the network) and takes the command-line overrides.
#include <cstdint>
#include <cstring>
#include <string>

#include "agent/app/daemon.h"
#include "agent/config/config.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

std::optional<std::string> Env(const std::string& name) {
  if (name == "PW") return std::string("fuzz-Secret-pw");
  if (name == "EMPTY") return std::string();
  if (name == "PORT") return std::string("6379");
  if (name == "URL") return std::string("redis://:fuzz-Secret-pw@127.0.0.1:6379/0");
  return std::nullopt;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    vigil::Config c = vigil::ParseConfig(text, Env);
    for (const vigil::CheckConfig& check : c.checks) {
      std::unique_ptr<vigil::Check> built = vigil::BuildCheck(check);
      vigil::fuzz::Require(built != nullptr, "a valid check builds", text);
      (void)built->Target();
    }
    vigil::Overrides o;
    o.listen = "127.0.0.1:8086";
    o.server["max_connections"] = 64;
    vigil::ApplyOverrides(o, &c);
    (void)vigil::LimitsOf(c.server);
  } catch (const vigil::ConfigError& e) {
    vigil::fuzz::Require(std::strlen(e.what()) > 0 && !e.field().empty(),
                         "a refusal names the field and the fault", text, e.what());
  }
  return 0;
}
