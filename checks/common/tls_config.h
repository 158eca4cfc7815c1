// A check's `tls` object (docs/tls.md), read and validated
// when the config is read:
//   ca_file               PEM bundle to verify the server with (default: the
//                         system store)
//   server_name           SNI and the name verified (default: the URL's host;
//                         an IP address is verified as an address)
//   cert_file, key_file   a client certificate, both or neither
//   insecure_skip_verify  no chain or name verification (default false)
// Files are checked when the config is read and read again on every new
// connection (checks/common/tls_context.h), so a rotated certificate is
// picked up on the next reconnect.
#pragma once

#include <optional>
#include <string>

#include "checks/check.h"
#include "checks/registry.h"

namespace vigil {

struct TlsConfig {
  std::string ca_file;      // empty: the system store
  std::string server_name;  // empty: the host the check connects to
  std::string cert_file;    // with key_file: a client certificate
  std::string key_file;
  bool insecure_skip_verify = false;
};

// The key of the `tls` object.
inline constexpr const char* kTlsKey = "tls";

// The check's `tls` object, validated: unknown keys refused, files readable
// PEM, cert_file and key_file together and matching. nullopt when the check
// has none. Throws ConfigError ("checks[2].tls.ca_file: cannot read /x: No
// such file or directory").
std::optional<TlsConfig> ParseTlsConfig(const CheckSpec& spec);

// The once-only log note of a check that does not verify its peer.
inline constexpr char kInsecureNote[] =
    "TLS certificate verification is off (insecure_skip_verify)";

// Gives the insecure note once, on the first run that does not fail: as the
// reason of a pass (the agent logs such a reason as a note) or after the
// reason of a warn. *noted remembers it.
void NoteInsecureOnce(const TlsConfig& tls, bool* noted, CheckResult* result);

}  // namespace vigil
