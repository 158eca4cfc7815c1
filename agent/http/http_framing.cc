#include "agent/http/http_framing.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <optional>
#include <string_view>

namespace vigil {
namespace {

Framed Refusal(int status, const char* why) {
  Framed f;
  f.frame = Frame::kRefuse;
  f.status = status;
  f.why = why;
  return f;
}

// RFC 9110 5.6.2 tchar.
bool IsTchar(char ch) {
  const unsigned char c = static_cast<unsigned char>(ch);
  if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return true;
  return c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i])))
      return false;
  }
  return true;
}

// Checks the request line in in[0, end): `complete` when in[end] is its LF.
// 0 while it is well formed (so far), else the status to refuse it with.
// Non-HTTP bytes (TLS, binary, a stray protocol) fail on the first bytes.
int CheckRequestLine(std::string_view line, bool complete, bool* http10) {
  size_t i = 0;
  while (i < line.size() && IsTchar(line[i])) ++i;
  if (i == line.size()) return complete ? 400 : 0;
  if (line[i] != ' ' || i == 0) return 400;
  const size_t target = ++i;
  while (i < line.size() && line[i] != ' ') {
    const unsigned char c = static_cast<unsigned char>(line[i]);
    if (c <= 0x20 || c >= 0x7f) return 400;
    if (i - target >= kMaxTargetBytes) return 414;  // from the first byte past the limit
    ++i;
  }
  if (i == line.size()) return complete ? 400 : 0;
  if (i == target) return 400;
  std::string_view version = line.substr(i + 1);
  constexpr std::string_view kHttp = "HTTP/";
  if (!complete) {
    if (version.size() > 9) return 400;  // "HTTP/1.1\r"
    for (size_t k = 0; k < version.size() && k < kHttp.size(); ++k)
      if (version[k] != kHttp[k]) return 400;
    return 0;
  }
  if (version.empty() || version.back() != '\r') return 400;
  version.remove_suffix(1);
  if (version == "HTTP/1.1") return 0;
  if (version == "HTTP/1.0") {
    *http10 = true;
    return 0;
  }
  if (version.size() == 8 && version.substr(0, 5) == kHttp && std::isdigit(version[5]) &&
      version[6] == '.' && std::isdigit(version[7]))
    return 505;
  return 400;
}

