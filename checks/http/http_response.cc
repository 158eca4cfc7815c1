#include "checks/http/http_response.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <utility>

#include "checks/common/net.h"
#include "checks/common/url.h"

namespace vigil {
namespace {

constexpr size_t kReadChunk = 16 * 1024;

bool IEquals(const std::string& a, const char* b) {
  size_t n = std::strlen(b);
  if (a.size() != n) return false;
  for (size_t i = 0; i < n; ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// The hex digits of text[begin, end) with blanks around them, at most 15.
bool ParseChunkSize(const std::string& text, size_t begin, size_t end, size_t* size) {
  while (begin < end && (text[begin] == ' ' || text[begin] == '\t')) ++begin;
  while (end > begin && (text[end - 1] == ' ' || text[end - 1] == '\t')) --end;
  if (begin == end || end - begin > 15) return false;
  size_t n = 0;
  for (size_t i = begin; i < end; ++i) {
    int v = HexDigitValue(text[i]);
    if (v < 0) return false;
    n = n * 16 + static_cast<size_t>(v);
  }
  *size = n;
  return true;
}

// Incremental decoder for `Transfer-Encoding: chunked`.
class ChunkedDecoder {
 public:
  // Consumes what it can from *raw, appends data to *body up to `cap` bytes.
  // False on a malformed stream (*error says why).
  bool Feed(std::string* raw, std::string* body, size_t cap, std::string* error) {
    for (;;) {
      Step step = Step::kWait;
      switch (state_) {
        case State::kSize:
          step = SizeLine(raw, error);
          break;
        case State::kData:
          step = Data(raw, body, cap);
          break;
        case State::kDataEnd:
          step = DataEnd(raw, error);
          break;
        case State::kTrailers:
          step = Trailers(raw, error);
          break;
        case State::kDone:
          return true;
      }
      if (step == Step::kWait) return true;
      if (step == Step::kBad) return false;
    }
  }

  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kData, kDataEnd, kTrailers, kDone };
  // After a step: go on, wait for more input, or a malformed stream.
  enum class Step { kNext, kWait, kBad };

  static Step Bad(std::string* error, const char* why) {
    *error = why;
    return Step::kBad;
  }

  // "1a;ext\r\n": the next chunk's size; 0 starts the trailers.
  Step SizeLine(std::string* raw, std::string* error) {
    size_t nl = raw->find('\n');
    if (nl == std::string::npos) {
      if (raw->size() > 1024) return Bad(error, "chunk size line too long");
      return Step::kWait;
    }
    // The size ends at a ';' (chunk extensions) or at the line's end.
    size_t end = std::min(raw->find(';'), nl);
    if (end == nl && end > 0 && (*raw)[end - 1] == '\r') --end;
    size_t size = 0;
    const bool ok = ParseChunkSize(*raw, 0, end, &size);
    raw->erase(0, nl + 1);
    if (!ok) return Bad(error, "malformed chunk size");
    if (size == 0) {
      state_ = State::kTrailers;
    } else {
      remaining_ = size;
      state_ = State::kData;
    }
    return Step::kNext;
  }

  Step Data(std::string* raw, std::string* body, size_t cap) {
    size_t take = std::min(remaining_, raw->size());
    if (take == 0) return Step::kWait;
    if (body->size() < cap) body->append(*raw, 0, std::min(take, cap - body->size()));
    raw->erase(0, take);
    remaining_ -= take;
    if (remaining_ > 0) return Step::kWait;
    state_ = State::kDataEnd;
    return Step::kNext;
  }

  // The CRLF (or a bare LF) after a chunk's data.
  Step DataEnd(std::string* raw, std::string* error) {
    if (raw->empty()) return Step::kWait;
    if ((*raw)[0] == '\n') {
      raw->erase(0, 1);
    } else if (raw->size() < 2) {
      return Step::kWait;
    } else if (raw->compare(0, 2, "\r\n") == 0) {
      raw->erase(0, 2);
    } else {
      return Bad(error, "missing CRLF after chunk data");
    }
    state_ = State::kSize;
    return Step::kNext;
  }

  // Trailer lines, skipped, up to the blank line that ends the body.
  Step Trailers(std::string* raw, std::string* error) {
    size_t nl = raw->find('\n');
    if (nl == std::string::npos) {
      if (raw->size() > kHttpMaxHeaderBytes) return Bad(error, "trailers too long");
      return Step::kWait;
    }
    bool empty = nl == 0 || (nl == 1 && (*raw)[0] == '\r');
    raw->erase(0, nl + 1);
    if (empty) state_ = State::kDone;
    return Step::kNext;
  }
  State state_ = State::kSize;
  size_t remaining_ = 0;
};

enum class ReadStatus { kData, kEof, kTimeout, kError };

// Appends what the socket has (waiting until the deadline for something).
// On kError *kind says what it means: a reset is the server hanging up on
// the request, like a close without an answer (protocol); a TLS alert or
// record error is tls.
ReadStatus ReadMore(Stream& stream, Deadline deadline, std::string* buf, std::string* error,
                    FailureKind* kind) {
  char chunk[kReadChunk];
  StreamResult r = stream.Read(chunk, sizeof chunk, deadline);
  switch (r.status) {
    case StreamStatus::kOk:
      buf->append(chunk, r.bytes);
      return ReadStatus::kData;
    case StreamStatus::kEof:
      return ReadStatus::kEof;
    case StreamStatus::kTimeout:
      return ReadStatus::kTimeout;
    case StreamStatus::kError:
      break;
  }
  if (r.kind == FailureKind::kTls) {
    *kind = FailureKind::kTls;
    *error = r.error;  // the TLS reason ("client certificate required", ...)
  } else if (r.sys_errno == ECONNRESET) {
    *kind = FailureKind::kProtocol;
    *error = "connection reset by peer while waiting for response";
  } else if (r.sys_errno != 0) {
    *kind = FailureKind::kOther;
    *error = std::string("reading response: ") + std::strerror(r.sys_errno);
  } else {
    *kind = FailureKind::kOther;
    *error = "waiting for response: " + r.error;
  }
  return ReadStatus::kError;
}

// True when `in` holds a whole header block; *end is just past its blank line.
bool FindHeaderEnd(const std::string& in, size_t* end) {
  size_t pos = 0;
  for (;;) {
    size_t nl = in.find('\n', pos);
    if (nl == std::string::npos) return false;
    size_t len = nl - pos;
    if (len == 0 || (len == 1 && in[pos] == '\r')) {
      if (pos == 0) {
        // Tolerate stray blank lines before the status line (RFC 9112 2.2).
        pos = nl + 1;
        continue;
      }
      *end = nl + 1;
      return true;
    }
    pos = nl + 1;
  }
}

// "HTTP/1.1 200 OK": the status.
bool ParseStatusLine(const std::string& line, HttpResponseHead* head, std::string* error) {
  if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0 || line[8] != ' ' ||
      !std::isdigit(static_cast<unsigned char>(line[9])) ||
      !std::isdigit(static_cast<unsigned char>(line[10])) ||
      !std::isdigit(static_cast<unsigned char>(line[11])) ||
      (line.size() > 12 && line[12] != ' ')) {
    *error = "bad status line";
    return false;
  }
  head->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
  if (head->status < 100 || head->status > 599) {
    *error = "status " + std::to_string(head->status) + " out of range";
    return false;
  }
  return true;
}

bool ParseContentLength(const std::string& value, HttpResponseHead* head, std::string* error) {
  if (value.empty() || value.size() > 18) {
    *error = "bad Content-Length";
    return false;
  }
  long long v = 0;
  for (char c : value) {
    if (!std::isdigit(static_cast<unsigned char>(c))) {
      *error = "bad Content-Length";
      return false;
    }
    v = v * 10 + (c - '0');
  }
  if (head->content_length >= 0 && head->content_length != v) {
    *error = "conflicting Content-Length";
    return false;
  }
  head->content_length = v;
  return true;
}

// "Name: value": Content-Length and Transfer-Encoding are kept, the rest not.
bool ParseHeaderLine(const std::string& line, HttpResponseHead* head, std::string* error) {
  size_t colon = line.find(':');
  if (colon == std::string::npos || colon == 0) {
    *error = "bad header line";
    return false;
  }
  std::string name = line.substr(0, colon);
  std::string value = Trim(line.substr(colon + 1));
  if (IEquals(name, "content-length")) return ParseContentLength(value, head, error);
  if (IEquals(name, "transfer-encoding")) {
    std::string v = AsciiLower(value);
    size_t last = v.rfind(',');
    std::string final_coding = Trim(last == std::string::npos ? v : v.substr(last + 1));
    head->chunked = final_coding == "chunked";
  }
  return true;
}

// The status line and the framing headers; false with *error on a malformed
// head. Other headers are not kept.
bool ParseHead(const std::string& text, HttpResponseHead* head, std::string* error) {
  head->content_length = -1;
  head->chunked = false;
  size_t pos = 0;
  bool first = true;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) {
      if (first) continue;  // leading blank lines
      break;
    }
    const bool ok = first ? ParseStatusLine(line, head, error) : ParseHeaderLine(line, head, error);
    if (!ok) return false;
    first = false;
  }
  if (first) {
    *error = "empty response";
    return false;
  }
  return true;
}

}  // namespace

