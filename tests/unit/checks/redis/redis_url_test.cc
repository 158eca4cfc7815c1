// redis:// and redis+sentinel:// parsing, RedactUrl, and the redis kind's
// config handling (no network).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "checks/redis/redis_check.h"
#include "checks/redis/redis_url.h"
#include "checks/registry.h"

namespace vigil {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ErrorOf(const std::string& url) {
  try {
    ParseRedisUrl(url);
  } catch (const UrlError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(RedisUrlTest, HostOnlyTakesDefaults) {
  RedisUrl u = ParseRedisUrl("redis://redis-cache");
  EXPECT_FALSE(u.sentinel);
  ASSERT_EQ(u.hosts.size(), 1u);
  EXPECT_EQ(u.hosts[0].host, "redis-cache");
  EXPECT_EQ(u.hosts[0].port, 6379);
  EXPECT_EQ(u.db, 0);
  EXPECT_EQ(u.user, "");
  EXPECT_EQ(u.password, "");
}

TEST(RedisUrlTest, PortAndDb) {
  RedisUrl u = ParseRedisUrl("redis://10.0.0.5:6380/3");
  EXPECT_EQ(u.hosts[0].host, "10.0.0.5");
  EXPECT_EQ(u.hosts[0].port, 6380);
  EXPECT_EQ(u.db, 3);
  EXPECT_EQ(ParseRedisUrl("redis://h:1/").db, 0);
  EXPECT_EQ(ParseRedisUrl("redis://h/0").db, 0);
  EXPECT_EQ(ParseRedisUrl("REDIS://h/20").db, 20);
}

TEST(RedisUrlTest, Ipv6InBrackets) {
  RedisUrl u = ParseRedisUrl("redis://[::1]:7000");
  EXPECT_EQ(u.hosts[0].host, "::1");
  EXPECT_EQ(u.hosts[0].port, 7000);
  EXPECT_EQ(u.hosts[0].ToString(), "[::1]:7000");
  EXPECT_EQ(ParseRedisUrl("redis://[fe80::1]").hosts[0].port, 6379);
  EXPECT_THAT(ErrorOf("redis://::1:6379"), HasSubstr("brackets"));
}

TEST(RedisUrlTest, PasswordOnly) {
  RedisUrl u = ParseRedisUrl("redis://:s3cret@redis-session:6379");
  EXPECT_EQ(u.user, "");
  EXPECT_EQ(u.password, "s3cret");
  EXPECT_EQ(u.hosts[0].host, "redis-session");
}

TEST(RedisUrlTest, AclUserAndPassword) {
  RedisUrl u = ParseRedisUrl("redis://probe:pw@h:6379/2");
  EXPECT_EQ(u.user, "probe");
  EXPECT_EQ(u.password, "pw");
  EXPECT_EQ(u.db, 2);
}

TEST(RedisUrlTest, UserWithoutPassword) {
  RedisUrl u = ParseRedisUrl("redis://probe@h");
  EXPECT_EQ(u.user, "probe");
  EXPECT_EQ(u.password, "");
}

TEST(RedisUrlTest, PercentDecodesUserAndPassword) {
  RedisUrl u = ParseRedisUrl("redis://us%65r:p%40ss%3Aw%2Fo%25rd@h");
  EXPECT_EQ(u.user, "user");
  EXPECT_EQ(u.password, "p@ss:w/o%rd");
  EXPECT_EQ(u.password_as_written, "p%40ss%3Aw%2Fo%25rd");
  EXPECT_EQ(ParseRedisUrl("redis://:a+b@h").password, "a+b");
}

TEST(RedisUrlTest, RawSpecialCharactersInPasswordRunToLastAt) {
  // A password expanded from a Secret without encoding.
  RedisUrl u = ParseRedisUrl("redis://:pa/ss@w:rd@h:6380/1");
  EXPECT_EQ(u.password, "pa/ss@w:rd");
  EXPECT_EQ(u.hosts[0].host, "h");
  EXPECT_EQ(u.hosts[0].port, 6380);
  EXPECT_EQ(u.db, 1);
}

TEST(RedisUrlTest, Sentinel) {
  RedisUrl u = ParseRedisUrl("redis+sentinel://:pw@s1:26380,s2,[::1]:5000/mymaster/4");
  EXPECT_TRUE(u.sentinel);
  ASSERT_EQ(u.hosts.size(), 3u);
  EXPECT_EQ(u.hosts[0].ToString(), "s1:26380");
  EXPECT_EQ(u.hosts[1].ToString(), "s2:26379");
  EXPECT_EQ(u.hosts[2].ToString(), "[::1]:5000");
  EXPECT_EQ(u.master_name, "mymaster");
  EXPECT_EQ(u.db, 4);
  EXPECT_EQ(u.password, "pw");
  EXPECT_EQ(ParseRedisUrl("redis+sentinel://h1:26379,h2:26379/m").db, 0);
}

TEST(RedisUrlTest, SentinelNeedsMasterName) {
  EXPECT_THAT(ErrorOf("redis+sentinel://h1:26379"), HasSubstr("missing master name"));
  EXPECT_THAT(ErrorOf("redis+sentinel://h1:26379/"), HasSubstr("missing master name"));
  EXPECT_THAT(ErrorOf("redis+sentinel://h1/m/1/2"), HasSubstr("too many"));
  EXPECT_THAT(ErrorOf("redis+sentinel://h1,,h2/m"), HasSubstr("sentinel 2: missing host"));
}

TEST(RedisUrlTest, UnsupportedSchemeMessageIsExact) {
  EXPECT_EQ(ErrorOf("htp://redis:6379"), "unsupported scheme \"htp\"");
  EXPECT_EQ(ErrorOf("http://redis:6379"), "unsupported scheme \"http\"");
}

TEST(RedisUrlTest, TlsSchemes) {
  RedisUrl u = ParseRedisUrl("rediss://:pw@redis:6380/2");
  EXPECT_TRUE(u.tls);
  EXPECT_FALSE(u.sentinel);
  EXPECT_EQ(u.hosts[0].ToString(), "redis:6380");
  EXPECT_EQ(u.password, "pw");
  EXPECT_EQ(u.db, 2);
  RedisUrl s = ParseRedisUrl("REDISS+SENTINEL://s1,s2:26380/mymaster");
  EXPECT_TRUE(s.tls);
  EXPECT_TRUE(s.sentinel);
  EXPECT_EQ(s.master_name, "mymaster");
  EXPECT_FALSE(ParseRedisUrl("redis://r").tls);
}

TEST(RedisUrlTest, MalformedUrls) {
  EXPECT_THAT(ErrorOf("redis-cache:6379"), HasSubstr("want redis://"));
  EXPECT_THAT(ErrorOf(""), HasSubstr("want redis://"));
  EXPECT_THAT(ErrorOf("redis://"), HasSubstr("missing host"));
  EXPECT_THAT(ErrorOf("redis://:6379"), HasSubstr("missing host"));
  EXPECT_THAT(ErrorOf("redis://h:0"), HasSubstr("invalid port"));
  EXPECT_THAT(ErrorOf("redis://h:65536"), HasSubstr("invalid port"));
  EXPECT_THAT(ErrorOf("redis://h:abc"), HasSubstr("invalid port"));
  EXPECT_THAT(ErrorOf("redis://h/x"), HasSubstr("database must be a number"));
  EXPECT_THAT(ErrorOf("redis://h/-1"), HasSubstr("database must be a number"));
  EXPECT_THAT(ErrorOf("redis://h1,h2"), HasSubstr("redis+sentinel://"));
  EXPECT_THAT(ErrorOf("redis://h?db=1"), HasSubstr("query"));
  EXPECT_THAT(ErrorOf("redis://:bad%zzpw@h"), HasSubstr("password: invalid percent-encoding"));
  EXPECT_THAT(ErrorOf("redis://:bad%4@h"), HasSubstr("password: invalid percent-encoding"));
}

TEST(RedisUrlTest, ErrorsNeverHoldThePassword) {
  const std::string pw = "Hunter2secret";
  for (const std::string& url : {
           "redis://:" + pw + "@h:notaport",
           "redis://:" + pw + "@h/notadb",
           "redis://:" + pw + "%zz@h",
           "redis://u:" + pw + "@h1,h2",
           "rediss://:" + pw + "@h:0",
           "redis+sentinel://:" + pw + "@h1",
           "redis://:" + pw,                   // '@' forgotten: the password reads as a port
           "redis://" + pw + ":" + pw + "/x",  // as host, port and db
           "redis://:" + pw + "@h?x=" + pw,
       }) {
    std::string err = ErrorOf(url);
    EXPECT_NE(err, "(no error)") << url;
    EXPECT_THAT(err, Not(HasSubstr(pw))) << url;
  }
}

TEST(RedactUrlTest, HidesPasswordOfAnyScheme) {
  EXPECT_EQ(RedactUrl("redis://:s3cret@h:6379/0"), "redis://:***@h:6379/0");
  EXPECT_EQ(RedactUrl("redis://user:s3cret@h"), "redis://user:***@h");
  EXPECT_EQ(RedactUrl("postgresql://app:pw@db:5432/app"), "postgresql://app:***@db:5432/app");
  EXPECT_EQ(RedactUrl("redis+sentinel://:pw@s1:26379,s2:26379/m"),
            "redis+sentinel://:***@s1:26379,s2:26379/m");
  EXPECT_EQ(RedactUrl("redis://:p%40ss@h"), "redis://:***@h");
}

TEST(RedactUrlTest, RawSpecialCharactersInPassword) {
  EXPECT_EQ(RedactUrl("redis://:pa/ss@w:rd@h/1"), "redis://:***@h/1");
  EXPECT_EQ(RedactUrl("redis://:12345/6@h"), "redis://:***@h");
  EXPECT_EQ(RedactUrl("redis://u:a?b#c@h"), "redis://u:***@h");
}

TEST(RedactUrlTest, LeavesUrlsWithoutPasswordAlone) {
  for (const char* url : {"redis://h:6379/0", "redis://user@h", "http://h:8080/a?mail=a@b",
                          "http://h/path@x", "not a url", ""}) {
    EXPECT_EQ(RedactUrl(url), url);
  }
}

TEST(RedactUrlTest, NeverLeaksThePassword) {
  const std::string pw = "Zx9-pw";
  for (const std::string& url :
       {"redis://:" + pw + "@h", "redis://u:" + pw + "@h:1/2", "redis://:" + pw + "/@h",
        "redis://:" + pw + "@@h", "https://u:" + pw + "@h/x?y=z"}) {
    EXPECT_THAT(RedactUrl(url), Not(HasSubstr(pw))) << url;
  }
}

// The kind's factory: config errors name the field, the password goes to
// the secrets list, no network is touched.
class RedisKindTest : public ::testing::Test {
 protected:
  std::unique_ptr<Check> Create(const nlohmann::json& j) {
    CheckSpec spec{j, "checks[1]", &secrets_};
    return RedisCheckKind().create(spec);
  }
  std::string ErrorFor(const nlohmann::json& j) {
    try {
      Create(j);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "(no error)";
  }
  std::vector<std::string> secrets_;
};

TEST_F(RedisKindTest, Describes) {
  CheckKind k = RedisCheckKind();
  EXPECT_EQ(k.name, "redis");
  EXPECT_EQ(k.default_role, "cache");
  EXPECT_EQ(k.keys, (std::vector<std::string>{"url", "expect_role", "max_memory_ratio", "slow_ms",
                                              "password", "sentinel_password", "tls"}));
  ASSERT_NE(CheckRegistry::Builtin().Find("redis"), nullptr);
}

TEST_F(RedisKindTest, CreatesWithoutNetworkAndRegistersSecret) {
  auto check = Create({{"url", "redis://:p%40ss@redis-session:6380/2"}});
  ASSERT_NE(check, nullptr);
  EXPECT_EQ(check->Target(), "redis-session:6380");
  EXPECT_NE(std::find(secrets_.begin(), secrets_.end(), "p@ss"), secrets_.end());
  EXPECT_NE(std::find(secrets_.begin(), secrets_.end(), "p%40ss"), secrets_.end());
}

TEST_F(RedisKindTest, SentinelTargetListsSentinelsUntilAsked) {
  auto check = Create({{"url", "redis+sentinel://:pw@s1:26379,s2:26380/mymaster"}});
  EXPECT_EQ(check->Target(), "s1:26379,s2:26380");
}

TEST_F(RedisKindTest, UrlErrorsNameTheField) {
  EXPECT_EQ(ErrorFor({{"url", "htp://redis:6379"}}), "checks[1].url: unsupported scheme \"htp\"");
  EXPECT_EQ(ErrorFor({{"url", "rediss://:pw@r"}, {"tls", {{"bogus", 1}}}}),
            "checks[1].tls.bogus: unknown key");
  EXPECT_EQ(ErrorFor(nlohmann::json::object()), "checks[1].url: missing");
  EXPECT_EQ(ErrorFor({{"url", 5}}), "checks[1].url: must be a string");
}

TEST_F(RedisKindTest, OptionErrors) {
  EXPECT_EQ(ErrorFor({{"url", "redis://r"}, {"expect_role", "leader"}}),
            "checks[1].expect_role: want \"master\" or \"replica\"");
  EXPECT_THAT(ErrorFor({{"url", "redis+sentinel://s/m"}, {"expect_role", "replica"}}),
              HasSubstr("checks[1].expect_role:"));
  EXPECT_THAT(ErrorFor({{"url", "redis://r"}, {"max_memory_ratio", 1.5}}),
              HasSubstr("checks[1].max_memory_ratio: out of range"));
  EXPECT_THAT(ErrorFor({{"url", "redis://r"}, {"slow_ms", 0}}),
              HasSubstr("checks[1].slow_ms: out of range"));
  EXPECT_EQ(ErrorFor({{"url", "redis://r"}, {"expect_role", "slave"}, {"slow_ms", 50}}),
            "(no error)");
}

TEST_F(RedisKindTest, ConfigErrorNeverHoldsPassword) {
  std::string err = ErrorFor({{"url", "redis://:TopSecret9@r:bad"}});
  EXPECT_THAT(err, HasSubstr("checks[1].url:"));
  EXPECT_THAT(err, Not(HasSubstr("TopSecret9")));
}

}  // namespace
}  // namespace vigil