std::string_view TrimOws(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

const char* RequestLineFault(int status) {
  if (status == 505) return "HTTP version not supported";
  if (status == 414) return "request target too long";
  return "malformed request line";
}

// RFC 9112 3.2 / RFC 3986 3.2.2: Host = uri-host [ ":" port ], where
// uri-host is an IP literal in brackets or a reg-name (unreserved,
// pct-encoded, sub-delims); empty is allowed.
bool ValidHost(std::string_view v) {
  size_t i = 0;
  if (!v.empty() && v[0] == '[') {
    const size_t close = v.find(']');
    if (close == std::string_view::npos || close == 1) return false;
    for (i = 1; i < close; ++i) {
      const char c = v[i];
      if (!std::isxdigit(static_cast<unsigned char>(c)) && c != ':' && c != '.') return false;
    }
    i = close + 1;
  } else {
    while (i < v.size() && v[i] != ':') {
      const unsigned char c = static_cast<unsigned char>(v[i]);
      if (!std::isalnum(c) && std::strchr("-._~%!$&'()*+,;=", c) == nullptr) return false;
      ++i;
    }
  }
  if (i == v.size()) return true;
  if (v[i] != ':') return false;
  const std::string_view port = v.substr(i + 1);
  return port.size() <= 5 &&
         std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// What the header lines said so far, besides the fields kept in Framed.
struct HeadFields {
  int count = 0;
  bool host = false;
  bool has_length = false;
  size_t length = 0;
  bool chunked = false;
};

// "Transfer-Encoding": only "chunked" alone is read; another coding is 501.
std::optional<Framed> TakeTransferEncoding(std::string_view value, HeadFields* h) {
  if (h->chunked) return Refusal(400, "more than one Transfer-Encoding header");
  if (!IEquals(value, "chunked")) return Refusal(501, "transfer codings other than chunked");
  h->chunked = true;
  return std::nullopt;
}

// One line of a chunked body at in[pos]: its end (past the LF) in *next,
// its text without CRLF in *line. false: not all there yet.
bool ChunkLine(const std::string& in, size_t pos, size_t* next, std::string_view* line) {
  const size_t lf = in.find('\n', pos);
  if (lf == std::string::npos) return false;
  *next = lf + 1;
  *line = std::string_view(in).substr(pos, lf - pos);
  return true;
}

// A chunked body (RFC 9112 7.1) at in[from]: kReady with body_len its bytes
// (trailers included), kNeedMore, or the refusal. At most `max` bytes as
// sent: 413 past it, as soon as that is known.
Framed ChunkedBody(const std::string& in, size_t from, size_t max) {
  size_t pos = from;
  bool last = false;
  for (;;) {
    size_t next = 0;
    std::string_view line;
    if (!ChunkLine(in, pos, &next, &line)) {
      return in.size() - from > max ? Refusal(413, "request body too large") : Framed{};
    }
    if (line.empty() || line.back() != '\r') return Refusal(400, "malformed chunked body");
    line.remove_suffix(1);
    pos = next;
    if (last) {
      if (line.empty()) break;  // the end of the trailers
    } else {
      const std::string_view hex = line.substr(0, line.find(';'));
      if (hex.empty() || hex.size() > 8 || !std::all_of(hex.begin(), hex.end(), [](char c) {
            return std::isxdigit(static_cast<unsigned char>(c)) != 0;
          })) {
        return Refusal(400, "malformed chunk size");
      }
      const size_t size = std::stoul(std::string(hex), nullptr, 16);
      if (pos - from + size > max) return Refusal(413, "request body too large");
      if (size == 0) {
        last = true;
        continue;
      }
      if (in.size() < pos + size + 2) return {};
      if (in.compare(pos + size, 2, "\r\n") != 0) return Refusal(400, "malformed chunked body");
      pos += size + 2;
    }
    if (pos - from > max) return Refusal(413, "request body too large");
  }
  Framed f;
  f.frame = Frame::kReady;
  f.body_len = pos - from;
  return f;
}

// "Connection": a comma-separated list of options (RFC 9110 7.6.1).
void TakeConnectionOptions(std::string_view value, Framed* f) {
  std::string_view rest = value;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view opt = TrimOws(rest.substr(0, comma));
    if (IEquals(opt, "close")) f->connection_close = true;
    if (IEquals(opt, "keep-alive")) f->connection_keep_alive = true;
    if (comma == std::string_view::npos) break;
    rest.remove_prefix(comma + 1);
  }
}

std::optional<Framed> TakeContentLength(std::string_view value, HeadFields* h) {
  if (value.empty() || value.size() > 18 ||
      !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return Refusal(400, "malformed Content-Length");
  }
  const size_t n = std::stoull(std::string(value));
  if (h->has_length && n != h->length) return Refusal(400, "conflicting Content-Length");
  h->has_length = true;
  h->length = n;
  return std::nullopt;
}

// One header line (without its CRLF): checked, and taken into *h or *f when
// it is one the server or the Api reads. The refusal for a bad one.
std::optional<Framed> TakeField(std::string_view line, HeadFields* h, Framed* f) {
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0) return Refusal(400, "malformed header line");
  const std::string_view name = line.substr(0, colon);
  // Also refuses obsolete line folding and whitespace before the colon.
  if (!std::all_of(name.begin(), name.end(), IsTchar)) {
    return Refusal(400, "malformed header line");
  }
  const std::string_view value = TrimOws(line.substr(colon + 1));
  for (char ch : value) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if ((c < 0x20 && c != '\t') || c == 0x7f) return Refusal(400, "malformed header value");
  }
  if (IEquals(name, "host")) {
    if (h->host) return Refusal(400, "more than one Host header");
    if (!ValidHost(value)) return Refusal(400, "invalid Host header");
    h->host = true;
  } else if (IEquals(name, "content-length")) {
    return TakeContentLength(value, h);
  } else if (IEquals(name, "transfer-encoding")) {
    return TakeTransferEncoding(value, h);
  } else if (IEquals(name, "expect")) {
    f->expect_continue = IEquals(value, "100-continue");
  } else if (IEquals(name, "accept")) {
    f->accept = value;
  } else if (IEquals(name, "authorization")) {
    f->authorization = value;
  } else if (IEquals(name, "connection")) {
    TakeConnectionOptions(value, f);
  }
  // Range, Accept-Encoding and every other header are ignored: a response
  // is always the whole body, uncompressed.
  return std::nullopt;
}

