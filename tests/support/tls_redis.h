// redis-server and redis-sentinel speaking TLS with certificates made by the
// test (tests/support/tls_certs.h).
#pragma once

#include <string>
#include <vector>

#include "tests/support/redis_server.h"
#include "tests/support/tls_certs.h"

namespace vigil::testing {

// A redis-server with its plain port (for the helper connection Command()
// uses) and a TLS port presenting `cert`, trusting `ca` for client
// certificates; `auth_clients` is --tls-auth-clients (no, optional, yes).
// Starts.
struct TlsRedis {
  TlsRedis(const TestCa& ca, const CertFiles& cert, const std::string& auth_clients = "no");

  // rediss://HOST:TLS_PORT
  std::string Url(const std::string& host = "localhost") const;

  int tls_port;
  RedisServer server;
};

// sentinel.conf lines (for SentinelServer's extra_conf) that make a sentinel
// speak TLS on `tls_port` with `cert` and to its master over TLS, without
// asking clients for certificates.
std::vector<std::string> SentinelTlsConf(int tls_port, const CertFiles& cert, const TestCa& ca);

}  // namespace vigil::testing
