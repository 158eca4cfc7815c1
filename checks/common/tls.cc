#include "checks/common/tls.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/common/net.h"

namespace vigil {
namespace {

const std::vector<std::string> kTlsKeys = {"ca_file", "cert_file", "key_file", "server_name",
                                           "insecure_skip_verify"};
constexpr size_t kMaxPemBytes = 4 << 20;  // a CA bundle is a few hundred KiB

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
struct CtxFree {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using CtxPtr = std::unique_ptr<SSL_CTX, CtxFree>;

// An encrypted key would make OpenSSL ask for a passphrase on the terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

// The file's bytes; throws ConfigError(field, "cannot read PATH: why").
std::string ReadPemFile(const std::string& path, const std::string& field) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) throw ConfigError(field, "cannot read " + path + ": " + std::strerror(errno));
  std::string data;
  char buf[16384];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) {
    data.append(buf, n);
    if (data.size() > kMaxPemBytes) {
      std::fclose(f);
      throw ConfigError(field, "cannot read " + path + ": larger than 4 MiB");
    }
  }
  const bool failed = std::ferror(f) != 0;
  const int err = errno;
  std::fclose(f);
  if (failed) throw ConfigError(field, "cannot read " + path + ": " + std::strerror(err));
  return data;
}

BioPtr MemBio(const std::string& data) {
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

// The certificates of a PEM file (at least one), else ConfigError.
std::vector<X509Ptr> LoadCerts(const std::string& path, const std::string& field) {
  const std::string data = ReadPemFile(path, field);
  BioPtr bio = MemBio(data);
  std::vector<X509Ptr> certs;
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, NoPassphrase, nullptr)) {
    certs.emplace_back(x);
  }
  ERR_clear_error();
  if (certs.empty()) throw ConfigError(field, "no PEM certificate in " + path);
  return certs;
}

PkeyPtr LoadKey(const std::string& path, const std::string& field) {
  const std::string data = ReadPemFile(path, field);
  BioPtr bio = MemBio(data);
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  ERR_clear_error();
  if (!key) {
    throw ConfigError(field,
                      "no PEM private key in " + path + " (encrypted keys are not supported)");
  }
  return key;
}

bool IsIpAddress(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

std::string ShortKey(const std::string& key) {
  return key.size() > 64 ? key.substr(0, 64) + "..." : key;
}

// Our socket under OpenSSL: send(MSG_NOSIGNAL) so that a peer gone away
// never raises SIGPIPE (`vigil check` and the tests do not ignore it), and
// EAGAIN as "retry", which the Stream turns into a poll against the deadline.
int BioWrite(BIO* b, const char* data, int len) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
  BIO_clear_retry_flags(b);
  ssize_t n = send(fd, data, static_cast<size_t>(len), MSG_NOSIGNAL);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_write(b);
  return static_cast<int>(n);
}

int BioRead(BIO* b, char* buf, int len) {
  const int fd = static_cast<int>(reinterpret_cast<intptr_t>(BIO_get_data(b)));
  BIO_clear_retry_flags(b);
  ssize_t n = recv(fd, buf, static_cast<size_t>(len), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) BIO_set_retry_read(b);
  return static_cast<int>(n);
}

// Called when the server asks for a client certificate and the context has
// none: noted (see Stream::AwaitCertificateVerdict), and none is sent.
int NoClientCertificate(SSL* ssl, X509**, EVP_PKEY**) {
  if (auto* requested = static_cast<bool*>(SSL_get_app_data(ssl))) *requested = true;
  return 0;
}

// How long a new connection waits for a TLS 1.3 server's verdict on a
// missing client certificate (servers that accept without one say nothing).
constexpr auto kCertificateVerdictWait = std::chrono::milliseconds(200);

long BioCtrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }

