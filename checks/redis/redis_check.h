// `redis` check kind: see README "Check kinds" and SPEC §1.
#pragma once

#include "checks/registry.h"

namespace vigil {

CheckKind RedisCheckKind();

}  // namespace vigil
