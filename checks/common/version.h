// vigil's version (the project's version in CMakeLists.txt): in --version,
// /health, the started log line, vigil_build_info and the http check's
// User-Agent.
#pragma once

namespace vigil {

inline constexpr const char* kVersion = VIGIL_VERSION;

}  // namespace vigil
