// The `url` of an `http` check: http(s)://[user[:password]@]host[:port][/path][?query].
#pragma once

#include <cstddef>
#include <string>

namespace vigil {

// A parsed `http` check URL. Exposed for the unit tests.
struct HttpUrl {
  bool tls = false;            // https://
  std::string host;            // no brackets around an IPv6 literal
  int port = 80;               // 443 for https:// unless given
  std::string path_and_query;  // "/healthz?full=1"; "/" when the URL has no path
  bool has_userinfo = false;
  std::string user;              // percent-decoded
  std::string password;          // percent-decoded; a secret
  std::string password_encoded;  // as written in the URL; a secret too
};

// Parses `url`; on a fault returns false and sets *error to a one-line
// description that never repeats the password ("unsupported scheme \"ftp\"").
bool ParseHttpUrl(const std::string& url, HttpUrl* out, std::string* error);

// `s` in double quotes for a message, cut after `max` bytes with "...".
std::string QuotedForMessage(const std::string& s, size_t max = 64);

}  // namespace vigil
