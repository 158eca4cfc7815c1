// A `postgres` check's `tls` object as libpq keywords (docs/tls.md,
// "PostgreSQL"): libpq makes the TLS connection itself.
#pragma once

#include <string>

#include "checks/common/tls_config.h"
#include "checks/postgres/pg_dsn.h"

namespace vigil {

// ca_file -> sslrootcert (the system CA bundle without one), cert_file/key_file
// -> sslcert/sslkey, sslmode verify-full (require with insecure_skip_verify)
// unless the url sets one. A keyword set both in the url and in `tls` is
// refused: one place says it. Throws ConfigError on `field` ("checks[1].tls").
void MapTlsOntoDsn(const TlsConfig& tls, const std::string& field, PgDsn* dsn);

}  // namespace vigil
