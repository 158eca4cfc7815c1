// The HTTP client of `vigil probe`: one blocking GET over plain http, in
// vigil's own code (checks/common/net.h to connect, checks/http/http_response.h
// to read the answer), so the daemon links no HTTP client library.
//
// What it sends, byte for byte:
//   GET <path> HTTP/1.1
//   Accept: */*
//   Connection: close
//   Host: <host>[:<port>]      (the port left out when it is 80)
//   User-Agent: vigil-probe
// The path has spaces, '+', ',', ';', '\'', CR, LF and bytes over 0x7F
// percent-encoded. Redirects are not followed; the body is read (at most
// 64 KiB) and dropped. One deadline covers the whole request.
#pragma once

#include <string>

namespace vigil {

// A probe URL split into what the request needs. `authority` is everything
// between "http://" and the path; `path` starts with '/'.
struct ProbeTarget {
  std::string host;  // an IPv6 address without its brackets
  int port = 80;
  std::string path = "/";
};

// Splits the authority of an http URL: "host", "host:port", "[v6]" or
// "[v6]:port" (digits and colons only inside the brackets). False for
// anything else (user info, an empty host, a port that is not a number):
// such a host cannot be reached.
bool ParseProbeAuthority(const std::string& authority, ProbeTarget* target);

// Why a probe got no answer.
enum class ProbeFailure {
  kNone,
  kConnect,         // refused, unreachable, no such host
  kConnectTimeout,  // no connection before the deadline
  kWrite,           // the request could not be sent
  kRead,            // no complete answer before the deadline, or the connection closed
};

struct ProbeAnswer {
  ProbeFailure failure = ProbeFailure::kNone;
  int status = 0;  // with kNone: the response's status code
};

// GETs the target, the whole exchange within timeout_ms.
ProbeAnswer ProbeGet(const ProbeTarget& target, int timeout_ms);

}  // namespace vigil
