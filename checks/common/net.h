// Network primitives that honour an absolute deadline: name resolution and a
// non-blocking TCP connect. Names resolve through the running check's own
// CheckDns (checks/common/dns.h): non-blocking c-ares lookups polled on the check's
// thread, nothing shared with other checks.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>
#include <vector>

#include "checks/check.h"

namespace vigil {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
  std::string ToString() const;  // "1.2.3.4:5" or "[::1]:5"
};

enum class NetStatus { kOk, kTimeout, kError };

struct NetResult {
  NetStatus status = NetStatus::kError;
  std::string error;  // one line, when status != kOk
  // On kError: kDns for a name that did not resolve, kRefused for a
  // connection that could not be made, kOther otherwise.
  FailureKind kind = FailureKind::kOther;
};

// Resolves host:port before `deadline`. A numeric address is parsed in place,
// never looked up. A name that does not resolve fails fast with the
// resolver's own words; a resolver that does not answer yields kTimeout at
// the deadline. During a check's run, the check's old addresses may stand in
// for a failing lookup (CheckDns::Resolve).
NetResult Resolve(const std::string& host, int port, Deadline deadline, std::vector<Endpoint>* out);

// Non-blocking connect to the first endpoint that accepts before `deadline`.
// On success *fd is a connected, non-blocking socket with TCP_NODELAY.
NetResult ConnectTcp(const std::vector<Endpoint>& endpoints, Deadline deadline, int* fd);

// Resolve + connect.
NetResult ConnectTcp(const std::string& host, int port, Deadline deadline, int* fd);

// Waits for `events` (POLLIN/POLLOUT) on fd until the deadline.
// kOk when ready, kTimeout at the deadline, kError on poll failure/hang-up.
NetResult WaitFd(int fd, short events, Deadline deadline);

// Between requests, on a kept connection whose protocol sends nothing
// unasked (Redis): true when the peer closed it, it failed, or bytes wait
// that nobody asked for. Never blocks.
bool IdleSocketLost(int fd);

// The peer closed its side of `fd` or it failed (EOF waiting, RST, an
// error); bytes waiting are not a close. Never blocks.
bool PeerClosed(int fd);

// Splits "host:port" / "[v6]:port". False on a malformed address.
bool SplitHostPort(const std::string& address, std::string* host, int* port);

}  // namespace vigil
