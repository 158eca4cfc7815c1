#include "checks/common/tls.h"

#include <arpa/inet.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <nlohmann/json.hpp>

#include "checks/common/net.h"

namespace vigil {
namespace {

bool IsIpAddress(const std::string& s) {
  unsigned char buf[sizeof(in6_addr)];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
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

}  // namespace

CheckResult HandshakeTimeoutResult() {
  CheckResult r = CheckResult::Fail(FailureKind::kTimeout, kHandshakeTimeout);
  r.timed_out = true;
  return r;
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
  SslCtxPtr ctx = MakeTlsContext(tls, &error);
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
