#include "checks/common/url.h"

#include <algorithm>
#include <cctype>

namespace vigil {

std::string HostAndPort::ToString() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

bool ValidUrlScheme(const std::string& s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  return std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) != 0 || c == '+' || c == '-' || c == '.';
  });
}

int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool AllDigits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

std::string AsciiLower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string PercentEncode(const std::string& s, bool lower_hex) {
  const char* hex = lower_hex ? "0123456789abcdef" : "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

bool PercentDecode(const std::string& in, std::string* out, PercentDecoding how) {
  std::string r;
  r.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      const int hi = i + 2 < in.size() ? HexDigitValue(in[i + 1]) : -1;
      const int lo = i + 2 < in.size() ? HexDigitValue(in[i + 2]) : -1;
      if (hi >= 0 && lo >= 0) {
        c = static_cast<char>(hi * 16 + lo);
        i += 2;
      } else if (!how.keep_malformed) {
        return false;
      }
    } else if (c == '+' && how.plus_is_space) {
      c = ' ';
    }
    if (c == '\0' && how.refuse_nul) return false;
    r.push_back(c);
  }
  *out = std::move(r);
  return true;
}

std::string RedactUrl(const std::string& url) {
  auto sep = url.find("://");
  if (sep == std::string::npos) return url;
  const size_t start = sep + 3;
  size_t authority_end = url.find_first_of("/?#", start);
  if (authority_end == std::string::npos) authority_end = url.size();
  const std::string authority = url.substr(start, authority_end - start);

  size_t at = authority.rfind('@');
  if (at != std::string::npos) {
    // Credentials run to the last '@' (as ParseRedisUrl reads them): a raw
    // password may hold "@...://.../" itself. A path holding an '@' is then
    // hidden too, which is the safe way round.
    at = url.rfind('@');
  } else {
    // No '@' before the first '/': either no credentials, or a raw password
    // holding '/', '?' or '#' ("redis://:pa/ss@host"). Only "HOST:PORT" (or
    // "HOST") before the '/' means the former.
    size_t last_at = url.rfind('@');
    if (last_at == std::string::npos || last_at < start) return url;
    auto colon = authority.find(':');
    if (colon == std::string::npos) return url;
    if (colon > 0 && AllDigits(authority.substr(colon + 1))) return url;
    at = last_at;
  }
  const std::string userinfo = url.substr(start, at - start);
  auto colon = userinfo.find(':');
  if (colon == std::string::npos) return url;  // a user without a password
  return url.substr(0, start + colon + 1) + "***" + url.substr(at);
}

}  // namespace vigil