int BioCreate(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

BIO* SocketBio(int fd) {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "vigil socket");
    BIO_meth_set_write(m, BioWrite);
    BIO_meth_set_read(m, BioRead);
    BIO_meth_set_ctrl(m, BioCtrl);
    BIO_meth_set_create(m, BioCreate);
    return m;
  }();
  BIO* b = BIO_new(method);
  if (b != nullptr) BIO_set_data(b, reinterpret_cast<void*>(static_cast<intptr_t>(fd)));
  return b;
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

// The context for one connection: built afresh on every connect so that a
// rotated CA bundle or client certificate counts from the next one.
CtxPtr MakeContext(const TlsConfig& tls, std::string* error) {
  CtxPtr ctx(SSL_CTX_new(TLS_client_method()));
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

}  // namespace

std::optional<TlsConfig> ParseTlsConfig(const CheckSpec& spec) {
  auto it = spec.json.find(kTlsKey);
  if (it == spec.json.end()) return std::nullopt;
  const std::string path = spec.Field(kTlsKey);
  if (!it->is_object()) throw ConfigError(path, "must be an object");
  for (auto k = it->begin(); k != it->end(); ++k) {
    bool known = false;
    for (const auto& allowed : kTlsKeys) known = known || k.key() == allowed;
    if (!known) throw ConfigError(path + "." + ShortKey(k.key()), "unknown key");
  }
  auto str = [&](const char* key) -> std::string {
    auto v = it->find(key);
    if (v == it->end()) return {};
    if (!v->is_string()) throw ConfigError(path + "." + key, "must be a string");
    if (v->get_ref<const std::string&>().empty())
      throw ConfigError(path + "." + key, "must not be empty");
    return v->get<std::string>();
  };
  TlsConfig tls;
  tls.ca_file = str("ca_file");
  tls.server_name = str("server_name");
  tls.cert_file = str("cert_file");
  tls.key_file = str("key_file");
  auto insecure = it->find("insecure_skip_verify");
  if (insecure != it->end()) {
    if (!insecure->is_boolean()) {
      throw ConfigError(path + ".insecure_skip_verify", "must be true or false");
    }
    tls.insecure_skip_verify = insecure->get<bool>();
  }

  if (!tls.server_name.empty()) {
    bool ok = tls.server_name.size() <= 253;
    for (unsigned char c : tls.server_name)
      ok = ok && (std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':');
    if (!ok) throw ConfigError(path + ".server_name", "want a host name or an IP address");
  }
  if (!tls.ca_file.empty()) LoadCerts(tls.ca_file, path + ".ca_file");
  if (tls.cert_file.empty() != tls.key_file.empty()) {
    throw ConfigError(
        path + (tls.cert_file.empty() ? ".cert_file" : ".key_file"),
        tls.cert_file.empty() ? "missing (key_file is set)" : "missing (cert_file is set)");
  }
  if (!tls.cert_file.empty()) {
    std::vector<X509Ptr> chain = LoadCerts(tls.cert_file, path + ".cert_file");
    PkeyPtr key = LoadKey(tls.key_file, path + ".key_file");
    const bool match = X509_check_private_key(chain.front().get(), key.get()) == 1;
    ERR_clear_error();
    if (!match) throw ConfigError(path + ".key_file", "does not match cert_file");
  }
  return tls;
}

CheckResult HandshakeTimeoutResult() {
  CheckResult r = CheckResult::Fail(FailureKind::kTimeout, kHandshakeTimeout);
  r.timed_out = true;
  return r;
}

