#include "checks/redis/redis_url.h"

#include <cctype>

namespace vigil {
namespace {

const char kRedisForm[] =
    "want redis://[[USER]:PASSWORD@]HOST[:PORT][/DB] or "
    "redis+sentinel://[[USER]:PASSWORD@]HOST:PORT[,HOST:PORT...]/MASTER[/DB]";

// "host", "host:port", "[v6]", "[v6]:port": *host and, when there is one,
// *port_text. `what` names the host in errors without repeating its text.
bool SplitHostText(const std::string& text, const std::string& what, std::string* host,
                   std::string* port_text) {
  if (!text.empty() && text[0] == '[') {
    auto close = text.find(']');
    if (close == std::string::npos || close == 1) {
      throw UrlError(what + ": malformed IPv6 address (want [ADDRESS]:PORT)");
    }
    *host = text.substr(1, close - 1);
    std::string after = text.substr(close + 1);
    if (after.empty()) return false;
    if (after[0] != ':') throw UrlError(what + ": malformed IPv6 address (want [ADDRESS]:PORT)");
    *port_text = after.substr(1);
    return true;
  }
  auto colon = text.find(':');
  if (colon != std::string::npos && text.find(':', colon + 1) != std::string::npos) {
    throw UrlError(what + ": an IPv6 address needs brackets ([ADDRESS]:PORT)");
  }
  *host = text.substr(0, colon);
  if (colon == std::string::npos) return false;
  *port_text = text.substr(colon + 1);
  return true;
}

// "host", "host:port", "[v6]", "[v6]:port". `what` names the host in errors
// ("host", "sentinel 2") without repeating its text.
HostAndPort ParseHostPort(const std::string& text, int default_port, const std::string& what) {
  HostAndPort hp;
  std::string port_text;
  const bool has_port = SplitHostText(text, what, &hp.host, &port_text);
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

// The scheme: sets out->sentinel and out->tls; returns what follows "://".
std::string ReadScheme(const std::string& url, RedisUrl* out) {
  auto sep = url.find("://");
  if (sep == std::string::npos || !ValidUrlScheme(url.substr(0, sep))) throw UrlError(kRedisForm);
  const std::string scheme = url.substr(0, sep);
  const std::string lower = AsciiLower(scheme);
  if (lower == "redis" || lower == "rediss") {
    out->sentinel = false;
    out->tls = lower == "rediss";
  } else if (lower == "redis+sentinel" || lower == "rediss+sentinel") {
    out->sentinel = true;
    out->tls = lower == "rediss+sentinel";
  } else {
    throw UrlError("unsupported scheme \"" + scheme + "\"");
  }
  return url.substr(sep + 3);
}

// The user and password before the last '@' of `rest`, which then holds
// what follows it. A password taken from a Secret may hold a raw '/', '@'
// or ':', and neither a database number nor a master name holds an '@'.
void ReadCredentials(std::string* rest, RedisUrl* out) {
  auto at = rest->rfind('@');
  if (at == std::string::npos) return;
  std::string userinfo = rest->substr(0, at);
  *rest = rest->substr(at + 1);
  auto colon = userinfo.find(':');
  if (!PercentDecode(userinfo.substr(0, colon), &out->user)) {
    throw UrlError("user: invalid percent-encoding (write '%' as %25)");
  }
  if (colon == std::string::npos) return;
  out->password_as_written = userinfo.substr(colon + 1);
  if (!PercentDecode(out->password_as_written, &out->password)) {
    throw UrlError("password: invalid percent-encoding (write '%' as %25)");
  }
}

// The Sentinels and /MASTER[/DB] of a redis+sentinel:// URL; `path` is
// nullptr when the URL has no '/'.
void ReadSentinels(const std::vector<std::string>& hosts, const std::string* path, RedisUrl* out) {
  for (size_t i = 0; i < hosts.size(); ++i) {
    out->hosts.push_back(
        ParseHostPort(hosts[i], kSentinelDefaultPort, "sentinel " + std::to_string(i + 1)));
  }
  std::vector<std::string> segments = Split(path != nullptr ? *path : "", '/');
  if (path == nullptr || segments[0].empty()) {
    throw UrlError("missing master name (redis+sentinel://HOST:PORT[,HOST:PORT...]/MASTER[/DB])");
  }
  if (segments.size() > 2) throw UrlError("too many path segments (want /MASTER[/DB])");
  out->master_name = segments[0];
  if (segments.size() == 2 && !segments[1].empty()) out->db = ParseDb(segments[1]);
}

}  // namespace

RedisUrl ParseRedisUrl(const std::string& url) {
  RedisUrl out;
  std::string rest = ReadScheme(url, &out);
  ReadCredentials(&rest, &out);
  if (rest.find_first_of("?#") != std::string::npos) {
    throw UrlError("query parameters and fragments are not supported");
  }
  auto slash = rest.find('/');
  const std::vector<std::string> hosts = Split(rest.substr(0, slash), ',');
  const std::string path = slash == std::string::npos ? "" : rest.substr(slash + 1);
  if (out.sentinel) {
    ReadSentinels(hosts, slash == std::string::npos ? nullptr : &path, &out);
    return out;
  }
  if (hosts.size() > 1) throw UrlError("several hosts: use redis+sentinel:// for Sentinel");
  out.hosts.push_back(ParseHostPort(hosts[0], kRedisDefaultPort, "host"));
  if (!path.empty()) out.db = ParseDb(path);
  return out;
}

}  // namespace vigil
