#include "agent/core/schedule.h"

#include <algorithm>
#include <cmath>

namespace vigil {

std::chrono::milliseconds JitteredInterval(int interval_ms, int jitter_percent, double unit) {
  double jitter = interval_ms * (jitter_percent / 100.0) * std::clamp(unit, 0.0, 1.0);
  auto ms = static_cast<int64_t>(interval_ms + jitter);
  return std::chrono::milliseconds(std::max<int64_t>(1, ms));
}

std::chrono::milliseconds SpreadInterval(int interval_ms, double unit) {
  // 1 - unit is in (0, 1]: the whole interval is a possible gap, zero is not.
  const double gap = interval_ms * (1.0 - std::clamp(unit, 0.0, 1.0));
  const auto ms = static_cast<int64_t>(std::ceil(gap));
  return std::chrono::milliseconds(std::clamp<int64_t>(ms, 1, std::max(1, interval_ms)));
}

}  // namespace vigil
