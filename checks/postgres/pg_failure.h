// What a PostgreSQL failure means for vigil_check_failures_total.
//
// A server error carries a SQLSTATE, which says what went wrong in every
// language the server may be set to speak: the check asks libpq for it (on a
// query: the result's field; while connecting: libpq's verbose error form,
// which alone carries the code, see TakeSqlstate). A failure libpq makes on
// its own side (refused, reset, a broken handshake) has no code: libpq only
// words it, in the C locale vigil runs in.
#pragma once

#include <string>

#include "checks/check.h"

namespace vigil {

// Finds the SQLSTATE in an error message in libpq's verbose form
// ("...failed: FATAL:  28P01: password authentication failed..."), removes
// it ("...failed: FATAL:  password authentication failed...") and returns
// it; "" when there is none.
std::string TakeSqlstate(std::string* message);

// 28xxx (and 42501 on CONNECT) -> auth, 57P03 (starting up, shutting down,
// not yet accepting) -> loading, 53300 (too many connections) -> refused,
// 53200 -> oom, 25006 -> readonly, 57014 (statement_timeout) -> timeout,
// 08P01 -> protocol, anything else -> other.
FailureKind PgSqlstateKind(const std::string& sqlstate);

// A connection failure without a SQLSTATE, by libpq's own words: refused
// or unreachable -> refused, SSL -> tls, a reply that is not the protocol
// -> protocol, else other.
FailureKind PgClientFailureKind(const std::string& message);

}  // namespace vigil
