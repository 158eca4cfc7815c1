// The admin bearer token: from VIGIL_ADMIN_TOKEN or the admin token file,
// validated (docs/security.md). The fleet token file is read the same way.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "agent/config/variables.h"

namespace vigil {

struct Config;

// The weakest admin token vigil accepts: a short one is guessed.
constexpr size_t kMinAdminTokenBytes = 16;
// An admin token file bigger than this is refused without being read whole.
constexpr size_t kMaxAdminTokenFileBytes = 4096;

// Throws ConfigError on `field` ("VIGIL_ADMIN_TOKEN: ...") for a token
// shorter than kMinAdminTokenBytes. Never puts the token in the message.
// `what` names the token in the message ("fleet token").
void ValidateAdminToken(const std::string& token, const std::string& field,
                        const char* what = "admin token");

// Reads and validates the admin token file (trailing whitespace trimmed).
// nullopt when the file cannot be opened (admin routes stay off); throws
// ConfigError on `field` for a file over kMaxAdminTokenFileBytes, a token
// that is too short, or a read error.
std::optional<std::string> ReadAdminTokenFile(const std::string& path, const std::string& field,
                                              const char* what = "admin token");

// The admin token the agent would use for `config`: VIGIL_ADMIN_TOKEN from
// `env` when set and not empty, else the file's; "" when neither is there.
// Throws ConfigError like the two above.
std::string LoadAdminToken(const Config& config, const EnvLookup& env);

}  // namespace vigil