void NoteInsecureOnce(const TlsConfig& tls, bool* noted, CheckResult* result) {
  if (!tls.insecure_skip_verify || *noted || result->outcome == Outcome::kFail) return;
  *noted = true;
  if (result->reason.empty()) {
    result->reason = kInsecureNote;
  } else {
    result->reason += std::string("; ") + kInsecureNote;
  }
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

Stream::~Stream() { Close(); }

void Stream::Attach(int fd) {
  Close();
  fd_ = fd;
}

void Stream::Close() {
  if (ssl_ != nullptr) {
    // One polite close_notify, never waited for.
    if (SSL_is_init_finished(ssl_)) SSL_shutdown(ssl_);
    SSL_free(ssl_);
    ERR_clear_error();
  }
  ssl_ = nullptr;
  if (fd_ >= 0) close(fd_);
  fd_ = -1;
  peer_not_after_.reset();
}

StreamResult Stream::StartTls(const TlsConfig& tls, const std::string& host, Deadline deadline) {
  if (fd_ < 0) return {StreamStatus::kError, 0, "not connected", 0};
  if (ssl_ != nullptr) return {StreamStatus::kOk, 0, {}, 0};
  ERR_clear_error();
  std::string error;
  CtxPtr ctx = MakeContext(tls, &error);
  if (!ctx) return {StreamStatus::kError, 0, error, 0, FailureKind::kTls};
  ssl_ = SSL_new(ctx.get());  // holds its own reference to the context
  BIO* bio = ssl_ != nullptr ? SocketBio(fd_) : nullptr;
  if (bio == nullptr) {
    return {StreamStatus::kError, 0, "TLS: out of memory", 0};
  }
  SSL_set_bio(ssl_, bio, bio);
  cert_requested_ = false;
  SSL_set_app_data(ssl_, &cert_requested_);
  const std::string& name = tls.server_name.empty() ? host : tls.server_name;
  if (IsIpAddress(name)) {
    // No SNI for an address (RFC 6066); verified against the IP SANs.
    if (!tls.insecure_skip_verify)
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl_), name.c_str());
  } else {
    SSL_set_tlsext_host_name(ssl_, name.c_str());
    if (!tls.insecure_skip_verify) {
      X509_VERIFY_PARAM_set_hostflags(SSL_get0_param(ssl_), X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
      SSL_set1_host(ssl_, name.c_str());
    }
  }

  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int rc = SSL_connect(ssl_);
    if (rc == 1) break;
    const int err = SSL_get_error(ssl_, rc);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
      NetResult w = WaitFd(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, deadline);
      if (w.status == NetStatus::kTimeout) return {StreamStatus::kTimeout, 0, kHandshakeTimeout, 0};
      if (w.status != NetStatus::kOk) {
        return {StreamStatus::kError, 0, "TLS handshake failed: " + w.error, 0, FailureKind::kTls};
      }
      continue;
    }
    const int saved = errno;
    return {StreamStatus::kError, 0, TlsFailureReason(ssl_, err, "handshake"), saved,
            FailureKind::kTls};
  }
  X509* peer = SSL_get1_peer_certificate(ssl_);
  peer_not_after_ = CertNotAfter(peer);
  X509_free(peer);
  if (cert_requested_ && SSL_version(ssl_) == TLS1_3_VERSION)
    return AwaitCertificateVerdict(deadline);
  return {StreamStatus::kOk, 0, {}, 0};
}

StreamResult Stream::AwaitCertificateVerdict(Deadline deadline) {
  // Sending the first command now would race the server's alert: it closes
  // with the command unread, the kernel answers with a reset, and the alert
  // that says why is lost with it.
  const Deadline until = std::min(deadline, Clock::now() + kCertificateVerdictWait);
  for (;;) {
    ERR_clear_error();
    errno = 0;
    char c;
    const int n = SSL_peek(ssl_, &c, 1);
    if (n > 0) return {StreamStatus::kOk, 0, {}, 0};
    const int err = SSL_get_error(ssl_, n);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      const int saved = errno;
      std::string why = TlsFailureReason(ssl_, err, "handshake");
      if (why.find("connection closed") != std::string::npos) {
        why = "client certificate required (the server closed the connection: none was sent)";
      }
      return {StreamStatus::kError, 0, why, saved, FailureKind::kTls};
    }
    NetResult w = WaitFd(fd_, err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, until);
    if (w.status == NetStatus::kTimeout) {
      if (Clock::now() >= deadline) return {StreamStatus::kTimeout, 0, kHandshakeTimeout, 0};
      return {StreamStatus::kOk, 0, {}, 0};  // no objection: optional certificate
    }
    if (w.status != NetStatus::kOk) {
      return {StreamStatus::kError, 0, w.error, 0, FailureKind::kTls};
    }
  }
}

