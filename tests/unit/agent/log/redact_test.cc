#include "agent/log/redact.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

TEST(Redact, ScrubsKnownSecretsPlainAndPercentEncoded) {
  Redactor r;
  r.SetSecrets({"p@ss/w0rd", ""});
  EXPECT_EQ(r.Scrub("auth failed for p@ss/w0rd"), "auth failed for ***");
  EXPECT_EQ(r.Scrub("url redis://:p%40ss%2Fw0rd@h"), "url redis://:***@h");
  EXPECT_EQ(r.Scrub("url redis://:p%40ss%2fw0rd@h"), "url redis://:***@h");
  EXPECT_EQ(r.Scrub("nothing here"), "nothing here");
}

TEST(Redact, UrlUserinfoAndKeywordsWithoutKnowingTheSecret) {
  EXPECT_EQ(RedactCredentials("postgresql://app:topsecret@db:5432/app"),
            "postgresql://app:***@db:5432/app");
  EXPECT_EQ(RedactCredentials("redis://:topsecret@h:6379/0"), "redis://:***@h:6379/0");
  EXPECT_EQ(RedactCredentials("host=db password=topsecret user=app"),
            "host=db password=*** user=app");
  EXPECT_EQ(RedactCredentials("host=db password='top secret' user=app"),
            "host=db password=*** user=app");
  EXPECT_EQ(RedactCredentials("x?password=topsecret&y=1"), "x?password=***&y=1");
  EXPECT_EQ(RedactCredentials("password authentication failed for user \"app\""),
            "password authentication failed for user \"app\"");
}

}  // namespace
}  // namespace vigil
