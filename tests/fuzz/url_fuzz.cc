// URL and DSN parsing and redaction (issue 7 item 2): for any input that
// carries a password, no text vigil could print — a parse error, a target,
// the redacted URL, a scrubbed line — contains that password.
//
// The input is a form selector, then fields separated by '\n': scheme, user,
// password, rest (host, port, path, query...). The harness builds the URL or
// DSN around the password itself, so it knows the secret exactly:
//   redis / redis+sentinel / any scheme:  SCHEME://USER:PASSWORD@REST
//   postgres URL:                         postgresql://USER:PASSWORD@REST
//   postgres query:                       postgresql://USER@REST?password=PASSWORD
//   libpq keywords:                       REST password=PASSWORD / password='PASSWORD'
//   http:                                 http://USER:PASSWORD@REST
// A property is only asked of a password of 4 bytes or more that occurs
// nowhere else in the input (so a find is a leak, not a coincidence), and is
// not in the output of the same call on the input with the password replaced
// by a placeholder (constant message text).
//
// RedactCredentials, which does not know the secret, is held to what it
// promises: URLs whose user and password are well formed (RFC 3986: no raw
// '/', '@', '?', '#' or white space) and password=VALUE keywords. It is also
// compared with the regular expressions it replaced.
#include <cstdint>
#include <cstring>
#include <regex>
#include <string>

#include "agent/log/redact.h"
#include "checks/http/http_url.h"
#include "checks/postgres/pg_dsn.h"
#include "checks/redis/redis_url.h"
#include "checks/registry.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using vigil::fuzz::Require;

constexpr char kPlaceholder[] = "\x01";

// The spellings of the password that must not be printed.
std::vector<std::string> Forms(const std::string& password) {
  std::vector<std::string> forms = {password};
  std::string decoded;
  if (vigil::PercentDecode(password, &decoded) && decoded != password && decoded.size() >= 4)
    forms.push_back(decoded);
  return forms;
}

// Does `output` give away the password? Only for a password worth asking
// about (see the top of the file).
bool Leaks(const std::string& output, const std::string& skeleton_output,
           const std::string& skeleton, const std::vector<std::string>& forms) {
  for (const std::string& f : forms) {
    if (f.size() < 4 || f.find("***") != std::string::npos) continue;
    if (skeleton.find(f) != std::string::npos) continue;
    if (skeleton_output.find(f) != std::string::npos) continue;
    if (output.find(f) != std::string::npos) return true;
  }
  return false;
}

// What vigil may print after parsing a URL of each kind: the error, or the
// target. `ok` says whether it parsed.
std::string RedisOutput(const std::string& url) {
  try {
    vigil::RedisUrl u = vigil::ParseRedisUrl(url);
    std::string out;
    for (const auto& h : u.hosts) out += h.ToString() + ",";
    return out + " master " + u.master_name + " db " + std::to_string(u.db);
  } catch (const vigil::UrlError& e) {
    return std::string("error: ") + e.what();
  }
}

std::string PgOutput(const std::string& url) {
  try {
    vigil::PgDsn d = vigil::ParsePgDsn(url, "checks[0].url");
    return d.Target();
  } catch (const vigil::ConfigError& e) {
    return std::string("error: ") + e.what();
  }
}

std::string HttpOutput(const std::string& url) {
  vigil::HttpUrl u;
  std::string error;
  if (!vigil::ParseHttpUrl(url, &u, &error)) return "error: " + error;
  return u.host + ":" + std::to_string(u.port);
}

// The implementation RedactCredentials had (std::regex), for short texts.
std::string RegexRedact(std::string text) {
  static const std::regex kUserinfo(R"(([A-Za-z][A-Za-z0-9+.-]*://[^:/@\s]*):[^@\s/]*@)");
  static const std::regex kKeyword(R"(((?:password|passwd|pwd)\s*[=:]\s*)('[^']*'|[^\s&;,]+))",
                                   std::regex::icase);
  if (text.find('@') != std::string::npos) text = std::regex_replace(text, kUserinfo, "$1:***@");
  if (text.find_first_of("=:") != std::string::npos)
    text = std::regex_replace(text, kKeyword, "$1***");
  return text;
}

bool AllOf(const std::string& s, bool (*pred)(unsigned char)) {
  for (unsigned char c : s)
    if (!pred(c)) return false;
  return true;
}

