// The `http` kind's config side: URL parsing, the ConfigErrors it raises and
// the secrets it registers. No network.
#include "checks/http/http_check.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "checks/registry.h"

namespace vigil {
namespace {

struct Built {
  std::unique_ptr<Check> check;
  std::vector<std::string> secrets;
};

Built Create(const nlohmann::json& json) {
  const CheckKind* kind = CheckRegistry::Builtin().Find("http");
  if (kind == nullptr) throw std::runtime_error("no http kind");
  Built b;
  CheckSpec spec{json, "checks[3]", &b.secrets};
  b.check = kind->create(spec);
  return b;
}

// The ConfigError a config raises, or a test failure.
ConfigError ErrorFor(const nlohmann::json& json, std::vector<std::string>* secrets = nullptr) {
  const CheckKind* kind = CheckRegistry::Builtin().Find("http");
  std::vector<std::string> local;
  CheckSpec spec{json, "checks[3]", secrets != nullptr ? secrets : &local};
  try {
    kind->create(spec);
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "no ConfigError for " << json.dump();
  return ConfigError("", "");
}

TEST(HttpCheckKindTest, RegisteredWithKeysAndDefaultRole) {
  const CheckKind* kind = CheckRegistry::Builtin().Find("http");
  ASSERT_NE(kind, nullptr);
  EXPECT_EQ(kind->name, "http");
  EXPECT_EQ(kind->default_role, "app");
  EXPECT_EQ(kind->keys,
            (std::vector<std::string>{"url", "expect_body_contains", "expect_status", "tls"}));
  ASSERT_TRUE(kind->create);
}

TEST(HttpCheckKindTest, CreatesCheckWithoutTouchingNetwork) {
  // A name that would never resolve: creating must not try.
  Built b = Create({{"url", "http://never-resolved.invalid:8080/healthz"}});
  ASSERT_NE(b.check, nullptr);
  EXPECT_EQ(b.check->Target(), "never-resolved.invalid:8080");
  EXPECT_TRUE(b.secrets.empty());
}

TEST(HttpCheckKindTest, TargetDefaultsToPort80AndBracketsIpv6) {
  EXPECT_EQ(Create({{"url", "http://app/"}}).check->Target(), "app:80");
  EXPECT_EQ(Create({{"url", "http://[::1]:9000/x"}}).check->Target(), "[::1]:9000");
  EXPECT_EQ(Create({{"url", "HTTP://127.0.0.1:81"}}).check->Target(), "127.0.0.1:81");
}

TEST(HttpUrlTest, ParsesPartsAndDefaults) {
  HttpUrl u;
  std::string err;
  ASSERT_TRUE(ParseHttpUrl("http://127.0.0.1:8080/healthz?full=1#frag", &u, &err)) << err;
  EXPECT_EQ(u.host, "127.0.0.1");
  EXPECT_EQ(u.port, 8080);
  EXPECT_EQ(u.path_and_query, "/healthz?full=1");
  EXPECT_FALSE(u.has_userinfo);

  ASSERT_TRUE(ParseHttpUrl("http://app.default.svc", &u, &err)) << err;
  EXPECT_EQ(u.host, "app.default.svc");
  EXPECT_EQ(u.port, 80);
  EXPECT_EQ(u.path_and_query, "/");

  ASSERT_TRUE(ParseHttpUrl("http://app?x=1", &u, &err)) << err;
  EXPECT_EQ(u.path_and_query, "/?x=1");

  ASSERT_TRUE(ParseHttpUrl("http://[fe80::1]:81/a%20b", &u, &err)) << err;
  EXPECT_EQ(u.host, "fe80::1");
  EXPECT_EQ(u.port, 81);
  EXPECT_EQ(u.path_and_query, "/a%20b");
}

TEST(HttpUrlTest, UserinfoIsPercentDecoded) {
  HttpUrl u;
  std::string err;
  ASSERT_TRUE(ParseHttpUrl("http://probe:p%40ss%3Aw0rd@127.0.0.1:1/", &u, &err)) << err;
  EXPECT_TRUE(u.has_userinfo);
  EXPECT_EQ(u.user, "probe");
  EXPECT_EQ(u.password, "p@ss:w0rd");
  EXPECT_EQ(u.password_encoded, "p%40ss%3Aw0rd");
  EXPECT_EQ(u.host, "127.0.0.1");
}

TEST(HttpCheckKindTest, RegistersPasswordAsSecretInBothSpellings) {
  Built b = Create({{"url", "http://probe:s%3Dcret@app:8080/healthz"}});
  EXPECT_EQ(b.secrets, (std::vector<std::string>{"s=cret", "s%3Dcret"}));
  EXPECT_EQ(b.check->Target(), "app:8080");

  Built plain = Create({{"url", "http://probe:hunter2@app/"}});
  EXPECT_EQ(plain.secrets, (std::vector<std::string>{"hunter2"}));
}

TEST(HttpCheckKindTest, UnsupportedSchemeNamed) {
  ConfigError e = ErrorFor({{"url", "ftp://host/file"}});
  EXPECT_EQ(e.field(), "checks[3].url");
  EXPECT_NE(e.message().find("unsupported scheme \"ftp\""), std::string::npos) << e.what();
}

TEST(HttpCheckKindTest, HttpsParses) {
  HttpUrl u;
  std::string error;
  ASSERT_TRUE(ParseHttpUrl("https://app/healthz", &u, &error)) << error;
  EXPECT_TRUE(u.tls);
  EXPECT_EQ(u.port, 443);
  ASSERT_TRUE(ParseHttpUrl("HTTPS://app:8443/", &u, &error)) << error;
  EXPECT_EQ(u.port, 8443);
  ASSERT_TRUE(ParseHttpUrl("http://app/", &u, &error)) << error;
  EXPECT_FALSE(u.tls);
  EXPECT_EQ(u.port, 80);
}

TEST(HttpCheckKindTest, TlsObjectOnPlainHttpRefused) {
  ConfigError e = ErrorFor({{"url", "http://app/healthz"}, {"tls", {{"server_name", "app"}}}});
  EXPECT_EQ(e.field(), "checks[3].tls");
  EXPECT_EQ(e.message(), "TLS settings on a plain URL: use https://");
}

TEST(HttpCheckKindTest, UrlFaultsNamed) {
  struct Case {
    const char* url;
    const char* want;
  };
  const Case cases[] = {
      {"127.0.0.1:8080/healthz", "want http://HOST[:PORT]/PATH"},
      {"http://", "missing host"},
      {"http:///healthz", "missing host"},
      {"http://app:0/", "bad port (want 1..65535)"},
      {"http://app:65536/", "bad port (want 1..65535)"},
      {"http://app:http/", "bad port (want 1..65535)"},
      {"http://app:/", "bad port (want 1..65535)"},
      {"http://::1/", "IPv6 address must be in brackets"},
      {"http://[::1/", "unterminated IPv6 address"},
      {"http://[zz::1]/", "bad IPv6 address"},
      {"http://[::1]x/", "unexpected text after IPv6 address"},
      {"http://bad host/", "bad host (want a host name or an IP address)"},
      {"http://app/a b", "path must not contain spaces"},
      {"http://app/\x01", "path must not contain spaces"},
  };
  for (const Case& c : cases) {
    ConfigError e = ErrorFor({{"url", c.url}});
    EXPECT_EQ(e.field(), "checks[3].url") << c.url;
    EXPECT_NE(e.message().find(c.want), std::string::npos)
        << "url " << c.url << ": got \"" << e.message() << "\", want \"" << c.want << "\"";
  }
}

TEST(HttpCheckKindTest, UrlMissingOrNotString) {
  EXPECT_EQ(ErrorFor(nlohmann::json::object()).what(), std::string("checks[3].url: missing"));
  EXPECT_EQ(ErrorFor({{"url", 5}}).what(), std::string("checks[3].url: must be a string"));
  EXPECT_EQ(ErrorFor({{"url", ""}}).what(), std::string("checks[3].url: must not be empty"));
}

TEST(HttpCheckKindTest, ErrorsNeverCarryThePassword) {
  const char* urls[] = {
      "http://u:Secr3t%zz@app/",       // bad percent-encoding in the password
      "http://u:Secr3t@app:99999/",    // bad port
      "http://u:Secr3t@bad host/",     // bad host
      "http://u:Sec/r3t@app/",         // unencoded '/' splits the password
      "http://u:Secr3t@[::1/",         // unterminated IPv6
      "http://u:Secr3t@app:8080/a b",  // bad path
      "gopher://u:Secr3t@app/",        // bad scheme
      "http://u:Secr3tPw",             // '@host' left out: the password reads as the port
      "https://u:Secr3tPw/x",          // the same with a path
      "u:Secr3tPw",                    // no scheme
      "http://[Secr3tPw/",             // unterminated IPv6 address
      "http://[::1]Secr3tPw/",         // text after an IPv6 address
  };
  for (const char* url : urls) {
    std::vector<std::string> secrets;
    ConfigError e = ErrorFor({{"url", url}}, &secrets);
    std::string what = e.what();
    EXPECT_EQ(what.find("Secr3t"), std::string::npos) << what;
    EXPECT_EQ(what.find("r3t"), std::string::npos) << what;
    EXPECT_EQ(what.find("Sec"), std::string::npos) << what;
  }
}

TEST(HttpCheckKindTest, OptionalKeysValidated) {
  Built ok =
      Create({{"url", "http://app/"}, {"expect_body_contains", "ok"}, {"expect_status", 204}});
  EXPECT_NE(ok.check, nullptr);

  ConfigError e1 = ErrorFor({{"url", "http://app/"}, {"expect_body_contains", 1}});
  EXPECT_EQ(e1.what(), std::string("checks[3].expect_body_contains: must be a string"));
  ConfigError e2 = ErrorFor({{"url", "http://app/"}, {"expect_status", 600}});
  EXPECT_EQ(e2.field(), "checks[3].expect_status");
  ConfigError e3 = ErrorFor({{"url", "http://app/"}, {"expect_status", 200.5}});
  EXPECT_EQ(e3.what(), std::string("checks[3].expect_status: must be an integer"));
}

}  // namespace
}  // namespace vigil
