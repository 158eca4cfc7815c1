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

const char* FailureKindName(FailureKind k) {
  switch (k) {
    case FailureKind::kTimeout:
      return "timeout";
    case FailureKind::kRefused:
      return "refused";
    case FailureKind::kDns:
      return "dns";
    case FailureKind::kTls:
      return "tls";
    case FailureKind::kAuth:
      return "auth";
    case FailureKind::kProtocol:
      return "protocol";
    case FailureKind::kRole:
      return "role";
    case FailureKind::kLoading:
      return "loading";
    case FailureKind::kReadonly:
      return "readonly";
    case FailureKind::kOom:
      return "oom";
    case FailureKind::kStatus:
      return "status";
    case FailureKind::kBody:
      return "body";
    case FailureKind::kOther:
      return "other";
  }
  return "other";
}

std::string TimeoutReason(std::chrono::milliseconds budget) {
  return "timeout after " + std::to_string(budget.count()) + " ms";
}

int RemainingMs(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, left.count()));
}

}  // namespace vigil
