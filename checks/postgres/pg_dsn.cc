#include "checks/postgres/pg_dsn.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cctype>
#include <memory>

#include "checks/common/untrusted_text.h"
#include "checks/common/url.h"
#include "checks/registry.h"

namespace vigil {
namespace {

constexpr int kDefaultPort = 5432;

// The scheme of "scheme://..." or "" when `url` is not shaped like a URL
// (a keyword string may hold "://" inside a quoted value).
std::string SchemeOf(const std::string& url) {
  auto sep = url.find("://");
  if (sep == std::string::npos) return {};
  std::string scheme = url.substr(0, sep);
  return ValidUrlScheme(scheme) ? scheme : std::string();
}

// A malformed escape stays as written: the input is a guess at a password
// that libpq may have read either way.
std::string PercentDecodeLenient(const std::string& s) {
  PercentDecoding how;
  how.keep_malformed = true;
  std::string out;
  PercentDecode(s, &out, how);  // never false when keeping malformed escapes
  return out;
}

// Best-effort guesses at the password inside a url that libpq refused: used
// only to decide which quoted pieces of libpq's message must not be shown.
std::vector<std::string> PasswordCandidates(const std::string& url, bool is_uri) {
  std::vector<std::string> out;
  auto add = [&out](const std::string& s) {
    if (s.empty()) return;
    out.push_back(s);
    std::string d = PercentDecodeLenient(s);
    if (d != s && !d.empty()) out.push_back(d);
  };
  if (is_uri) {
    size_t start = url.find("://") + 3;
    // libpq takes the user info up to the first '@' before any '/'; a
    // malformed url may put the '@' elsewhere, so try both readings.
    for (size_t at : {url.find('@', start), url.rfind('@')}) {
      if (at == std::string::npos || at < start) continue;
      std::string userinfo = url.substr(start, at - start);
      auto colon = userinfo.find(':');
      if (colon != std::string::npos) add(userinfo.substr(colon + 1));
    }
    for (size_t p = url.find("password="); p != std::string::npos;
         p = url.find("password=", p + 1)) {
      size_t v = p + 9;
      add(url.substr(v, url.find('&', v) - v));
    }
    return out;
  }
  for (size_t p = url.find("password"); p != std::string::npos; p = url.find("password", p + 1)) {
    size_t i = p + 8;
    while (i < url.size() && std::isspace(static_cast<unsigned char>(url[i]))) ++i;
    if (i >= url.size() || url[i] != '=') continue;
    ++i;
    while (i < url.size() && std::isspace(static_cast<unsigned char>(url[i]))) ++i;
    if (i < url.size() && url[i] == '\'') {
      std::string v;
      for (++i; i < url.size() && url[i] != '\''; ++i) {
        if (url[i] == '\\' && i + 1 < url.size()) ++i;
        v.push_back(url[i]);
      }
      add(v);
      add(url.substr(p));  // an unterminated quote: everything after it
    } else {
      size_t end = i;
      while (end < url.size() && !std::isspace(static_cast<unsigned char>(url[end]))) ++end;
      add(url.substr(i, end - i));
    }
  }
  return out;
}

// A quoted piece of libpq's message may be shown when it is plainly an option
// name or a single punctuation mark, and shares nothing with the password.
bool SafeToShow(const std::string& piece, const std::vector<std::string>& candidates) {
  if (piece.empty() || piece.size() > 40) return false;
  if (piece.size() == 1 && std::ispunct(static_cast<unsigned char>(piece[0]))) {
    // "expected ":" or "/"" and the like.
  } else {
    for (char c : piece) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
        return false;
    }
  }
  for (const auto& c : candidates) {
    if (c.find(piece) != std::string::npos || piece.find(c) != std::string::npos) return false;
  }
  return true;
}

std::string FirstLine(const std::string& s) {
  auto nl = s.find('\n');
  std::string line = s.substr(0, nl);
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  return line;
}

// libpq's parse error, with every quoted piece that might be the password
// (or the whole url) replaced by "...".
std::string RedactParseError(const std::string& message, const std::vector<std::string>& cands) {
  std::string line = FirstLine(message);
  std::string out;
  size_t i = 0;
  while (i < line.size()) {
    size_t open = line.find('"', i);
    if (open == std::string::npos) {
      out += line.substr(i);
      break;
    }
    size_t close = line.find('"', open + 1);
    if (close == std::string::npos) {
      // An unbalanced quote: show nothing after it.
      out += line.substr(i, open - i) + "\"...\"";
      break;
    }
    std::string piece = line.substr(open + 1, close - open - 1);
    out += line.substr(i, open - i);
    if (!SafeToShow(piece, cands)) {
      // User input may itself hold quotes: hide everything up to the last
      // quote of the line (libpq quotes the input last, or alone). Not even
      // that when the line was cut at a newline inside the input, or its
      // quotes do not pair: the last quote may then open user input.
      const size_t nl = message.find('\n');
      const bool cut =
          nl != std::string::npos && message.find_first_not_of(" \t\r\n", nl) != std::string::npos;
      const bool paired = std::count(line.begin(), line.end(), '"') % 2 == 0;
      out += "\"...\"";
      if (!cut && paired) out += line.substr(line.rfind('"') + 1);
      break;
    }
    out += "\"" + piece + "\"";
    i = close + 1;
  }
  // Defence in depth: no candidate survives anywhere in the text.
  for (const auto& c : cands) {
    if (c.size() < 3) continue;  // too short to scrub without mangling words
    for (size_t p = out.find(c); p != std::string::npos; p = out.find(c, p + 3))
      out.replace(p, c.size(), "***");
  }
  if (out.empty()) out = "cannot parse";
  return out;
}

bool ParsePort(const std::string& s, int* port) {
  if (s.empty() || s.size() > 5) return false;
  for (char c : s)
    if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  int n = std::stoi(s);
  if (n < 1 || n > 65535) return false;
  *port = n;
  return true;
}

struct ConninfoFree {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};

// The text libpq is given: a URL with its scheme in lower case, or the
// keyword string as it is. Throws ConfigError on anything else.
std::string LibpqText(const std::string& url, const std::string& scheme, const std::string& field) {
  if (scheme.empty()) {
    if (url.find('=') == std::string::npos) {
      throw ConfigError(field, "want a postgres:// or postgresql:// URL, or libpq key=value pairs");
    }
    return url;
  }
  std::string lower = AsciiLower(scheme);
  if (lower != "postgres" && lower != "postgresql") {
    throw ConfigError(field, "unsupported scheme \"" + scheme + "\"");
  }
  return lower + url.substr(scheme.size());  // libpq wants the scheme in lower case
}

// The keywords libpq read, into *dsn (the port as written into *port_text).
void ReadKeywords(const PQconninfoOption* opts, const std::string& field, PgDsn* dsn,
                  std::string* port_text) {
  for (const PQconninfoOption* o = opts; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string key = o->keyword;
    const std::string val = o->val;
    // "host=${PGHOST} password=pw" with PGHOST empty reads as a host of
    // "password=pw", which /health would then show as the target.
    if (key != "password" &&
        (AsciiLower(val).find("password") != std::string::npos ||
         ((key == "host" || key == "hostaddr") && val.find('=') != std::string::npos))) {
      throw ConfigError(field,
                        "the value of " + key + " holds a keyword (an empty value before it?)");
    }
    if (key == "host") {
      dsn->host = val;
    } else if (key == "hostaddr") {
      dsn->hostaddr = val;
    } else if (key == "port") {
      *port_text = val;
    } else if (key == "password") {
      dsn->password = val;
    } else if (key == "service") {
      throw ConfigError(field, "service files are not supported: name the host and port");
    } else {
      dsn->params.emplace_back(key, val);
    }
  }
}

// One host, a name or an address (a socket directory aside): anything else
// is a URL that libpq split in the wrong place — a raw '/', '@' or '[' in
// the password puts the password into the host, which /health shows.
void RefuseOddHosts(const PgDsn& dsn, const std::string& port_text, const std::string& field) {
  if (dsn.host.find(',') != std::string::npos || dsn.hostaddr.find(',') != std::string::npos ||
      port_text.find(',') != std::string::npos) {
    throw ConfigError(field, "several hosts are not supported: use one check per host");
  }
  auto plain = [](const std::string& h) {
    return std::all_of(h.begin(), h.end(), [](char ch) {
      const unsigned char c = static_cast<unsigned char>(ch);
      return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '%';
    });
  };
  auto path = [](const std::string& h) {
    return std::all_of(h.begin() + 1, h.end(), [](char ch) {
      const unsigned char c = static_cast<unsigned char>(ch);
      return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '/' || c == '+';
    });
  };
  const bool socket_dir = !dsn.host.empty() && (dsn.host[0] == '/' || dsn.host[0] == '@');
  if (!(socket_dir ? path(dsn.host) : plain(dsn.host)) || !plain(dsn.hostaddr)) {
    throw ConfigError(field,
                      "host is not a host name or address (percent-encode '/', '@', '[', ':' "
                      "and the like in a password)");
  }
}

}  // namespace

