#include "tests/support/tls_redis.h"

#include "tests/support/ports.h"

namespace vigil::testing {

TlsRedis::TlsRedis(const TestCa& ca, const CertFiles& cert, const std::string& auth_clients)
    : tls_port(FreePort()),
      server({"--tls-port", std::to_string(tls_port), "--tls-cert-file", cert.cert,
              "--tls-key-file", cert.key, "--tls-ca-cert-file", ca.cert(), "--tls-auth-clients",
              auth_clients}) {}

std::string TlsRedis::Url(const std::string& host) const {
  return "rediss://" + host + ":" + std::to_string(tls_port);
}

std::vector<std::string> SentinelTlsConf(int tls_port, const CertFiles& cert, const TestCa& ca) {
  return {"tls-port " + std::to_string(tls_port),
          "tls-cert-file " + cert.cert,
          "tls-key-file " + cert.key,
          "tls-ca-cert-file " + ca.cert(),
          "tls-replication yes",
          "tls-auth-clients no"};
}

}  // namespace vigil::testing