std::optional<CheckResult> ReadHttpResponseHead(Stream& stream, Deadline deadline, std::string* in,
                                                HttpResponseHead* head) {
  std::string error;
  FailureKind kind = FailureKind::kOther;
  for (;;) {
    size_t header_end = 0;
    while (!FindHeaderEnd(*in, &header_end)) {
      if (in->size() > kHttpMaxHeaderBytes)
        return CheckResult::Fail(FailureKind::kProtocol, "response headers over 16 KiB");
      ReadStatus rs = ReadMore(stream, deadline, in, &error, &kind);
      if (rs == ReadStatus::kTimeout) return CheckResult::Timeout("waiting for response");
      if (rs == ReadStatus::kError) return CheckResult::Fail(kind, error);
      if (rs == ReadStatus::kEof) {
        return CheckResult::Fail(FailureKind::kProtocol,
                                 in->empty() ? "connection closed without a response"
                                             : "connection closed mid-response");
      }
    }
    std::string text = in->substr(0, header_end);
    in->erase(0, header_end);
    if (!ParseHead(text, head, &error)) {
      return CheckResult::Fail(FailureKind::kProtocol, "malformed HTTP response: " + error);
    }
    const int status = head->status;
    if (status >= 100 && status < 200 && status != 101) continue;  // 100 Continue & co.
    return std::nullopt;
  }
}

