// TLS for the checks, on vigil's own non-blocking socket: the handshake,
// every read and every write poll against the run's one absolute deadline,
// as plain TCP does (checks/net.h). OpenSSL does the cryptography; the
// socket, the waiting and the deadline stay ours.
//
// A check's `tls` object (README "TLS", docs/tls.md):
//   ca_file               PEM bundle to verify the server with (default: the
//                         system store)
//   server_name           SNI and the name verified (default: the URL's host;
//                         an IP address is verified as an address)
//   cert_file, key_file   a client certificate, both or neither
//   insecure_skip_verify  no chain or name verification (default false)
// Files are checked when the config is read and read again on every new
// connection, so a rotated certificate is picked up on the next reconnect.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "checks/check.h"
#include "checks/registry.h"

typedef struct ssl_st SSL;
typedef struct x509_st X509;

namespace vigil {

struct TlsConfig {
  std::string ca_file;      // empty: the system store
  std::string server_name;  // empty: the host the check connects to
  std::string cert_file;    // with key_file: a client certificate
  std::string key_file;
  bool insecure_skip_verify = false;
};

// The keys of the `tls` object.
inline constexpr const char* kTlsKey = "tls";

// The check's `tls` object, validated: unknown keys refused, files readable
// PEM, cert_file and key_file together and matching. nullopt when the check
// has none. Throws ConfigError ("checks[2].tls.ca_file: cannot read /x: No
// such file or directory").
std::optional<TlsConfig> ParseTlsConfig(const CheckSpec& spec);

// The reason text of a run whose deadline ran out inside the handshake. The
// result is a timeout (CheckResult::timed_out), which the scheduler words
// "timeout after N ms (handshake timeout)".
inline constexpr char kHandshakeTimeout[] = "handshake timeout";
CheckResult HandshakeTimeoutResult();

// The once-only log note of a check that does not verify its peer.
inline constexpr char kInsecureNote[] =
    "TLS certificate verification is off (insecure_skip_verify)";

// Gives the insecure note once, on the first run that does not fail: as the
// reason of a pass (the agent logs such a reason as a note) or after the
// reason of a warn. *noted remembers it.
void NoteInsecureOnce(const TlsConfig& tls, bool* noted, CheckResult* result);

// notAfter of a certificate as Unix seconds; nullopt when unreadable.
std::optional<int64_t> CertNotAfter(const X509* cert);

// The reason a TLS operation failed, from the OpenSSL error queue and the
// verify result of `ssl` (may be null): "host name mismatch", "certificate
// has expired", "certificate verify failed: unable to get local issuer
// certificate", "client certificate required", "TLS handshake failed: wrong
// version number". Clears the error queue.
std::string TlsFailureReason(SSL* ssl, int ssl_error, const char* during);

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
