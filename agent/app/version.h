#pragma once

namespace vigil {

inline constexpr const char* kVersion = VIGIL_VERSION;

}  // namespace vigil
