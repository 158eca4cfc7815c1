#include "checks/url.h"

#include <algorithm>
#include <cctype>

namespace vigil {
namespace {

const char kRedisForm[] =
    "want redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or "
    "redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]";

bool AllDigits(const std::string& s) {
  return !s.empty() &&
         std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; });
}

// "host", "host:port", "[v6]", "[v6]:port". `what` names the host in errors
// ("host", "sentinel 2") without repeating its text.
HostAndPort ParseHostPort(const std::string& text, int default_port, const std::string& what) {
  HostAndPort hp;
  std::string port_text;
  bool has_port = false;
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close == 1) {
      throw UrlError(what + ": malformed IPv6 address (want [ADDRESS]:PORT)");
    }
    hp.host = text.substr(1, close - 1);
    std::string after = text.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') throw UrlError(what + ": malformed IPv6 address (want [ADDRESS]:PORT)");
      port_text = after.substr(1);
      has_port = true;
    }
  } else {
    auto colon = text.find(':');
    if (colon != std::string::npos && text.find(':', colon + 1) != std::string::npos) {
      throw UrlError(what + ": an IPv6 address needs brackets ([ADDRESS]:PORT)");
    }
    hp.host = text.substr(0, colon);
    if (colon != std::string::npos) {
      port_text = text.substr(colon + 1);
      has_port = true;
    }
  }
  if (hp.host.empty()) throw UrlError(what + ": missing host");
  for (unsigned char c : hp.host) {
    if (std::isspace(c) || c < 0x20 || c == '%' || c == '@') {
      throw UrlError(what + ": invalid character in host");
    }
  }
  hp.port = default_port;
  if (has_port) {
    if (!AllDigits(port_text) || port_text.size() > 5 || std::stoi(port_text) < 1 ||
        std::stoi(port_text) > 65535) {
      throw UrlError(what + ": invalid port (want 1-65535)");
    }
    hp.port = std::stoi(port_text);
  }
  return hp;
}

int ParseDb(const std::string& text) {
  if (!AllDigits(text) || text.size() > 9) {
    throw UrlError("database must be a number (redis://HOST:PORT/DB, DB 0 or more)");
  }
  return std::stoi(text);
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string::npos ? std::string::npos : pos - start));
    if (pos == std::string::npos) return out;
    start = pos + 1;
  }
}

}  // namespace

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

bool PercentDecode(const std::string& in, std::string* out) {
  std::string r;
  r.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      r.push_back(in[i]);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = HexDigitValue(in[i + 1]);
    int lo = HexDigitValue(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    r.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  *out = std::move(r);
  return true;
}

RedisUrl ParseRedisUrl(const std::string& url) {
  auto sep = url.find("://");
  if (sep == std::string::npos || !ValidUrlScheme(url.substr(0, sep))) throw UrlError(kRedisForm);
  const std::string scheme = url.substr(0, sep);
  const std::string lower = AsciiLower(scheme);

  RedisUrl out;
  if (lower == "redis" || lower == "rediss") {
    out.sentinel = false;
    out.tls = lower == "rediss";
  } else if (lower == "redis+sentinel" || lower == "rediss+sentinel") {
    out.sentinel = true;
    out.tls = lower == "rediss+sentinel";
  } else {
    throw UrlError("unsupported scheme \"" + scheme + "\"");
  }

  std::string rest = url.substr(sep + 3);
  // The credentials run to the last '@': a password taken from a Secret may
  // hold a raw '/', '@' or ':', and neither a database number nor a master
  // name holds an '@'.
  auto at = rest.rfind('@');
  if (at != std::string::npos) {
    std::string userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    auto colon = userinfo.find(':');
    std::string user_text = userinfo.substr(0, colon);
    if (!PercentDecode(user_text, &out.user)) {
      throw UrlError("user: invalid percent-encoding (write '%' as %25)");
    }
    if (colon != std::string::npos) {
      out.password_as_written = userinfo.substr(colon + 1);
      if (!PercentDecode(out.password_as_written, &out.password)) {
        throw UrlError("password: invalid percent-encoding (write '%' as %25)");
      }
    }
  }
  if (rest.find_first_of("?#") != std::string::npos) {
    throw UrlError("query parameters and fragments are not supported");
  }

  auto slash = rest.find('/');
  const std::string hosts_text = rest.substr(0, slash);
  const std::string path = slash == std::string::npos ? "" : rest.substr(slash + 1);
  std::vector<std::string> hosts = Split(hosts_text, ',');

  if (!out.sentinel) {
    if (hosts.size() > 1) throw UrlError("several hosts: use redis+sentinel:// for Sentinel");
    out.hosts.push_back(ParseHostPort(hosts[0], kRedisDefaultPort, "host"));
    if (!path.empty()) out.db = ParseDb(path);
    return out;
  }

  for (size_t i = 0; i < hosts.size(); ++i) {
    out.hosts.push_back(
        ParseHostPort(hosts[i], kSentinelDefaultPort, "sentinel " + std::to_string(i + 1)));
  }
  std::vector<std::string> segments = Split(path, '/');
  if (slash == std::string::npos || segments[0].empty()) {
    throw UrlError("missing master name (redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER[/DB])");
  }
  if (segments.size() > 2) throw UrlError("too many path segments (want /MASTER[/DB])");
  out.master_name = segments[0];
  if (segments.size() == 2 && !segments[1].empty()) out.db = ParseDb(segments[1]);
  return out;
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
