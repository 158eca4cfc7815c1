#include "checks/http/http_url.h"

#include <arpa/inet.h>

#include <cctype>

#include "checks/url.h"

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

}  // namespace

std::string QuotedForMessage(const std::string& s, size_t max) {
  if (s.size() <= max) return "\"" + s + "\"";
  return "\"" + s.substr(0, max) + "...\"";
}

bool ParseHttpUrl(const std::string& url, HttpUrl* out, std::string* error) {
  *out = HttpUrl{};
  // Values from the URL are quoted in messages only when the URL carries no
  // userinfo: with a password in it, a malformed URL could be split in the
  // wrong place and a message would then show part of the password.
  // Nor when it names a password some other way: a libpq keyword string or a
  // ?password= query put in an http check by mistake.
  const std::string lower = AsciiLower(url);
  const bool may_echo = url.find('@') == std::string::npos &&
                        lower.find("pass") == std::string::npos &&
                        lower.find("pwd") == std::string::npos;
  auto echo = [&](const std::string& what) {
    return may_echo ? " " + QuotedForMessage(what) : std::string();
  };

  size_t sep = url.find("://");
  std::string scheme = sep == std::string::npos ? "" : url.substr(0, sep);
  if (!ValidUrlScheme(scheme)) {
    *error =
        "want http://HOST[:PORT]/PATH, got" + (may_echo ? echo(url) : " a URL without a scheme");
    return false;
  }
  scheme = AsciiLower(scheme);
  if (scheme != "http" && scheme != "https") {
    *error = "unsupported scheme " + QuotedForMessage(scheme) + " (want http or https)";
    return false;
  }
  out->tls = scheme == "https";
  if (out->tls) out->port = 443;

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

}  // namespace vigil
