// OpenSSL's side of a check's TLS connection: the context a connection is
// made with (CA store, verification, client certificate), the leaf
// certificate's expiry, and the one-line reason of a failure. The socket,
// the handshake and the waiting are checks/common/tls.h's.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "checks/common/tls_config.h"

typedef struct ssl_st SSL;
typedef struct ssl_ctx_st SSL_CTX;
typedef struct x509_st X509;

namespace vigil {

struct SslCtxFree {
  void operator()(SSL_CTX* ctx) const;
};
using SslCtxPtr = std::unique_ptr<SSL_CTX, SslCtxFree>;

// The context for one connection: built afresh on every connect so that a
// rotated CA bundle or client certificate counts from the next one. With no
// client certificate configured, a server that asks for one sets the bool
// that the SSL's app data points to (if any), and none is sent. nullptr and
// *error ("TLS: cannot load /x: ...") when it cannot be made.
SslCtxPtr MakeTlsContext(const TlsConfig& tls, std::string* error);

// notAfter of a certificate as Unix seconds; nullopt when unreadable.
std::optional<int64_t> CertNotAfter(const X509* cert);

// The reason a TLS operation failed, from the OpenSSL error queue and the
// verify result of `ssl` (may be null): "host name mismatch", "certificate
// has expired", "certificate verify failed: unable to get local issuer
// certificate", "client certificate required", "TLS handshake failed: wrong
// version number". Clears the error queue.
std::string TlsFailureReason(SSL* ssl, int ssl_error, const char* during);

}  // namespace vigil
