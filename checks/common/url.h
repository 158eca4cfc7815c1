// The URL pieces every kind shares: percent-encoding both ways, the scheme's
// syntax, host:port, and hiding the password of any scheme://user:password@host
// URL before it is shown. Each kind parses its own URLs in its own folder
// (checks/redis/redis_url.h, checks/http/http_url.h, checks/postgres/pg_dsn.h).
//
// Parse errors name the part that is wrong and never repeat the text of the
// URL (only its scheme), so a password cannot leak through them, not even one
// that was written without its '@' by mistake.
#pragma once

#include <stdexcept>
#include <string>

namespace vigil {

// A malformed URL. what() is one line without any part of the URL but its
// scheme; callers prefix the config place ("checks[1].url: ...").
class UrlError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct HostAndPort {
  std::string host;  // a name, an IPv4 address or a bare IPv6 address
  int port = 0;
  std::string ToString() const;  // "host:port", "[::1]:port"
};

// Percent-encodes every byte but RFC 3986's unreserved ones, in upper-case
// hex (lower-case with `lower_hex`): the forms a password takes in a URL.
std::string PercentEncode(const std::string& s, bool lower_hex = false);

// How PercentDecode reads what is not a plain byte or %XX escape. The
// default is a URL's user information: '+' stays '+', a '%' without two hex
// digits after it is malformed.
struct PercentDecoding {
  // '+' means a space (form encoding: the query of a request target).
  bool plus_is_space = false;
  // A NUL byte, escaped or written raw, makes the input malformed.
  bool refuse_nul = false;
  // A '%' without two hex digits after it stays as written instead of making
  // the input malformed (a guess at what another parser read).
  bool keep_malformed = false;
};

// Decodes %XX escapes as `how` says; false on malformed input (*out is then
// left as it was).
bool PercentDecode(const std::string& in, std::string* out, PercentDecoding how = {});

// RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool ValidUrlScheme(const std::string& s);

// The value of the hex digit `c` (0-15), or -1 when `c` is not one.
int HexDigitValue(char c);

// `s` is not empty and all ASCII digits.
bool AllDigits(const std::string& s);

// `s` with its ASCII letters in lower case (schemes, header names).
std::string AsciiLower(std::string s);

// The URL with its password replaced by "***" ("redis://u:***@h:6379/0");
// unchanged when it holds no password. For any scheme; the credentials run
// to the last '@', as the kinds' parsers read them.
std::string RedactUrl(const std::string& url);

}  // namespace vigil
