#include "checks/http/http_check.h"

namespace vigil {

// STUB: replaced by the real implementation.
CheckKind HttpCheckKind() {
  CheckKind kind;
  kind.name = "http";
  return kind;
}

}  // namespace vigil
