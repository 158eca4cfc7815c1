// A refused config's error text, scrubbed of every value that may be a
// credential before anyone prints it (at start, `vigil validate`, reload):
// the refused config's secrets are not in the log's scrubber, and a parse
// error may have split a value in the wrong place.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "checks/registry.h"

namespace vigil {

// What a refusal of this config must not show: of every URL (and every
// HOST:PORT), each piece of its authority but the host; the values of
// password-like keys and keywords; every value that came from a ${...}.
// `raw` is the document as written, `expanded` as far as expansion got.
std::vector<std::string> RefusalSecrets(const nlohmann::json& raw, const nlohmann::json& expanded);

// `e` with each of `secrets` (and its percent-encoded forms) replaced by
// "***" in its message.
ConfigError ScrubRefusal(const ConfigError& e, const std::vector<std::string>& secrets);

}  // namespace vigil
