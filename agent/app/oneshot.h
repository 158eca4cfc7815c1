// The one-shot commands: `vigil check` (every check once) and `vigil probe`
// (an HTTP probe for exec probes and HEALTHCHECK).
#pragma once

#include <string>

#include "agent/config/config.h"
#include "checks/registry.h"

namespace vigil {

// `vigil check`: every check once, a table on stdout; 0 ready, 1 not. A
// check that throws shows as failed with the exception's text.
int RunChecksOnce(const Config& config, const CheckRegistry& registry = CheckRegistry::Builtin());

// `vigil probe URL`: 0 on 2xx/3xx, 1 other status, 2 bad URL, 3 no answer.
int Probe(const std::string& url, int timeout_ms);

}  // namespace vigil
