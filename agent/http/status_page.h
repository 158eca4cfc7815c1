// The human status page served at "/": one self-contained HTML document.
#pragma once

#include <string>

namespace vigil {

std::string RenderStatusPage();

}  // namespace vigil