std::string PgDsn::Target() const {
  const std::string& h = host.empty() ? hostaddr : host;
  if (h.find(':') != std::string::npos && !IsUnixSocket())
    return "[" + h + "]:" + std::to_string(port);
  return h + ":" + std::to_string(port);
}

bool PgDsn::IsUnixSocket() const {
  return hostaddr.empty() && !host.empty() && (host[0] == '/' || host[0] == '@');
}

std::string PgDsn::Param(const std::string& keyword) const {
  for (const auto& kv : params)
    if (kv.first == keyword) return kv.second;
  return {};
}

PgDsn ParsePgDsn(const std::string& url, const std::string& field) {
  const std::string scheme = SchemeOf(url);
  const bool is_uri = !scheme.empty();
  const std::string text = LibpqText(url, scheme, field);
  char* err = nullptr;
  std::unique_ptr<PQconninfoOption, ConninfoFree> opts(PQconninfoParse(text.c_str(), &err));
  if (!opts) {
    std::string message = err != nullptr ? err : "cannot parse";
    if (err != nullptr) PQfreemem(err);
    throw ConfigError(field, RedactParseError(message, PasswordCandidates(url, is_uri)));
  }

  PgDsn dsn;
  std::string port_text;
  ReadKeywords(opts.get(), field, &dsn, &port_text);
  RefuseOddHosts(dsn, port_text, field);
  if (port_text.empty()) {
    dsn.port = kDefaultPort;
  } else if (!ParsePort(port_text, &dsn.port)) {
    // Never quoted: "postgres://app:secret/db" (its '@host' left out) gives
    // libpq the password as the port.
    throw ConfigError(field, "port must be a number in 1..65535");
  }
  if (dsn.host.empty() && dsn.hostaddr.empty()) dsn.host = "localhost";

  if (!dsn.password.empty()) {
    dsn.secrets.push_back(dsn.password);
    // The password as written in the url, when it was percent-encoded.
    for (const auto& c : PasswordCandidates(url, is_uri)) {
      if (c != dsn.password && PercentDecodeLenient(c) == dsn.password) dsn.secrets.push_back(c);
    }
  }
  return dsn;
}