// RFC 3986 userinfo characters (unreserved, pct-encoded, sub-delims), ':' aside.
bool UserinfoChar(unsigned char c) {
  return std::isalnum(c) || std::strchr("-._~%!$&'()*+,;=", c) != nullptr;
}
bool PasswordChar(unsigned char c) { return c != 0 && (UserinfoChar(c) || c == ':'); }
bool UserChar(unsigned char c) { return c != 0 && UserinfoChar(c); }
bool SchemeChar(unsigned char c) { return std::isalnum(c) || c == '+' || c == '-' || c == '.'; }
bool KeywordValueChar(unsigned char c) {
  return c > 0x20 && c != '&' && c != ';' && c != ',' && c != '\'' && c < 0x7f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const int form = data[0] % 8;
  const std::string rest_of_input(reinterpret_cast<const char*>(data) + 1, size - 1);
  const std::vector<std::string> f = vigil::fuzz::SplitFields(rest_of_input, '\n', 4);
  const std::string &scheme = f[0], &user = f[1], &password = f[2], &rest = f[3];

  // The URL with the password, and with a placeholder in its place.
  auto build = [&](const std::string& pw) -> std::string {
    switch (form) {
      case 0:
        return "redis://" + user + ":" + pw + "@" + rest;
      case 1:
        return "redis+sentinel://" + user + ":" + pw + "@" + rest;
      case 2:
        return scheme + "://" + user + ":" + pw + "@" + rest;
      case 3:
        return "postgresql://" + user + ":" + pw + "@" + rest;
      case 4:
        return "postgresql://" + user + "@" + rest + "?password=" + pw;
      case 5:
        return rest + " password=" + pw;
      case 6:
        return rest + " password='" + pw + "'";
      default:
        return "http://" + user + ":" + pw + "@" + rest;
    }
  };
  const std::string url = build(password);
  const std::string skeleton = build(kPlaceholder);
  const std::vector<std::string> forms = Forms(password);

  // Parsers: the error text or the target. (With a scheme that is not one,
  // form 2 is no URL, and its "password" no password: "host=x://u:pw@" is
  // a libpq host.)
  using Output = std::string (*)(const std::string&);
  for (Output out : {RedisOutput, PgOutput, HttpOutput}) {
    if (form == 2 && !vigil::ValidUrlScheme(scheme)) break;
    // Nor is a keyword string's password one when the rest makes it a URL.
    if ((form == 5 || form == 6) && rest.find("://") != std::string::npos) break;
    const std::string o = out(url);
    if (Leaks(o, out(skeleton), skeleton, forms)) {
      vigil::fuzz::Fail("a parse error or target holds the password", url, o);
    }
  }

  // RedactUrl: for any password (raw '/', '@', ':', '?', '#' included), as
  // long as the user name is a user name and the scheme a scheme. One shape
  // is ambiguous by construction and left alone on purpose (a unit test pins
  // it): "app:12/34@db" reads like "host:8080/a?mail=a@b", so a password
  // whose part before its first raw '/', '?' or '#' is all digits, after a
  // non-empty user, is not asked about.
  const size_t raw = password.find_first_of("/?#");
  const bool ambiguous = !user.empty() && raw != std::string::npos && raw > 0 &&
                         password.find_first_not_of("0123456789") == raw;
  if ((form <= 3 || form == 7) && !ambiguous) {
    const bool plain_user = user.find_first_of(":/@?#") == std::string::npos;
    const std::string redacted = vigil::RedactUrl(url);
    if (plain_user && vigil::ValidUrlScheme(form == 2 ? scheme : "redis") &&
        Leaks(redacted, vigil::RedactUrl(skeleton), skeleton, forms)) {
      vigil::fuzz::Fail("RedactUrl left the password in", url, redacted);
    }
  }

  // RedactCredentials (no secret known): well-formed URLs and keywords.
  const std::string redacted = vigil::RedactCredentials(url);
  bool promised = false;
  if (form == 0 || form == 1 || form == 3 || form == 7 || form == 2) {
    const std::string s = form == 2 ? scheme : "x";
    promised = !s.empty() && std::isalpha(static_cast<unsigned char>(s[0])) &&
               AllOf(s, SchemeChar) && AllOf(user, UserChar) && AllOf(password, PasswordChar);
  } else if (form == 4 || form == 5 || form == 6) {
    // Text before it that is itself a keyword with an empty value, or an
    // unbalanced quote, takes the password as its own value or pairs with
    // its opening quote ("password=\n password='x'").
    std::string lower_rest = rest;
    for (char& c : lower_rest) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool plain_rest = rest.find('\'') == std::string::npos &&
                            lower_rest.find("pass") == std::string::npos &&
                            lower_rest.find("pwd") == std::string::npos;
    promised = plain_rest && (form == 6 ? password.find('\'') == std::string::npos
                                        : AllOf(password, KeywordValueChar));
  }
  if (promised && Leaks(redacted, vigil::RedactCredentials(skeleton), skeleton, forms)) {
    vigil::fuzz::Fail("RedactCredentials left a well-formed password in", url, redacted);
  }

  // The scrubber that knows the secret: every spelling goes, whatever is
  // around it.
  if (!password.empty() && password.find('*') == std::string::npos) {
    vigil::Redactor r;
    r.SetSecrets({password});
    for (const std::string& spelled :
         {password, vigil::PercentEncode(password, false), vigil::PercentEncode(password, true)}) {
      const std::string text = rest + spelled + scheme + spelled;
      const std::string scrubbed = r.Scrub(text);
      for (const std::string& needle : {password, vigil::PercentEncode(password, false),
                                        vigil::PercentEncode(password, true)}) {
        if (needle.size() >= 4 && (rest + scheme).find(needle) == std::string::npos &&
            scrubbed.find(needle) != std::string::npos) {
          vigil::fuzz::Fail("Redactor::Scrub left a known secret in", text, scrubbed);
        }
      }
    }
  }

  // Same results as the regular expressions it replaced (short texts: the
  // regex overflows the stack on long ones, which is why it went).
  for (const std::string& text : {url, rest_of_input}) {
    if (text.size() <= 2048) {
      const std::string want = RegexRedact(text);
      const std::string got = vigil::RedactCredentials(text);
      Require(got == want, "RedactCredentials differs from the regex it replaced", text,
              got + "\n  regex:  " + want);
    }
  }
  return 0;
}