StreamResult Stream::Write(const char* data, size_t len, Deadline deadline) {
  if (fd_ < 0) return {StreamStatus::kError, 0, "not connected", 0};
  size_t sent = 0;
  while (sent < len) {
    short wait_for = POLLOUT;
    if (ssl_ == nullptr) {
      ssize_t n = send(fd_, data + sent, len - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (!(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))) {
        const int saved = errno;
        return {StreamStatus::kError, 0, std::string("send: ") + std::strerror(saved), saved};
      }
    } else {
      ERR_clear_error();
      errno = 0;
      // The same arguments again after a WANT_*: OpenSSL's rule for retries.
      const int chunk = static_cast<int>(std::min<size_t>(len - sent, 1 << 30));
      const int n = SSL_write(ssl_, data + sent, chunk);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      const int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_WANT_READ) {
        wait_for = POLLIN;
      } else if (err != SSL_ERROR_WANT_WRITE) {
        const int saved = errno;
        if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0 && saved != 0) {
          ERR_clear_error();
          return {StreamStatus::kError, 0, std::string("send: ") + std::strerror(saved), saved};
        }
        return {StreamStatus::kError, 0, TlsFailureReason(ssl_, err, "write"), saved,
                FailureKind::kTls};
      }
    }
    NetResult w = WaitFd(fd_, wait_for, deadline);
    if (w.status == NetStatus::kTimeout) return {StreamStatus::kTimeout, 0, {}, 0};
    if (w.status != NetStatus::kOk) return {StreamStatus::kError, 0, w.error, 0};
  }
  return {StreamStatus::kOk, 0, {}, 0};
}

StreamResult Stream::Read(char* buf, size_t cap, Deadline deadline) {
  if (fd_ < 0) return {StreamStatus::kError, 0, "not connected", 0};
  for (;;) {
    short wait_for = POLLIN;
    if (ssl_ == nullptr) {
      ssize_t n = recv(fd_, buf, cap, 0);
      if (n > 0) return {StreamStatus::kOk, static_cast<size_t>(n), {}, 0};
      if (n == 0) return {StreamStatus::kEof, 0, {}, 0};
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) {
        const int saved = errno;
        return {StreamStatus::kError, 0, std::string("recv: ") + std::strerror(saved), saved};
      }
    } else {
      // SSL_read first: a record may already sit decrypted in OpenSSL's
      // buffer while the socket has nothing more to say.
      ERR_clear_error();
      errno = 0;
      const int want = static_cast<int>(std::min<size_t>(cap, 1 << 30));
      const int n = SSL_read(ssl_, buf, want);
      if (n > 0) return {StreamStatus::kOk, static_cast<size_t>(n), {}, 0};
      const int err = SSL_get_error(ssl_, n);
      if (err == SSL_ERROR_ZERO_RETURN) return {StreamStatus::kEof, 0, {}, 0};
      if (err == SSL_ERROR_WANT_WRITE) {
        wait_for = POLLOUT;
      } else if (err != SSL_ERROR_WANT_READ) {
        const int saved = errno;
        if (err == SSL_ERROR_SYSCALL && ERR_peek_error() == 0) {
          if (saved == 0) return {StreamStatus::kEof, 0, {}, 0};
          return {StreamStatus::kError, 0, std::string("recv: ") + std::strerror(saved), saved};
        }
        return {StreamStatus::kError, 0, TlsFailureReason(ssl_, err, "read"), saved,
                FailureKind::kTls};
      }
    }
    NetResult w = WaitFd(fd_, wait_for, deadline);
    if (w.status == NetStatus::kTimeout) return {StreamStatus::kTimeout, 0, {}, 0};
    if (w.status != NetStatus::kOk) return {StreamStatus::kError, 0, w.error, 0};
  }
}

}  // namespace vigil
