#include "checks/common/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cerrno>
#include <cstring>
#include <ctime>

namespace vigil {
namespace {

// An encrypted key would make OpenSSL ask for a passphrase on the terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

// Called when the server asks for a client certificate and the context has
// none: noted (see Stream::AwaitCertificateVerdict), and none is sent.
int NoClientCertificate(SSL* ssl, X509**, EVP_PKEY**) {
  if (auto* requested = static_cast<bool*>(SSL_get_app_data(ssl))) *requested = true;
  return 0;
}

// The first OpenSSL error's reason, "wrong version number"; "" when none.
std::string OpenSslReason(unsigned long e) {
  if (e == 0) return {};
  const char* r = ERR_reason_error_string(e);
  if (r != nullptr) return r;
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

// The system CA store (Debian: /usr/lib/ssl/cert.pem, some 140 roots),
// parsed once and shared by every connection that uses it: a store per
// connection would hold its own copy of every root for as long as the
// connection is kept. X509_STORE locks itself for concurrent verifications.
X509_STORE* SystemStore() {
  static X509_STORE* const store = [] {
    X509_STORE* s = X509_STORE_new();
    if (s != nullptr && X509_STORE_set_default_paths(s) != 1) {
      X509_STORE_free(s);
      s = nullptr;
    }
    ERR_clear_error();
    return s;
  }();
  return store;
}

}  // namespace

void SslCtxFree::operator()(SSL_CTX* ctx) const { SSL_CTX_free(ctx); }

SslCtxPtr MakeTlsContext(const TlsConfig& tls, std::string* error) {
  SslCtxPtr ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) {
    *error = "TLS: cannot create context: " + OpenSslReason(ERR_get_error());
    return nullptr;
  }
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // Many servers close without close_notify; the protocols checked here
  // frame their own messages, so a bare close is an end of stream.
  SSL_CTX_set_options(ctx.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_default_passwd_cb(ctx.get(), NoPassphrase);
  if (!tls.insecure_skip_verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    X509_STORE* system = tls.ca_file.empty() ? SystemStore() : nullptr;
    if (system != nullptr) SSL_CTX_set1_cert_store(ctx.get(), system);
    const int ok = tls.ca_file.empty()
                       ? (system != nullptr ? 1 : 0)
                       : SSL_CTX_load_verify_locations(ctx.get(), tls.ca_file.c_str(), nullptr);
    if (ok != 1) {
      *error = "TLS: cannot load " + (tls.ca_file.empty() ? "the system CA store" : tls.ca_file) +
               ": " + OpenSslReason(ERR_get_error());
      ERR_clear_error();
      return nullptr;
    }
  }
  if (tls.cert_file.empty()) {
    SSL_CTX_set_client_cert_cb(ctx.get(), NoClientCertificate);
  } else {
    if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx.get()) != 1) {
      *error = "TLS: cannot load the client certificate " + tls.cert_file + ": " +
               OpenSslReason(ERR_get_error());
      ERR_clear_error();
      return nullptr;
    }
  }
  return ctx;
}

std::optional<int64_t> CertNotAfter(const X509* cert) {
  if (cert == nullptr) return std::nullopt;
  const ASN1_TIME* t = X509_get0_notAfter(cert);
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return static_cast<int64_t>(timegm(&tm));
}

std::string TlsFailureReason(SSL* ssl, int ssl_error, const char* during) {
  const int saved_errno = errno;
  const unsigned long e = ERR_peek_error();
  const long verify = ssl != nullptr ? SSL_get_verify_result(ssl) : X509_V_OK;
  const int lib = ERR_GET_LIB(e);
  const int reason = ERR_GET_REASON(e);
  ERR_clear_error();
  const std::string failed = std::string("TLS ") + during + " failed: ";

  if (lib == ERR_LIB_SSL && reason == SSL_R_CERTIFICATE_VERIFY_FAILED && verify != X509_V_OK) {
    switch (verify) {
      case X509_V_ERR_HOSTNAME_MISMATCH:
      case X509_V_ERR_IP_ADDRESS_MISMATCH:
        return "host name mismatch";
      case X509_V_ERR_CERT_HAS_EXPIRED:
        return "certificate has expired";
      default:
        return std::string("certificate verify failed: ") + X509_verify_cert_error_string(verify);
    }
  }
  if (lib == ERR_LIB_SSL) {
    switch (reason) {
      case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
        return "client certificate required";
      case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
      case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
      case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE:
        return "client certificate refused by the server: " + OpenSslReason(e);
      case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE:
        // TLS 1.2 servers say this when a required client certificate is
        // missing, and for other mismatches (no common cipher) alike.
        if (ssl != nullptr && SSL_get_certificate(ssl) == nullptr) {
          return failed +
                 "handshake failure alert from the server (it may require a client "
                 "certificate: none was sent)";
        }
        break;
      default:
        break;
    }
  }
  if (e != 0) return failed + OpenSslReason(e);
  if (ssl_error == SSL_ERROR_ZERO_RETURN || (ssl_error == SSL_ERROR_SYSCALL && saved_errno == 0)) {
    return failed + "connection closed by the server";
  }
  if (ssl_error == SSL_ERROR_SYSCALL) return failed + std::strerror(saved_errno);
  return failed + "error " + std::to_string(ssl_error);
}

}  // namespace vigil
