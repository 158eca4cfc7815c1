// Dependency URLs: parsing redis:// and redis+sentinel:// URLs, and hiding the
// password of any scheme://user:password@host URL before it is shown.
//
// Error messages name the part that is wrong and never repeat the text of the
// URL (only its scheme), so a password cannot leak through them, not even one
// that was written without its '@' by mistake.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

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

struct RedisUrl {
  bool sentinel = false;
  bool tls = false;      // rediss:// or rediss+sentinel://
  std::string user;      // percent-decoded; empty: the default user
  std::string password;  // percent-decoded; empty: no AUTH
  // The password as written in the URL (percent-encoded), for scrubbing.
  std::string password_as_written;
  // The server (redis://), or the Sentinels to ask (redis+sentinel://).
  std::vector<HostAndPort> hosts;
  std::string master_name;  // redis+sentinel:// only
  int db = 0;
};

constexpr int kRedisDefaultPort = 6379;
constexpr int kSentinelDefaultPort = 26379;

// redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]
// (rediss:// and rediss+sentinel:// alike, with TLS)
// redis+sentinel://[[USER]:PASSWORD@]HOST[:PORT][,HOST[:PORT]...]/MASTER[/DB]
// Under Sentinel the URL's password is sent to the Sentinels (and to the
// master unless the check has a `password` key; checks/redis/redis_check.cc);
// the user is the master's. A password may hold raw '/', '@', ':' (the
// credentials run to the last '@'); a raw '%' must be written %25. Throws
// UrlError.
RedisUrl ParseRedisUrl(const std::string& url);

// Percent-encodes every byte but RFC 3986's unreserved ones, in upper-case
// hex (lower-case with `lower_hex`): the forms a password takes in a URL.
std::string PercentEncode(const std::string& s, bool lower_hex = false);

// Decodes %XX escapes; false on a malformed escape (*out is then left as
// it was). '+' stays '+'.
bool PercentDecode(const std::string& in, std::string* out);

// RFC 3986: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
bool ValidUrlScheme(const std::string& s);

// The value of the hex digit `c` (0-15), or -1 when `c` is not one.
int HexDigitValue(char c);

// `s` with its ASCII letters in lower case (schemes, header names).
std::string AsciiLower(std::string s);

// The URL with its password replaced by "***" ("redis://u:***@h:6379/0");
// unchanged when it holds no password. For any scheme.
std::string RedactUrl(const std::string& url);

}  // namespace vigil
