// `tcp`: connect to host:port before the deadline (the app's own port).
#pragma once

#include "checks/registry.h"

namespace vigil {

CheckKind TcpCheckKind();

}  // namespace vigil
