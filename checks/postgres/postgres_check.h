// `postgres` check kind: see README "Check kinds".
#pragma once

#include "checks/registry.h"

namespace vigil {

CheckKind PostgresCheckKind();

}  // namespace vigil
