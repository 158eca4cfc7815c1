#include "tests/support/check_builder.h"

#include "checks/registry.h"

namespace vigil::testing {

BuiltCheck BuildCheck(const std::string& kind, const nlohmann::json& json) {
  BuiltCheck b;
  CheckSpec spec{json, "checks[0]", &b.secrets};
  // As the agent does from the config's "dns_stale_s" (default 300).
  if (auto it = json.find("dns_stale_s"); it != json.end()) spec.dns_stale_s = it->get<int>();
  b.check = CheckRegistry::Builtin().Find(kind)->create(spec);
  return b;
}

std::unique_ptr<Check> BuildUrlCheck(const std::string& kind, const std::string& url,
                                     const nlohmann::json& tls) {
  nlohmann::json j = {{"url", url}};
  if (!tls.is_null()) j["tls"] = tls;
  return BuildCheck(kind, j).check;
}

std::string BuildErrorOf(const std::string& kind, const nlohmann::json& json) {
  try {
    BuildCheck(kind, json);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

Timed RunFor(Check& check, std::chrono::milliseconds budget) {
  auto start = Clock::now();
  CheckResult r = check.Run(start + budget);
  return {r, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)};
}

}  // namespace vigil::testing
