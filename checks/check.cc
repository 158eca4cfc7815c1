#include "checks/check.h"

#include <algorithm>

namespace vigil {

const char* OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPass:
      return "pass";
    case Outcome::kWarn:
      return "warn";
    case Outcome::kFail:
      return "fail";
  }
  return "fail";
}

std::string TimeoutReason(std::chrono::milliseconds budget) {
  return "timeout after " + std::to_string(budget.count()) + " ms";
}

int RemainingMs(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, left.count()));
}

}  // namespace vigil
