// Building a check from its JSON config as the agent does (through the
// built-in registry), and running it once against a budget.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/check.h"

namespace vigil::testing {

// A check and the secrets its factory registered for scrubbing.
struct BuiltCheck {
  std::unique_ptr<Check> check;
  std::vector<std::string> secrets;
};

// The check of kind `kind` ("tcp", "http", ...) that `json` configures, at
// config place "checks[0]". Throws ConfigError as the factory does.
BuiltCheck BuildCheck(const std::string& kind, const nlohmann::json& json);

// The check of kind `kind` that {"url": URL} configures, with {"tls": TLS}
// added when `tls` is not null.
std::unique_ptr<Check> BuildUrlCheck(const std::string& kind, const std::string& url,
                                     const nlohmann::json& tls = nullptr);

// The ConfigError's text BuildCheck(kind, json) throws, or "(accepted)".
std::string BuildErrorOf(const std::string& kind, const nlohmann::json& json);

// One run and how long it took.
struct Timed {
  CheckResult result;
  std::chrono::milliseconds elapsed;
};

// Runs `check` once with its deadline `budget` from now.
Timed RunFor(Check& check, std::chrono::milliseconds budget);

}  // namespace vigil::testing
