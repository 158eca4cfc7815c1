#include "checks/postgres/postgres_check.h"

namespace vigil {

// STUB: replaced by the real implementation.
CheckKind PostgresCheckKind() {
  CheckKind kind;
  kind.name = "postgres";
  return kind;
}

}  // namespace vigil