std::optional<CheckResult> ReadHttpResponseBody(Stream& stream, Deadline deadline,
                                                const HttpResponseHead& head, std::string* in,
                                                std::string* body) {
  std::string error;
  FailureKind kind = FailureKind::kOther;
  const int status = head.status;
  bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
  if (no_body) {
    // Nothing to read.
  } else if (head.chunked) {
    ChunkedDecoder decoder;
    for (;;) {
      if (!decoder.Feed(in, body, kHttpMaxBodyBytes, &error)) {
        return CheckResult::Fail(FailureKind::kProtocol, "malformed HTTP response: " + error);
      }
      if (decoder.done() || body->size() >= kHttpMaxBodyBytes) break;
      ReadStatus rs = ReadMore(stream, deadline, in, &error, &kind);
      if (rs == ReadStatus::kTimeout) return CheckResult::Timeout("waiting for response");
      if (rs == ReadStatus::kError) return CheckResult::Fail(kind, error);
      if (rs == ReadStatus::kEof)
        return CheckResult::Fail(FailureKind::kProtocol, "connection closed mid chunked body");
    }
  } else if (head.content_length >= 0) {
    size_t want = static_cast<size_t>(
        std::min<long long>(head.content_length, static_cast<long long>(kHttpMaxBodyBytes)));
    *body = std::move(*in);
    while (body->size() < want) {
      ReadStatus rs = ReadMore(stream, deadline, body, &error, &kind);
      if (rs == ReadStatus::kTimeout) return CheckResult::Timeout("waiting for response");
      if (rs == ReadStatus::kError) return CheckResult::Fail(kind, error);
      if (rs == ReadStatus::kEof) {
        return CheckResult::Fail(FailureKind::kProtocol,
                                 "connection closed after " + std::to_string(body->size()) +
                                     " of " + std::to_string(head.content_length) + " body bytes");
      }
    }
    if (body->size() > want) body->resize(want);
  } else {
    // No framing: the body ends when the server closes.
    *body = std::move(*in);
    while (body->size() < kHttpMaxBodyBytes) {
      ReadStatus rs = ReadMore(stream, deadline, body, &error, &kind);
      if (rs == ReadStatus::kTimeout) return CheckResult::Timeout("waiting for response");
      if (rs == ReadStatus::kError) return CheckResult::Fail(kind, error);
      if (rs == ReadStatus::kEof) break;
    }
    if (body->size() > kHttpMaxBodyBytes) body->resize(kHttpMaxBodyBytes);
  }
  return std::nullopt;
}

}  // namespace vigil
