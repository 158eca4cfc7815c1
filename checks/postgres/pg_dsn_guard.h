// The postgres kind's rule for ${VAR} in its connection string, run by the
// config parser before variables are expanded (CheckKind::before_expansion).
#pragma once

#include <string>

#include "checks/registry.h"

namespace vigil {

// A ${VAR} in a postgres connection string may only fill in a value, never
// add a keyword (or, in a postgres:// URL, a host, a path or a parameter):
// each reference of the raw `url` is expanded on its own (`expand`) and its
// value checked against where it stands. `${VAR}` as the whole url is the
// whole connection string and is taken as it is. Throws ConfigError.
void RefuseDsnInjection(const std::string& raw, const ExpandReference& expand,
                        const std::string& field);

}  // namespace vigil
