// `postgres` check kind: see docs/checks.md.
#pragma once

#include "checks/registry.h"

namespace vigil {

CheckKind PostgresCheckKind();

}  // namespace vigil
