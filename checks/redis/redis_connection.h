// One RESP connection to a Redis server or Sentinel, every step bound to an
// absolute deadline.
//
// hiredis 0.14 has no deadline-aware API: its blocking calls take a relative
// timeout per read, and its context writes with write(), which raises SIGPIPE
// on a socket the server has closed. So the socket is ours (checks/common/net.h
// connects it, send(MSG_NOSIGNAL) writes it, poll() waits on it) and hiredis
// only parses replies (its redisReader). With TLS (rediss://) the same
// socket carries the TLS session (checks/common/tls.h), kept with the connection.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "checks/check.h"
#include "checks/common/net.h"
#include "checks/common/tls.h"

struct redisReader;

namespace vigil {

struct RedisReply {
  enum class Type { kStatus, kError, kString, kInteger, kNil, kArray };
  Type type = Type::kNil;
  std::string str;  // status, error or bulk string
  long long integer = 0;
  std::vector<RedisReply> elements;

  bool IsError() const { return type == Type::kError; }
  // The error's first word: "WRONGPASS" of "WRONGPASS invalid username...".
  std::string ErrorCode() const;
  // What an error reply means for vigil_check_failures_total: LOADING ->
  // loading, NOAUTH/WRONGPASS/NOPERM -> auth, READONLY -> readonly, OOM ->
  // oom, anything else -> other.
  FailureKind ErrorKind() const;
};

// A hiredis reader with its own reply objects that refuses arrays over 1024
// elements (hiredis 0.14 would allocate an announced billion at once).
// Free with redisReaderFree.
redisReader* CreateBoundedReader();

enum class IoStatus { kOk, kTimeout, kError };

struct IoResult {
  IoStatus status = IoStatus::kError;
  std::string error;                       // one line, when status == kError
  FailureKind kind = FailureKind::kOther;  // kProtocol for a reply that does not parse
};

class RedisConnection {
 public:
  RedisConnection() = default;
  ~RedisConnection();
  RedisConnection(const RedisConnection&) = delete;
  RedisConnection& operator=(const RedisConnection&) = delete;

  // TLS on every connection from now on (rediss://), verifying `host` of
  // Connect unless tls.server_name says otherwise.
  void UseTls(TlsConfig tls) { tls_ = std::move(tls); }

  // Resolves and connects before the deadline; closes any previous socket.
  // With TLS the handshake too: a deadline inside it is kTimeout with the
  // error kHandshakeTimeout; a failed one kError with the TLS reason.
  NetResult Connect(const std::string& host, int port, Deadline deadline);

  // Sends `commands` in one write (a pipeline) and reads one reply for each,
  // all before the deadline. On kError or kTimeout the connection is out of
  // step with the server: close it.
  IoResult Exchange(const std::vector<std::vector<std::string>>& commands, Deadline deadline,
                    std::vector<RedisReply>* replies);

  void Close();
  bool connected() const { return stream_.is_open(); }
  int fd() const { return stream_.fd(); }
  // notAfter of the server's certificate on this TLS connection.
  std::optional<int64_t> tls_not_after() const { return stream_.peer_not_after(); }

 private:
  Stream stream_;
  std::optional<TlsConfig> tls_;
  redisReader* reader_ = nullptr;
};

}  // namespace vigil
