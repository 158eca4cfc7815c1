#include "checks/postgres/pg_tls.h"

#include <openssl/x509.h>
#include <unistd.h>

namespace vigil {
namespace {

// The system CA bundle, for a `tls` object without ca_file: libpq 15 has no
// "sslrootcert=system" and would look in ~/.postgresql/root.crt.
std::string SystemCaBundle() {
  for (const char* f : {X509_get_default_cert_file(), "/etc/ssl/certs/ca-certificates.crt"}) {
    if (f != nullptr && access(f, R_OK) == 0) return f;
  }
  return {};
}

}  // namespace

void MapTlsOntoDsn(const TlsConfig& tls, const std::string& field, PgDsn* dsn) {
  if (dsn->IsUnixSocket()) {
    throw ConfigError(field, "a Unix socket carries no TLS: name a TCP host in the url");
  }
  auto set = [&](const char* keyword, const std::string& value, const char* key) {
    if (value.empty()) return;
    if (!dsn->Param(keyword).empty()) {
      throw ConfigError(field + "." + key,
                        std::string("the url sets ") + keyword + " too: set it in one place");
    }
    dsn->params.emplace_back(keyword, value);
  };
  const std::string mode = dsn->Param("sslmode");
  if (tls.insecure_skip_verify && (mode == "verify-ca" || mode == "verify-full")) {
    throw ConfigError(field + ".insecure_skip_verify",
                      "contradicts sslmode=" + mode + " in the url");
  }
  if (mode == "disable" || mode == "allow" || mode == "prefer") {
    throw ConfigError(field, "the url says sslmode=" + mode + ": drop it, or the tls object");
  }
  if (!tls.insecure_skip_verify) {
    const std::string ca =
        tls.ca_file.empty() && dsn->Param("sslrootcert").empty() ? SystemCaBundle() : tls.ca_file;
    set("sslrootcert", ca, "ca_file");
  }
  set("sslcert", tls.cert_file, "cert_file");
  set("sslkey", tls.key_file, "key_file");
  if (mode.empty()) {
    dsn->params.emplace_back("sslmode", tls.insecure_skip_verify ? "require" : "verify-full");
  }
}

}  // namespace vigil