// The chunked body after the head f->head_len: true with f->body_len set
// when it is all there; else false with *f the refusal or the wait for more
// (head_len and expect_continue kept).
bool TakeChunkedBody(const std::string& in, const ServerLimits& limits, Framed* f) {
  const Framed body = ChunkedBody(in, f->head_len, limits.max_body_bytes);
  if (body.frame == Frame::kReady) {
    f->body_len = body.body_len;
    return true;
  }
  if (body.frame == Frame::kRefuse) {
    *f = body;
    return false;
  }
  Framed wait;
  wait.head_len = f->head_len;
  wait.expect_continue = f->expect_continue;
  *f = wait;
  return false;
}

}  // namespace

Framed FrameRequest(const std::string& in, const ServerLimits& limits) {
  const size_t eol = in.find('\n');
  bool http10 = false;
  if (eol == std::string::npos) {
    if (int s = CheckRequestLine(in, false, &http10)) return Refusal(s, RequestLineFault(s));
    if (in.size() > limits.max_header_bytes) return Refusal(414, "request line too long");
    return {};
  }
  const std::string_view request_line = std::string_view(in).substr(0, eol);
  if (int s = CheckRequestLine(request_line, true, &http10)) {
    return Refusal(s, RequestLineFault(s));
  }
  if (eol + 1 > limits.max_header_bytes) return Refusal(414, "request line too long");

  Framed f;
  HeadFields h;
  size_t pos = eol + 1;
  for (;;) {
    const size_t lf = in.find('\n', pos);
    if (lf == std::string::npos) {
      if (in.size() > limits.max_header_bytes) {
        return Refusal(431, "request header fields too large");
      }
      return {};
    }
    if (lf + 1 > limits.max_header_bytes) return Refusal(431, "request header fields too large");
    if (lf == pos || in[lf - 1] != '\r') return Refusal(400, "malformed header line");
    const std::string_view line(in.data() + pos, lf - 1 - pos);
    pos = lf + 1;
    if (line.empty()) break;  // the end of the head
    if (++h.count > kMaxHeaderFields) return Refusal(431, "too many header fields");
    if (std::optional<Framed> refused = TakeField(line, &h, &f)) return *refused;
  }
  // RFC 9112 3.2: an HTTP/1.1 request without Host is a 400. HTTP/1.0 has
  // no Host requirement (`printf 'GET /livez HTTP/1.0\r\n\r\n' | nc`).
  if (!http10 && !h.host) return Refusal(400, "missing Host header");
  if (h.length > limits.max_body_bytes) return Refusal(413, "request body too large");
  // RFC 9112 6.1 and 6.3: both framings at once is how requests are
  // smuggled; HTTP/1.0 has no transfer codings.
  if (h.chunked && (h.has_length || http10)) return Refusal(400, "ambiguous message framing");
  // HTTP/1.0 clients never wait for a 100 (RFC 9110 10.1.1).
  f.expect_continue = f.expect_continue && !http10;
  f.head_len = pos;
  f.body_len = h.length;
  if (h.chunked && !TakeChunkedBody(in, limits, &f)) return f;
  f.expect_continue = f.expect_continue && in.size() < f.head_len + f.body_len;
  const size_t sp1 = request_line.find(' ');
  const size_t sp2 = request_line.find(' ', sp1 + 1);
  f.frame = Frame::kReady;
  f.method = request_line.substr(0, sp1);
  f.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  f.http10 = http10;
  return f;
}

}  // namespace vigil
