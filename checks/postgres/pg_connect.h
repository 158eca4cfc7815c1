// Making a `postgres` check's connection: the name resolved by vigil under
// the deadline and handed to libpq as `hostaddr`, then libpq's non-blocking
// connect (PQconnectStartParams + PQconnectPoll) polled against the same
// deadline: libpq's connect_timeout is whole seconds, and its own lookup
// would block.
#pragma once

#include <libpq-fe.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "checks/check.h"
#include "checks/postgres/pg_dsn.h"

namespace vigil {

using PgParams = std::vector<std::pair<std::string, std::string>>;

// The libpq keywords fixed for the life of a check (all but host, hostaddr
// and port): the url's, application_name=vigil and gssencmode=disable unless
// it sets them, statement_timeout in `options`, and the password.
PgParams PgBaseParams(const PgDsn& dsn, int statement_timeout_ms);

struct PgConnectRequest {
  const PgDsn* dsn = nullptr;
  const PgParams* base_params = nullptr;  // PgBaseParams
  // The name TLS verifies (and sends as SNI) when not the url's host: the
  // `tls` object's server_name.
  std::string server_name;
  // The check requires TLS: a stall in TLS start-up is a handshake timeout.
  bool tls_required = false;
  // Where libpq's NOTICE/WARNING messages go instead of stderr.
  PQnoticeProcessor notice = nullptr;
  void* notice_arg = nullptr;
};

// Connects before the deadline, the connection left non-blocking. *conn is
// set as soon as libpq made one, also when the connect then fails: the
// caller finishes it.
CheckResult ConnectPg(const PgConnectRequest& request, Deadline deadline, PGconn** conn);

// notAfter of the certificate the server presented on a TLS connection.
std::optional<int64_t> PgPeerNotAfter(PGconn* conn);

}  // namespace vigil
