#include "checks/redis/redis_check.h"

namespace vigil {

// STUB: replaced by the real implementation.
CheckKind RedisCheckKind() {
  CheckKind kind;
  kind.name = "redis";
  return kind;
}

}  // namespace vigil
