// The `postgres` kind's url handling: URL and keyword forms, the refusals,
// and that no password ever reaches an error text or the target.
#include <gtest/gtest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "checks/postgres/pg_dsn.h"
#include "checks/postgres/postgres_check.h"
#include "checks/registry.h"

namespace vigil {
namespace {

using nlohmann::json;

const char kField[] = "checks[0].url";

// The ConfigError ParsePgDsn throws for `url` (fails the test if none).
ConfigError ParseError(const std::string& url) {
  try {
    ParsePgDsn(url, kField);
  } catch (const ConfigError& e) {
    return e;
  }
  ADD_FAILURE() << "no error for " << url;
  return ConfigError("", "");
}

struct Built {
  std::unique_ptr<Check> check;
  std::vector<std::string> secrets;
};

Built Build(const json& j) {
  Built b;
  CheckSpec spec{j, "checks[0]", &b.secrets};
  b.check = PostgresCheckKind().create(spec);
  return b;
}

TEST(PostgresDsnTest, ParsesAFullUrl) {
  PgDsn d = ParsePgDsn("postgresql://app:s3cret@db.example:6432/appdb?sslmode=verify-full", kField);
  EXPECT_EQ(d.host, "db.example");
  EXPECT_EQ(d.port, 6432);
  EXPECT_EQ(d.password, "s3cret");
  EXPECT_EQ(d.Param("user"), "app");
  EXPECT_EQ(d.Param("dbname"), "appdb");
  EXPECT_EQ(d.Param("sslmode"), "verify-full");
  EXPECT_EQ(d.Param("password"), "");  // kept apart from the pass-through params
  EXPECT_EQ(d.Target(), "db.example:6432");
  EXPECT_EQ(d.secrets, std::vector<std::string>{"s3cret"});
}

TEST(PostgresDsnTest, PostgresSchemeDefaultsPortAndHost) {
  PgDsn d = ParsePgDsn("postgres://db/app", kField);
  EXPECT_EQ(d.Target(), "db:5432");
  EXPECT_TRUE(d.password.empty());
  EXPECT_TRUE(d.secrets.empty());

  PgDsn bare = ParsePgDsn("postgresql:///app", kField);
  EXPECT_EQ(bare.Target(), "localhost:5432");
}

TEST(PostgresDsnTest, SchemeIsCaseInsensitive) {
  EXPECT_EQ(ParsePgDsn("PostgreSQL://db:5433/app", kField).Target(), "db:5433");
}

TEST(PostgresDsnTest, Ipv6TargetIsBracketed) {
  EXPECT_EQ(ParsePgDsn("postgresql://u:pw@[::1]:5433/app", kField).Target(), "[::1]:5433");
  EXPECT_EQ(ParsePgDsn("host=::1 port=5433", kField).Target(), "[::1]:5433");
}

TEST(PostgresDsnTest, PercentEncodedPasswordIsDecodedAndBothFormsAreSecrets) {
  PgDsn d = ParsePgDsn("postgresql://app:p%40ss%2Fw@db/app", kField);
  EXPECT_EQ(d.password, "p@ss/w");
  EXPECT_EQ(d.Target(), "db:5432");
  EXPECT_NE(std::find(d.secrets.begin(), d.secrets.end(), "p@ss/w"), d.secrets.end());
  EXPECT_NE(std::find(d.secrets.begin(), d.secrets.end(), "p%40ss%2Fw"), d.secrets.end());
}

TEST(PostgresDsnTest, ParsesAKeywordString) {
  PgDsn d = ParsePgDsn(
      "host=db port=6543 user=app password='se cret' dbname=app sslmode=require "
      "sslrootcert=/etc/ca.pem",
      kField);
  EXPECT_EQ(d.Target(), "db:6543");
  EXPECT_EQ(d.password, "se cret");
  EXPECT_EQ(d.Param("sslmode"), "require");
  EXPECT_EQ(d.Param("sslrootcert"), "/etc/ca.pem");
  EXPECT_EQ(d.secrets, std::vector<std::string>{"se cret"});
}

TEST(PostgresDsnTest, HostaddrWithoutHostIsTheTarget) {
  EXPECT_EQ(ParsePgDsn("hostaddr=10.1.2.3 port=5433", kField).Target(), "10.1.2.3:5433");
}

TEST(PostgresDsnTest, UnixSocketDirectory) {
  PgDsn d = ParsePgDsn("host=/run/postgresql port=5433", kField);
  EXPECT_TRUE(d.IsUnixSocket());
  EXPECT_EQ(d.Target(), "/run/postgresql:5433");
}

TEST(PostgresDsnTest, RefusesAnotherScheme) {
  ConfigError e = ParseError("mysql://root:hunter2@db/app");
  EXPECT_EQ(e.field(), kField);
  EXPECT_EQ(e.message(), "unsupported scheme \"mysql\"");
  EXPECT_STREQ(e.what(), "checks[0].url: unsupported scheme \"mysql\"");
}

TEST(PostgresDsnTest, RefusesTextThatIsNeitherUrlNorKeywords) {
  ConfigError e = ParseError("db.example:5432");
  EXPECT_NE(e.message().find("postgres://"), std::string::npos) << e.message();
}

TEST(PostgresDsnTest, RefusesSeveralHosts) {
  ConfigError e = ParseError("postgresql://u:pw@h1:5432,h2:5433/app");
  EXPECT_NE(e.message().find("several hosts"), std::string::npos) << e.message();
}

TEST(PostgresDsnTest, RefusesABadPort) {
  ConfigError e = ParseError("postgresql://u:pw@h:99999/app");
  EXPECT_NE(e.message().find("port"), std::string::npos) << e.message();
  EXPECT_EQ(e.message().find("pw@"), std::string::npos) << e.message();
}

TEST(PostgresDsnTest, KeepsOptionNamesInLibpqErrors) {
  ConfigError e = ParseError("host=h password=pw123456 bogus=1");
  EXPECT_EQ(e.message(), "invalid connection option \"bogus\"");
}

// libpq's own parse errors quote the input, sometimes the whole url: none of
// these may show the password, in any form.
struct LeakCase {
  const char* url;
  const char* password;
};

class PostgresDsnLeakTest : public ::testing::TestWithParam<LeakCase> {};

TEST_P(PostgresDsnLeakTest, PasswordNeverInErrorText) {
  const LeakCase& c = GetParam();
  ConfigError e = ParseError(c.url);
  EXPECT_EQ(std::string(e.what()).find(c.password), std::string::npos) << e.what();
  EXPECT_EQ(e.message().find('\n'), std::string::npos) << e.what();
  EXPECT_FALSE(e.message().empty());
}

INSTANTIATE_TEST_SUITE_P(
    Urls, PostgresDsnLeakTest,
    ::testing::Values(LeakCase{"postgresql://u:hunter2@[::1/db", "hunter2"},
                      LeakCase{"postgresql://u:hun%zzter2@h/db", "zzter2"},
                      LeakCase{"postgresql://u:pa\"ss-word9@[::1/db", "ss-word9"},
                      LeakCase{"postgresql://u@h/db?password=hunter2&x", "hunter2"},
                      LeakCase{"postgresql://u@h/db?password=hunter2&a=b=c", "hunter2"},
                      LeakCase{"postgresql://u:pw@h/db?bogus=hunter2", "hunter2"},
                      LeakCase{"postgresql://u:hunter2@h/db%00", "hunter2"},
                      LeakCase{"host=h password='hunter2", "hunter2"},
                      LeakCase{"host=h password=hunter2 sslmode", "hunter2"},
                      LeakCase{"host=h password hunter2", "hunter2"},
                      LeakCase{"mysql://u:hunter2@h/db", "hunter2"}));

TEST(PostgresErrorLineTest, PicksTheLastAttemptAndOneLine) {
  const std::string msg =
      "connection to server at \"::1\", port 5432 failed: Connection refused\n"
      "\tIs the server running on that host and accepting TCP/IP connections?\n"
      "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  password "
      "authentication failed for user \"app\"\n";
  EXPECT_EQ(PgErrorLine(msg, "pw"),
            "connection to server at \"127.0.0.1\", port 5432 failed: FATAL: password "
            "authentication failed for user \"app\"");
}

TEST(PostgresErrorLineTest, ScrubsThePassword) {
  EXPECT_EQ(PgErrorLine("ERROR:  oops hunter2 here\nDETAIL: hunter2\n", "hunter2"),
            "ERROR: oops *** here");
  EXPECT_EQ(PgErrorLine("", "x"), "unknown error");
}

TEST(PostgresKindTest, DeclaresKeysAndDefaultRole) {
  CheckKind kind = PostgresCheckKind();
  EXPECT_EQ(kind.name, "postgres");
  EXPECT_EQ(kind.default_role, "database");
  EXPECT_EQ(kind.keys, (std::vector<std::string>{"url", "require_primary", "max_replication_lag_s",
                                                 "keep_open", "statement_timeout_ms", "tls"}));
}

TEST(PostgresKindTest, BuildsWithoutTouchingTheNetworkAndRegistersTheSecret) {
  // A name that cannot resolve: building must not try.
  Built b = Build({{"url", "postgresql://app:t0psecret@db.invalid:5433/app"},
                   {"require_primary", true},
                   {"max_replication_lag_s", 2.5},
                   {"keep_open", false},
                   {"statement_timeout_ms", 1500}});
  ASSERT_NE(b.check, nullptr);
  EXPECT_EQ(b.check->Target(), "db.invalid:5433");
  EXPECT_EQ(b.secrets, std::vector<std::string>{"t0psecret"});
}

TEST(PostgresKindTest, ErrorsNameTheField) {
  auto field_of = [](const json& j) -> std::string {
    try {
      Build(j);
    } catch (const ConfigError& e) {
      EXPECT_EQ(std::string(e.what()).find("t0psecret"), std::string::npos) << e.what();
      return e.field();
    }
    return "no error";
  };
  EXPECT_EQ(field_of(json::object()), "checks[0].url");
  EXPECT_EQ(field_of({{"url", "redis://:t0psecret@h"}}), "checks[0].url");
  EXPECT_EQ(field_of({{"url", "postgresql://u:t0psecret@h/db"}, {"keep_open", "yes"}}),
            "checks[0].keep_open");
  EXPECT_EQ(field_of({{"url", "postgresql://u:t0psecret@h/db"}, {"max_replication_lag_s", -1}}),
            "checks[0].max_replication_lag_s");
  EXPECT_EQ(field_of({{"url", "postgresql://u:t0psecret@h/db"}, {"statement_timeout_ms", 0}}),
            "checks[0].statement_timeout_ms");
  EXPECT_EQ(field_of({{"url", "postgresql://u:t0psecret@h/db"}, {"require_primary", 1}}),
            "checks[0].require_primary");
}

}  // namespace
}  // namespace vigil
