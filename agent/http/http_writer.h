// Turns the Api's HttpResponse into HTTP/1.1 bytes. The server writes every
// response through here: the whole body, never a byte range and never
// compressed, so an answer costs what its body costs and no more.
#pragma once

#include <string>

#include "agent/http/http_message.h"

namespace vigil {

struct WriteOptions {
  bool head = false;        // a HEAD request: the headers only
  bool close = false;       // "Connection: close"; the server closes after it
  bool keep_alive = false;  // "Connection: keep-alive" (HTTP/1.0 clients)
  int keep_alive_timeout_s = 0;
};

// Appends the response's status line, headers and body to `*out`.
void WriteResponse(const HttpResponse& r, const WriteOptions& o, std::string* out);

// The reason phrase of a status code ("Service Unavailable").
const char* ReasonPhrase(int status);

}  // namespace vigil