std::string PgErrorLine(const std::string& message, const std::string& password) {
  // libpq reports every address it tried, one "connection to server at ..."
  // line each, followed by hint lines; the last attempt is the telling one.
  std::vector<std::string> lines;
  size_t start = 0;
  while (start <= message.size()) {
    size_t nl = message.find('\n', start);
    std::string line = message.substr(start, nl == std::string::npos ? nl : nl - start);
    // Collapse runs of whitespace ("FATAL:  sorry" -> "FATAL: sorry", tabs).
    std::string clean;
    for (char c : line) {
      if (std::isspace(static_cast<unsigned char>(c))) {
        if (!clean.empty() && clean.back() != ' ') clean.push_back(' ');
      } else {
        clean.push_back(c);
      }
    }
    while (!clean.empty() && clean.back() == ' ') clean.pop_back();
    if (!clean.empty()) lines.push_back(clean);
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  std::string out;
  for (const auto& l : lines)
    if (l.rfind("connection to server", 0) == 0) out = l;
  if (out.empty() && !lines.empty()) out = lines.front();
  if (out.empty()) out = "unknown error";
  if (!password.empty()) {
    for (size_t p = out.find(password); p != std::string::npos; p = out.find(password, p + 3))
      out.replace(p, password.size(), "***");
  }
  // What the server says is untrusted text: one line of printable UTF-8.
  return UntrustedText(out);
}

}  // namespace vigil
