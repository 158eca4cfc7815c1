// TLS for the checks, on vigil's own non-blocking socket: the handshake,
// every read and every write poll against the run's one absolute deadline,
// as plain TCP does (checks/common/net.h). OpenSSL does the cryptography
// (checks/common/tls_context.h); the socket, the waiting and the deadline
// stay ours. A check's `tls` object: checks/common/tls_config.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "checks/check.h"
#include "checks/common/tls_config.h"
#include "checks/common/tls_context.h"

namespace vigil {

// The reason text of a run whose deadline ran out inside the handshake. The
// result is a timeout (CheckResult::timed_out), which the scheduler words
// "timeout after N ms (handshake timeout)".
inline constexpr char kHandshakeTimeout[] = "handshake timeout";
CheckResult HandshakeTimeoutResult();

enum class StreamStatus { kOk, kEof, kTimeout, kError };

struct StreamResult {
  StreamStatus status = StreamStatus::kError;
  size_t bytes = 0;   // read by Read
  std::string error;  // one line, when kError
  int sys_errno = 0;  // the socket's errno behind a kError, when there is one
  // On kError: kTls when TLS itself failed (handshake, verification, an
  // alert), kOther for the socket underneath.
  FailureKind kind = FailureKind::kOther;
};

// A connected non-blocking socket, plain or TLS after StartTls. Owns the fd.
class Stream {
 public:
  Stream() = default;
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // Takes a connected non-blocking socket (closing any previous one).
  void Attach(int fd);
  void Close();
  bool is_open() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool is_tls() const { return ssl_ != nullptr; }

  // Client handshake before the deadline, verifying the peer as `tls` says
  // against tls.server_name or else `host`. kTimeout (error
  // kHandshakeTimeout) at the deadline; kError with TlsFailureReason.
  StreamResult StartTls(const TlsConfig& tls, const std::string& host, Deadline deadline);

  // Writes all of `data` before the deadline.
  StreamResult Write(const char* data, size_t len, Deadline deadline);
  // Reads what is there (waiting until the deadline for something): kOk with
  // bytes > 0, kEof when the peer closed.
  StreamResult Read(char* buf, size_t cap, Deadline deadline);

  // notAfter of the leaf certificate the peer presented (Unix seconds).
  std::optional<int64_t> peer_not_after() const { return peer_not_after_; }

 private:
  // TLS 1.3 servers judge the client's certificate after the client has
  // finished its handshake: wait briefly for that verdict when the server
  // asked for a certificate and none was sent.
  StreamResult AwaitCertificateVerdict(Deadline deadline);

  int fd_ = -1;
  SSL* ssl_ = nullptr;
  bool cert_requested_ = false;  // the server asked for a client certificate
  std::optional<int64_t> peer_not_after_;
};

}  // namespace vigil
