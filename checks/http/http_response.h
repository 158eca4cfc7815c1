// Reading the answer to an `http` check's GET from a non-blocking socket:
// the head (status line and the framing headers), then up to
// kHttpMaxBodyBytes of the body (chunked, by Content-Length, or to the
// close). Every read polls against the one absolute deadline of the run, on
// a plain or a TLS stream alike.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "checks/check.h"
#include "checks/common/tls.h"

namespace vigil {

constexpr size_t kHttpMaxHeaderBytes = 16 * 1024;
constexpr size_t kHttpMaxBodyBytes = 64 * 1024;

// What the check needs of a response head.
struct HttpResponseHead {
  int status = 0;
  long long content_length = -1;  // -1: no Content-Length
  bool chunked = false;           // Transfer-Encoding ends in "chunked"
};

// Reads the head of the final response, skipping interim 1xx ones (but
// 101). What was read past the head stays in *in for ReadHttpResponseBody.
// A failed or timed-out result on a fault; nullopt with *head set otherwise.
std::optional<CheckResult> ReadHttpResponseHead(Stream& stream, Deadline deadline, std::string* in,
                                                HttpResponseHead* head);

// Reads the body framed as `head` says into *body, starting with what *in
// already holds; stops at kHttpMaxBodyBytes. A failed or timed-out result on
// a fault; nullopt otherwise.
std::optional<CheckResult> ReadHttpResponseBody(Stream& stream, Deadline deadline,
                                                const HttpResponseHead& head, std::string* in,
                                                std::string* body);

}  // namespace vigil
