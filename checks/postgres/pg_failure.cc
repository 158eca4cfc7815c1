#include "checks/postgres/pg_failure.h"

#include <cerrno>
#include <cstring>

namespace vigil {
namespace {

bool IsSqlstateChar(char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z'); }

bool Contains(const std::string& text, const char* needle) {
  return text.find(needle) != std::string::npos;
}

}  // namespace

std::string TakeSqlstate(std::string* message) {
  // "SEVERITY:  XXXXX: text": the severity word may be translated, the code
  // never is, and it always follows the severity's colon and two spaces.
  for (size_t pos = message->find(":  "); pos != std::string::npos;
       pos = message->find(":  ", pos + 1)) {
    const size_t code = pos + 3;
    if (code + 7 > message->size()) break;
    bool ok = true;
    for (size_t i = 0; i < 5 && ok; ++i) ok = IsSqlstateChar((*message)[code + i]);
    if (!ok || (*message)[code + 5] != ':' || (*message)[code + 6] != ' ') continue;
    std::string sqlstate = message->substr(code, 5);
    message->erase(code, 7);
    return sqlstate;
  }
  return "";
}

FailureKind PgSqlstateKind(const std::string& s) {
  if (s.size() != 5) return FailureKind::kOther;
  if (s.compare(0, 2, "28") == 0) return FailureKind::kAuth;  // invalid authorization
  if (s == "42501") return FailureKind::kAuth;                // no CONNECT privilege
  if (s == "57P03") return FailureKind::kLoading;             // cannot connect now
  if (s == "53300") return FailureKind::kRefused;             // too many connections
  if (s == "53200") return FailureKind::kOom;                 // out of memory
  if (s == "25006") return FailureKind::kReadonly;            // read-only transaction
  if (s == "57014") return FailureKind::kTimeout;             // statement_timeout
  if (s == "08P01") return FailureKind::kProtocol;            // protocol violation
  return FailureKind::kOther;
}

FailureKind PgClientFailureKind(const std::string& message) {
  for (int err : {ECONNREFUSED, ECONNRESET, EHOSTUNREACH, ENETUNREACH}) {
    if (Contains(message, std::strerror(err))) return FailureKind::kRefused;
  }
  if (Contains(message, "SSL") || Contains(message, "certificate")) return FailureKind::kTls;
  if (Contains(message, "could not translate host name")) return FailureKind::kDns;
  if (Contains(message, "expected authentication request") ||
      Contains(message, "invalid response") || Contains(message, "unexpected message")) {
    return FailureKind::kProtocol;
  }
  return FailureKind::kOther;
}

}  // namespace vigil
