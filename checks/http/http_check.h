// `http` check kind: see README "Check kinds".
#pragma once

#include "checks/http/http_url.h"  // HttpUrl, ParseHttpUrl: for the unit tests
#include "checks/registry.h"

namespace vigil {

CheckKind HttpCheckKind();

}  // namespace vigil
