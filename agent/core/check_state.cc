#include "agent/core/check_state.h"

#include <algorithm>

namespace vigil {

const char* StatusName(Status s) {
  switch (s) {
    case Status::kUnknown:
      return "unknown";
    case Status::kPass:
      return "pass";
    case Status::kWarn:
      return "warn";
    case Status::kFail:
      return "fail";
  }
  return "unknown";
}

const char* BreakerName(BreakerState s) {
  switch (s) {
    case BreakerState::kClosed:
      return "closed";
    case BreakerState::kHalfOpen:
      return "half-open";
    case BreakerState::kOpen:
      return "open";
  }
  return "closed";
}

double PercentStateChange(const std::vector<bool>& up) {
  const size_t n = std::min(up.size(), kFlapWindow);
  const size_t first = up.size() - n;
  double changes = 0;
  for (size_t i = 1; i < n; ++i) {
    if (up[first + i] == up[first + i - 1]) continue;
    // The change's place in a full window: 1 (oldest) .. kFlapWindow - 1.
    const size_t x = kFlapWindow - n + i;
    changes += 0.8 + 0.4 * static_cast<double>(x - 1) / static_cast<double>(kFlapWindow - 2);
  }
  return changes * 100.0 / static_cast<double>(kFlapWindow - 1);
}

void DurationHistogram::Observe(double seconds) {
  for (size_t i = 0; i < kDurationBuckets.size(); ++i) {
    if (seconds <= kDurationBuckets[i]) ++buckets[i];
  }
  ++count;
  sum += seconds;
}

}  // namespace vigil
