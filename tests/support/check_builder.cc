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

Timed RunFor(Check& check, std::chrono::milliseconds budget) {
  auto start = Clock::now();
  CheckResult r = check.Run(start + budget);
  return {r, std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)};
}

}  // namespace vigil::testing
