#include "agent/core/check_state.h"

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

void DurationHistogram::Observe(double seconds) {
  for (size_t i = 0; i < kDurationBuckets.size(); ++i) {
    if (seconds <= kDurationBuckets[i]) ++buckets[i];
  }
  ++count;
  sum += seconds;
}

}  // namespace vigil
