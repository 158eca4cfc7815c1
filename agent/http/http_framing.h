// Request framing for the reactor (agent/reactor.h): decides whether the
// buffer holds a complete and acceptable request head, picks out the few
// fields the Api needs, and refuses malformed, oversized or non-HTTP input
// with the right status.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "agent/http/http_message.h"
#include "agent/http/server.h"

namespace vigil {

enum class Frame { kNeedMore, kReady, kRefuse };

struct Framed {
  Frame frame = Frame::kNeedMore;
  int status = 0;        // kRefuse: the 4xx/5xx to answer
  const char* why = "";  // kRefuse: the error text
  size_t head_len = 0;   // kReady: request line, headers and the blank line
  size_t body_len = 0;   // kReady: Content-Length, or the chunked body's bytes
  // kReady: views into the buffer given to FrameRequest, valid until it
  // changes. Headers the Api does not read are checked, then ignored.
  std::string_view method;
  std::string_view target;
  std::string_view accept;
  std::string_view authorization;
  bool http10 = false;
  bool connection_close = false;       // "Connection: close"
  bool connection_keep_alive = false;  // "Connection: keep-alive" (HTTP/1.0)
  // kReady, or kNeedMore once the head is complete: "Expect: 100-continue"
  // on an HTTP/1.1 request whose body is still to come (head_len is set).
  bool expect_continue = false;
};

// Is a complete, acceptable request (head and body) at the start of `in`
// yet? A chunked body is read (at most max_body_bytes of it as sent) and
// skipped like a Content-Length one.
Framed FrameRequest(const std::string& in, const ServerLimits& limits);

}  // namespace vigil
