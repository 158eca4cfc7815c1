#include "checks/http/http_url.h"

#include <arpa/inet.h>

#include <cctype>
#include <optional>

#include "checks/common/url.h"

namespace vigil {
namespace {

bool ValidHostName(const std::string& h) {
  if (h.empty() || h.size() > 253) return false;
  for (char c : h) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.' && c != '_')
      return false;
  }
  return true;
}

// No part of the URL but its scheme is quoted in a message: a malformed
// URL may have been split in the wrong place (a password read as the port
// when "@host" is left out), and any piece of it may then be a password.

// http or https; *sep is where "://" starts.
bool ReadScheme(const std::string& url, HttpUrl* out, size_t* sep, std::string* error) {
  *sep = url.find("://");
  std::string scheme = *sep == std::string::npos ? "" : url.substr(0, *sep);
  if (!ValidUrlScheme(scheme)) {
    // Not quoted: without its scheme, what looks like a host may be a
    // user name and a password ("app:secret").
    *error = "want http://HOST[:PORT]/PATH, got a URL without a scheme";
    return false;
  }
  scheme = AsciiLower(scheme);
  if (scheme != "http" && scheme != "https") {
    *error = "unsupported scheme " + QuotedForMessage(scheme) + " (want http or https)";
    return false;
  }
  out->tls = scheme == "https";
  if (out->tls) out->port = 443;
  return true;
}

// The user and password before the authority's last '@', which then holds
// what follows it.
bool ReadUserinfo(std::string* authority, HttpUrl* out, std::string* error) {
  size_t at = authority->rfind('@');
  if (at == std::string::npos) return true;
  std::string userinfo = authority->substr(0, at);
  authority->erase(0, at + 1);
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
  return true;
}

// "[v6]" or "[v6]:port": the host and, after a ':', *port_text.
bool ReadBracketedHost(const std::string& authority, HttpUrl* out,
                       std::optional<std::string>* port_text, std::string* error) {
  size_t close_br = authority.find(']');
  if (close_br == std::string::npos) {
    *error = "unterminated IPv6 address";
    return false;
  }
  out->host = authority.substr(1, close_br - 1);
  in6_addr a6{};
  if (inet_pton(AF_INET6, out->host.c_str(), &a6) != 1) {
    *error = "bad IPv6 address";
    return false;
  }
  std::string rest = authority.substr(close_br + 1);
  if (rest.empty()) return true;
  if (rest[0] != ':') {
    *error = "unexpected text after IPv6 address";
    return false;
  }
  *port_text = rest.substr(1);
  return true;
}

// "host" or "host:port".
bool ReadNamedHost(std::string authority, HttpUrl* out, std::optional<std::string>* port_text,
                   std::string* error) {
  size_t colon = authority.find(':');
  if (colon != std::string::npos) {
    if (authority.find(':', colon + 1) != std::string::npos) {
      *error = "IPv6 address must be in brackets";
      return false;
    }
    *port_text = authority.substr(colon + 1);
    authority.resize(colon);
  }
  out->host = authority;
  if (out->host.empty()) {
    *error = "missing host";
    return false;
  }
  if (!ValidHostName(out->host)) {
    *error = "bad host (want a host name or an IP address)";
    return false;
  }
  return true;
}

bool ReadPort(const std::string& port_text, HttpUrl* out, std::string* error) {
  bool digits = !port_text.empty() && port_text.size() <= 5;
  for (char c : port_text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) digits = false;
  }
  int port = digits ? std::stoi(port_text) : 0;
  if (port < 1 || port > 65535) {
    // Never quoted: "http://app:secret" (its '@host' left out) reads the
    // password as the port.
    *error = "bad port (want 1..65535)";
    return false;
  }
  out->port = port;
  return true;
}

// What follows the authority, without its fragment; "/" when empty.
bool ReadPathAndQuery(std::string rest, HttpUrl* out, std::string* error) {
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

}  // namespace

std::string QuotedForMessage(const std::string& s, size_t max) {
  if (s.size() <= max) return "\"" + s + "\"";
  return "\"" + s.substr(0, max) + "...\"";
}

bool ParseHttpUrl(const std::string& url, HttpUrl* out, std::string* error) {
  *out = HttpUrl{};
  size_t sep = 0;
  if (!ReadScheme(url, out, &sep, error)) return false;
  size_t auth_begin = sep + 3;
  size_t auth_end = url.find_first_of("/?#", auth_begin);
  if (auth_end == std::string::npos) auth_end = url.size();
  std::string authority = url.substr(auth_begin, auth_end - auth_begin);
  if (!ReadUserinfo(&authority, out, error)) return false;
  std::optional<std::string> port_text;
  const bool host_ok = !authority.empty() && authority[0] == '['
                           ? ReadBracketedHost(authority, out, &port_text, error)
                           : ReadNamedHost(authority, out, &port_text, error);
  if (!host_ok) return false;
  if (port_text && !ReadPort(*port_text, out, error)) return false;
  return ReadPathAndQuery(url.substr(auth_end), out, error);
}

}  // namespace vigil
