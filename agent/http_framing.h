// Request framing for agent/server.cc: decides, before cpp-httplib sees a
// byte, whether the buffer holds a complete and acceptable request head, and
// refuses malformed, oversized or non-HTTP input with the right status.
#pragma once

#include <cstddef>
#include <string>

#include "agent/server.h"

namespace vigil {

enum class Frame { kNeedMore, kReady, kRefuse };

struct Framed {
  Frame frame = Frame::kNeedMore;
  int status = 0;        // kRefuse: the 4xx/5xx to answer
  const char* why = "";  // kRefuse: the error text
  size_t head_len = 0;   // kReady: request line, headers and the blank line
  size_t body_len = 0;   // kReady: Content-Length
};

// Is a complete, acceptable request head at the start of `in` yet?
Framed FrameRequest(const std::string& in, const ServerLimits& limits);

// The answer to a request refused before it reached httplib; the same JSON
// shape as the Api's errors, with Connection: close.
std::string ErrorResponse(int status, const char* why);

}  // namespace vigil
