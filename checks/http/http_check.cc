// `http` check kind: one HTTP/1.1 GET per run, 2xx/3xx passes (or exactly
// `expect_status`), redirects are not followed, and `expect_body_contains`
// optionally looks for a substring in the first 64 KiB of the body.
//
// The client is written here over checks/net.h rather than taken from
// cpp-httplib: httplib's client resolves the host with a blocking
// getaddrinfo() (no deadline at all when DNS does not answer) and its
// timeouts are per operation (connect, each read, each write), so a server
// that trickles a byte every so often keeps it busy forever. Here every step
// (resolve, connect, send, each read) polls against the one absolute deadline
// of the run.
//
// A fresh connection per run with `Connection: close`, like the kubelet's own
// HTTP probe: the route checked is normally the app's own, on the same pod.
#include "checks/http/http_check.h"

#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <utility>

#include "checks/net.h"

#ifdef VIGIL_VERSION
#define VIGIL_HTTP_USER_AGENT "vigil/" VIGIL_VERSION
#else
#define VIGIL_HTTP_USER_AGENT "vigil"
#endif

namespace vigil {
namespace {

constexpr size_t kMaxHeaderBytes = 16 * 1024;
constexpr size_t kMaxBodyBytes = 64 * 1024;
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

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return {};
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool PercentDecode(const std::string& in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = HexValue(in[i + 1]);
    int lo = HexValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

std::string Base64(const std::string& in) {
  static const char kTable[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    unsigned v = (static_cast<unsigned char>(in[i]) << 16) |
                 (static_cast<unsigned char>(in[i + 1]) << 8) |
                 static_cast<unsigned char>(in[i + 2]);
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += kTable[v & 63];
  }
  if (i + 1 == in.size()) {
    unsigned v = static_cast<unsigned char>(in[i]) << 16;
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    unsigned v =
        (static_cast<unsigned char>(in[i]) << 16) | (static_cast<unsigned char>(in[i + 1]) << 8);
    out += kTable[(v >> 18) & 63];
    out += kTable[(v >> 12) & 63];
    out += kTable[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

bool ValidHostName(const std::string& h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
      return false;
  }
  return true;
}

// "host:port" for messages and the Host header; IPv6 literals in brackets.
std::string HostPort(const std::string& host, int port) {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string Quoted(const std::string& s, size_t max = 64) {
  if (s.size() <= max) return "\"" + s + "\"";
  return "\"" + s.substr(0, max) + "...\"";
}

// Incremental decoder for `Transfer-Encoding: chunked`.
class ChunkedDecoder {
 public:
  // Consumes what it can from *raw, appends data to *body up to `cap` bytes.
  // False on a malformed stream (*error says why).
  bool Feed(std::string* raw, std::string* body, size_t cap, std::string* error) {
    for (;;) {
      switch (state_) {
        case State::kSize: {
          size_t nl = raw->find('\n');
          if (nl == std::string::npos) {
            if (raw->size() > 1024) return Bad(error, "chunk size line too long");
            return true;
          }
          std::string line = raw->substr(0, nl);
          raw->erase(0, nl + 1);
          if (!line.empty() && line.back() == '\r') line.pop_back();
          size_t semi = line.find(';');
          if (semi != std::string::npos) line.resize(semi);
          line = Trim(line);
          if (line.empty() || line.size() > 15) return Bad(error, "malformed chunk size");
          size_t size = 0;
          for (char c : line) {
            int v = HexValue(c);
            if (v < 0) return Bad(error, "malformed chunk size");
            size = size * 16 + static_cast<size_t>(v);
          }
          if (size == 0) {
            state_ = State::kTrailers;
          } else {
            remaining_ = size;
            state_ = State::kData;
          }
          break;
        }
        case State::kData: {
          size_t take = std::min(remaining_, raw->size());
          if (take == 0) return true;
          if (body->size() < cap) body->append(*raw, 0, std::min(take, cap - body->size()));
          raw->erase(0, take);
          remaining_ -= take;
          if (remaining_ > 0) return true;
          state_ = State::kDataEnd;
          break;
        }
        case State::kDataEnd: {
          if (raw->empty()) return true;
          if ((*raw)[0] == '\n') {
            raw->erase(0, 1);
          } else if (raw->size() < 2) {
            return true;
          } else if (raw->compare(0, 2, "\r\n") == 0) {
            raw->erase(0, 2);
          } else {
            return Bad(error, "missing CRLF after chunk data");
          }
          state_ = State::kSize;
          break;
        }
        case State::kTrailers: {
          size_t nl = raw->find('\n');
          if (nl == std::string::npos) {
            if (raw->size() > kMaxHeaderBytes) return Bad(error, "trailers too long");
            return true;
          }
          bool empty = nl == 0 || (nl == 1 && (*raw)[0] == '\r');
          raw->erase(0, nl + 1);
          if (empty) state_ = State::kDone;
          break;
        }
        case State::kDone:
          return true;
      }
    }
  }

  bool done() const { return state_ == State::kDone; }

 private:
  enum class State { kSize, kData, kDataEnd, kTrailers, kDone };
  static bool Bad(std::string* error, const char* why) {
    *error = why;
    return false;
  }
  State state_ = State::kSize;
  size_t remaining_ = 0;
};

class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  ~FdCloser() {
    if (fd_ >= 0) close(fd_);
  }
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;

 private:
  int fd_;
};

struct HttpCheckConfig {
  HttpUrl url;
  std::string expect_body_contains;  // empty: no body check
  int expect_status = 0;             // 0: any 2xx/3xx
};

class HttpCheck final : public Check {
 public:
  explicit HttpCheck(HttpCheckConfig config) : config_(std::move(config)) {
    const HttpUrl& u = config_.url;
    std::string host_header = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    if (u.port != 80) host_header += ":" + std::to_string(u.port);
    request_ = "GET " + u.path_and_query + " HTTP/1.1\r\n";
    request_ += "Host: " + host_header + "\r\n";
    request_ += "User-Agent: " VIGIL_HTTP_USER_AGENT "\r\n";
    request_ += "Accept: */*\r\n";
    request_ += "Connection: close\r\n";
    if (u.has_userinfo)
      request_ += "Authorization: Basic " + Base64(u.user + ":" + u.password) + "\r\n";
    request_ += "\r\n";
  }

  CheckResult Run(Deadline deadline) override {
    auto start = Clock::now();
    CheckResult r = Attempt(deadline);
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    return r;
  }

  std::string Target() const override { return HostPort(config_.url.host, config_.url.port); }

 private:
  enum class ReadStatus { kData, kEof, kTimeout, kError };

  CheckResult Attempt(Deadline deadline) {
    int fd = -1;
    NetResult c = ConnectTcp(config_.url.host, config_.url.port, deadline, &fd);
    if (c.status == NetStatus::kTimeout) return CheckResult::Timeout(c.error);
    if (c.status != NetStatus::kOk) return CheckResult::Fail(c.error);
    FdCloser closer(fd);

    // Send the request.
    size_t sent = 0;
    while (sent < request_.size()) {
      ssize_t n = send(fd, request_.data() + sent, request_.size() - sent, MSG_NOSIGNAL);
      if (n > 0) {
        sent += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        NetResult w = WaitFd(fd, POLLOUT, deadline);
        if (w.status == NetStatus::kTimeout) return CheckResult::Timeout("sending request");
        if (w.status != NetStatus::kOk) return CheckResult::Fail("sending request: " + w.error);
        continue;
      }
      return CheckResult::Fail(std::string("sending request: ") + std::strerror(errno));
    }

    // Status line and headers (skipping interim 1xx responses).
    std::string in;
    std::string error;
    int status = 0;
    long long content_length = -1;
    bool chunked = false;
    for (;;) {
      size_t header_end = 0;
      while (!FindHeaderEnd(in, &header_end)) {
        if (in.size() > kMaxHeaderBytes) return CheckResult::Fail("response headers over 16 KiB");
        ReadStatus rs = ReadMore(fd, deadline, &in, &error);
        if (rs == ReadStatus::kTimeout) return CheckResult::Timeout("waiting for response");
        if (rs == ReadStatus::kError) return CheckResult::Fail(error);
        if (rs == ReadStatus::kEof) {
          return CheckResult::Fail(in.empty() ? "connection closed without a response"
                                              : "connection closed mid-response");
        }
      }
      std::string head = in.substr(0, header_end);
      in.erase(0, header_end);
      if (!ParseHead(head, &status, &content_length, &chunked, &error)) {
        return CheckResult::Fail("malformed HTTP response: " + error);
      }
      if (status >= 100 && status < 200 && status != 101) continue;  // 100 Continue & co.
      break;
    }

    bool status_ok = config_.expect_status != 0 ? status == config_.expect_status
                                                : (status >= 200 && status < 400);
    if (!status_ok) {
      std::string why = "HTTP " + std::to_string(status);
      if (config_.expect_status != 0) why += ", want " + std::to_string(config_.expect_status);
      return CheckResult::Fail(why);
    }

    // Body, up to kMaxBodyBytes: read so that a route that hangs after its
    // headers fails like it does for the kubelet, and for expect_body_contains.
    std::string body;
    bool no_body = status == 204 || status == 304 || (status >= 100 && status < 200);
    if (no_body) {
      // Nothing to read.
    } else if (chunked) {
      ChunkedDecoder decoder;
      for (;;) {
        if (!decoder.Feed(&in, &body, kMaxBodyBytes, &error)) {
          return CheckResult::Fail("malformed HTTP response: " + error);
        }
        if (decoder.done() || body.size() >= kMaxBodyBytes) break;
        ReadStatus rs = ReadMore(fd, deadline, &in, &error);
        if (rs == ReadStatus::kTimeout) return CheckResult::Timeout("waiting for response");
        if (rs == ReadStatus::kError) return CheckResult::Fail(error);
        if (rs == ReadStatus::kEof) return CheckResult::Fail("connection closed mid chunked body");
      }
    } else if (content_length >= 0) {
      size_t want = static_cast<size_t>(
          std::min<long long>(content_length, static_cast<long long>(kMaxBodyBytes)));
      body = std::move(in);
      while (body.size() < want) {
        ReadStatus rs = ReadMore(fd, deadline, &body, &error);
        if (rs == ReadStatus::kTimeout) return CheckResult::Timeout("waiting for response");
        if (rs == ReadStatus::kError) return CheckResult::Fail(error);
        if (rs == ReadStatus::kEof) {
          return CheckResult::Fail("connection closed after " + std::to_string(body.size()) +
                                   " of " + std::to_string(content_length) + " body bytes");
        }
      }
      if (body.size() > want) body.resize(want);
    } else {
      // No framing: the body ends when the server closes.
      body = std::move(in);
      while (body.size() < kMaxBodyBytes) {
        ReadStatus rs = ReadMore(fd, deadline, &body, &error);
        if (rs == ReadStatus::kTimeout) return CheckResult::Timeout("waiting for response");
        if (rs == ReadStatus::kError) return CheckResult::Fail(error);
        if (rs == ReadStatus::kEof) break;
      }
      if (body.size() > kMaxBodyBytes) body.resize(kMaxBodyBytes);
    }

    if (!config_.expect_body_contains.empty() &&
        body.find(config_.expect_body_contains) == std::string::npos) {
      std::string why = "HTTP " + std::to_string(status) + " but body does not contain " +
                        Quoted(config_.expect_body_contains);
      if (body.size() >= kMaxBodyBytes) why += " (first 64 KiB searched)";
      return CheckResult::Fail(why);
    }
    return CheckResult::Pass();
  }

  // Appends what the socket has (waiting until the deadline for something).
  static ReadStatus ReadMore(int fd, Deadline deadline, std::string* buf, std::string* error) {
    char chunk[kReadChunk];
    for (;;) {
      ssize_t n = recv(fd, chunk, sizeof chunk, 0);
      if (n > 0) {
        buf->append(chunk, static_cast<size_t>(n));
        return ReadStatus::kData;
      }
      if (n == 0) return ReadStatus::kEof;
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        NetResult w = WaitFd(fd, POLLIN, deadline);
        if (w.status == NetStatus::kTimeout) return ReadStatus::kTimeout;
        if (w.status != NetStatus::kOk) {
          *error = "waiting for response: " + w.error;
          return ReadStatus::kError;
        }
        continue;
      }
      if (errno == ECONNRESET) {
        *error = "connection reset by peer while waiting for response";
      } else {
        *error = std::string("reading response: ") + std::strerror(errno);
      }
      return ReadStatus::kError;
    }
  }

  // True when `in` holds a whole header block; *end is just past its blank line.
  static bool FindHeaderEnd(const std::string& in, size_t* end) {
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

  static bool ParseHead(const std::string& head, int* status, long long* content_length,
                        bool* chunked, std::string* error) {
    *content_length = -1;
    *chunked = false;
    size_t pos = 0;
    bool first = true;
    while (pos < head.size()) {
      size_t nl = head.find('\n', pos);
      if (nl == std::string::npos) nl = head.size();
      std::string line = head.substr(pos, nl - pos);
      pos = nl + 1;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (line.empty()) {
        if (first) continue;  // leading blank lines
        break;
      }
      if (first) {
        first = false;
        // "HTTP/1.1 200 OK"
        if (line.size() < 12 || line.compare(0, 5, "HTTP/") != 0 || line[8] != ' ' ||
            !std::isdigit(static_cast<unsigned char>(line[9])) ||
            !std::isdigit(static_cast<unsigned char>(line[10])) ||
            !std::isdigit(static_cast<unsigned char>(line[11])) ||
            (line.size() > 12 && line[12] != ' ')) {
          *error = "bad status line";
          return false;
        }
        *status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
        if (*status < 100 || *status > 599) {
          *error = "status " + std::to_string(*status) + " out of range";
          return false;
        }
        continue;
      }
      size_t colon = line.find(':');
      if (colon == std::string::npos || colon == 0) {
        *error = "bad header line";
        return false;
      }
      std::string name = line.substr(0, colon);
      std::string value = Trim(line.substr(colon + 1));
      if (IEquals(name, "content-length")) {
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
        if (*content_length >= 0 && *content_length != v) {
          *error = "conflicting Content-Length";
          return false;
        }
        *content_length = v;
      } else if (IEquals(name, "transfer-encoding")) {
        std::string v = Lower(value);
        size_t last = v.rfind(',');
        std::string final_coding = Trim(last == std::string::npos ? v : v.substr(last + 1));
        *chunked = final_coding == "chunked";
      }
    }
    if (first) {
      *error = "empty response";
      return false;
    }
    return true;
  }

  const HttpCheckConfig config_;
  std::string request_;
};

}  // namespace

bool ParseHttpUrl(const std::string& url, HttpUrl* out, std::string* error) {
  *out = HttpUrl{};
  // Values from the URL are quoted in messages only when the URL carries no
  // userinfo: with a password in it, a malformed URL could be split in the
  // wrong place and a message would then show part of the password.
  const bool may_echo = url.find('@') == std::string::npos;
  auto echo = [&](const std::string& what) {
    return may_echo ? " " + Quoted(what) : std::string();
  };

  size_t sep = url.find("://");
  std::string scheme = sep == std::string::npos ? "" : url.substr(0, sep);
  bool scheme_ok = !scheme.empty() && std::isalpha(static_cast<unsigned char>(scheme[0]));
  for (char c : scheme) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '-' && c != '.')
      scheme_ok = false;
  }
  if (!scheme_ok) {
    *error =
        "want http://HOST[:PORT]/PATH, got" + (may_echo ? echo(url) : " a URL without a scheme");
    return false;
  }
  scheme = Lower(scheme);
  if (scheme == "https") {
    *error =
        "https is not supported: point the check at the app's plain-HTTP port "
        "(http://127.0.0.1:PORT/PATH)";
    return false;
  }
  if (scheme != "http") {
    *error = "unsupported scheme " + Quoted(scheme) + " (want http)";
    return false;
  }

  size_t auth_begin = sep + 3;
  size_t auth_end = url.find_first_of("/?#", auth_begin);
  if (auth_end == std::string::npos) auth_end = url.size();
  std::string authority = url.substr(auth_begin, auth_end - auth_begin);

  size_t at = authority.rfind('@');
  if (at != std::string::npos) {
    std::string userinfo = authority.substr(0, at);
    authority.erase(0, at + 1);
    out->has_userinfo = true;
    size_t colon = userinfo.find(':');
    std::string raw_user = userinfo.substr(0, colon);
    std::string raw_pass = colon == std::string::npos ? "" : userinfo.substr(colon + 1);
    out->password_encoded = raw_pass;
    if (!PercentDecode(raw_pass, &out->password)) {
      out->password = raw_pass;
      *error = "bad percent-encoding in the password";
      return false;
    }
    if (!PercentDecode(raw_user, &out->user)) {
      *error = "bad percent-encoding in the user name";
      return false;
    }
    if (out->user.find(':') != std::string::npos) {
      *error = "user name must not contain ':'";
      return false;
    }
  }

  std::string port_text;
  bool has_port = false;
  if (!authority.empty() && authority[0] == '[') {
    size_t close_br = authority.find(']');
    if (close_br == std::string::npos) {
      *error = "unterminated IPv6 address" + echo(authority);
      return false;
    }
    out->host = authority.substr(1, close_br - 1);
    in6_addr a6{};
    if (inet_pton(AF_INET6, out->host.c_str(), &a6) != 1) {
      *error = "bad IPv6 address" + echo(out->host);
      return false;
    }
    std::string rest = authority.substr(close_br + 1);
    if (!rest.empty()) {
      if (rest[0] != ':') {
        *error = "unexpected text after IPv6 address" + echo(rest);
        return false;
      }
      has_port = true;
      port_text = rest.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    if (colon != std::string::npos) {
      if (authority.find(':', colon + 1) != std::string::npos) {
        *error = "IPv6 address must be in brackets";
        return false;
      }
      has_port = true;
      port_text = authority.substr(colon + 1);
      authority.resize(colon);
    }
    out->host = authority;
    if (out->host.empty()) {
      *error = "missing host";
      return false;
    }
    if (!ValidHostName(out->host)) {
      *error = "bad host" + echo(out->host);
      return false;
    }
  }
  if (has_port) {
    bool digits = !port_text.empty() && port_text.size() <= 5;
    for (char c : port_text) {
      if (!std::isdigit(static_cast<unsigned char>(c))) digits = false;
    }
    int port = digits ? std::stoi(port_text) : 0;
    if (port < 1 || port > 65535) {
      *error = "bad port" + echo(port_text) + " (want 1..65535)";
      return false;
    }
    out->port = port;
  }

  std::string rest = url.substr(auth_end);
  size_t hash = rest.find('#');
  if (hash != std::string::npos) rest.resize(hash);
  if (rest.empty() || rest[0] == '?') rest = "/" + rest;
  for (char c : rest) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f) {
      *error =
          "path must not contain spaces, control or non-ASCII characters (percent-encode them)";
      return false;
    }
  }
  out->path_and_query = rest;
  return true;
}

CheckKind HttpCheckKind() {
  CheckKind kind;
  kind.name = "http";
  kind.keys = {"url", "expect_body_contains", "expect_status"};
  kind.default_role = "app";
  kind.create = [](const CheckSpec& spec) -> std::unique_ptr<Check> {
    HttpCheckConfig config;
    std::string url = spec.RequireString("url");
    std::string error;
    bool ok = ParseHttpUrl(url, &config.url, &error);
    // Register the password before any error can surface, in both spellings
    // in which it may appear in printed text.
    if (spec.secrets != nullptr) {
      if (!config.url.password.empty()) spec.secrets->push_back(config.url.password);
      if (!config.url.password_encoded.empty() &&
          config.url.password_encoded != config.url.password) {
        spec.secrets->push_back(config.url.password_encoded);
      }
    }
    if (!ok) throw ConfigError(spec.Field("url"), error);
    config.expect_body_contains = spec.OptionalString("expect_body_contains", "");
    double status = spec.OptionalNumber("expect_status", 0, 100, 599);
    if (status != std::floor(status))
      throw ConfigError(spec.Field("expect_status"), "must be an integer");
    config.expect_status = static_cast<int>(status);
    return std::make_unique<HttpCheck>(std::move(config));
  };
  return kind;
}

}  // namespace vigil
