// Parsing a `postgres` check's `url` (a postgres:// URL or a libpq keyword
// string) into what the check needs, and making libpq's texts safe to print.
// Kept apart from the check so it can be unit-tested without a server.
#pragma once

#include <string>
#include <utility>
#include <vector>

namespace vigil {

struct PgDsn {
  // Host name, numeric address, or a Unix-socket directory ("/run/pg").
  // "localhost" when the url names none (libpq would pick a Unix socket,
  // which a sidecar rarely shares with its database).
  std::string host;
  int port = 5432;
  // A numeric address the url itself gave (libpq's `hostaddr`); empty if none.
  std::string hostaddr;
  // The decoded password; empty when the url carries none.
  std::string password;
  // Every other libpq keyword the url set (user, dbname, sslmode, options, ...),
  // passed through to libpq as given.
  std::vector<std::pair<std::string, std::string>> params;
  // The password in every form it may take in the config text (decoded and
  // as written), for the agent's scrubber.
  std::vector<std::string> secrets;

  // "host:port" ("[::1]:5432"); never credentials.
  std::string Target() const;
  bool IsUnixSocket() const;
  // A keyword from `params`, or "" when unset.
  std::string Param(const std::string& keyword) const;
};

// Parses `url`. Throws ConfigError on `field` with a message that never holds
// the password: libpq's own parse errors quote pieces of the input, so quoted
// pieces are kept only when they are plainly option names.
PgDsn ParsePgDsn(const std::string& url, const std::string& field);

// One line out of a libpq error text (PQerrorMessage / PQresultErrorMessage):
// the most telling line of a multi-line message, whitespace collapsed,
// `password` replaced by "***" wherever it appears, and reduced to printable
// UTF-8 of bounded length (checks/common/untrusted_text.h).
std::string PgErrorLine(const std::string& message, const std::string& password);

}  // namespace vigil
