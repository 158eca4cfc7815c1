// `http` check kind: see docs/checks.md.
#pragma once

#include "checks/http/http_url.h"  // HttpUrl, ParseHttpUrl: for the unit tests
#include "checks/registry.h"

namespace vigil {

CheckKind HttpCheckKind();

}  // namespace vigil
