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

std::string TimeoutReasonOf(const CheckResult& result, std::chrono::milliseconds budget) {
  std::string reason = TimeoutReason(budget);
  // kHandshakeTimeout of checks/common/tls.h: said so, because a peer that accepts
  // and never completes a handshake is a fault of its own.
  if (result.reason == "handshake timeout") reason += " (handshake timeout)";
  return reason;
}

void ApplyCertExpiry(CheckResult* result, int warn_days, int64_t now_unix) {
  if (warn_days <= 0 || !result->tls_not_after || result->outcome == Outcome::kFail) return;
  const int64_t left = *result->tls_not_after - now_unix;
  if (left >= static_cast<int64_t>(warn_days) * 86400) return;
  std::string why;
  if (left <= 0) {
    why = "certificate has expired";
  } else {
    // Rounded to the nearest day: a certificate made for 5 days says 5.
    const int64_t days = (left + 43200) / 86400;
    why = days == 0   ? "certificate expires in less than a day"
          : days == 1 ? "certificate expires in 1 day"
                      : "certificate expires in " + std::to_string(days) + " days";
  }
  if (!result->reason.empty()) why += "; " + result->reason;
  result->outcome = Outcome::kWarn;
  result->reason = std::move(why);
}

int RemainingMs(Deadline deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  return static_cast<int>(std::max<std::chrono::milliseconds::rep>(0, left.count()));
}

}  // namespace vigil
