// Issue 20: what a dependency says is reduced, once, to one line of
// printable UTF-8 of bounded length (checks/common/untrusted_text.h), and
// the renderers cannot be broken by any byte of a reason or a target.
#include "checks/common/untrusted_text.h"

#include <gtest/gtest.h>

#include "agent/http/api.h"
#include "agent/http/metrics.h"
#include "agent/http/render.h"
#include "checks/postgres/pg_dsn.h"

namespace vigil {
namespace {

TEST(UntrustedTextTest, OneLineOfPrintableUtf8) {
  EXPECT_EQ(UntrustedText("ERR plain"), "ERR plain");
  EXPECT_EQ(UntrustedText("a\nb\r\nc\td"), "a b c d");
  EXPECT_EQ(UntrustedText("\x1b[31mred"), "\xEF\xBF\xBD[31mred");
  EXPECT_EQ(UntrustedText("bad \xff\xfe byte"), "bad \xEF\xBF\xBD\xEF\xBF\xBD byte");
  EXPECT_EQ(UntrustedText(std::string("nul\0x", 5)), "nul\xEF\xBF\xBDx");
  EXPECT_EQ(UntrustedText("del\x7f c1\xc2\x85"), "del\xEF\xBF\xBD c1\xEF\xBF\xBD");
  EXPECT_EQ(UntrustedText("ls\xe2\x80\xa8ps\xe2\x80\xa9rlo\xe2\x80\xae"),
            "ls\xEF\xBF\xBDps\xEF\xBF\xBDrlo\xEF\xBF\xBD");
  EXPECT_EQ(UntrustedText("overlong \xc0\xaf surrogate \xed\xa0\x80"),
            "overlong \xEF\xBF\xBD\xEF\xBF\xBD surrogate \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(UntrustedText("caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80"),
            "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x98\x80");
  EXPECT_EQ(UntrustedText("  \n trimmed \n "), "trimmed");
}

TEST(UntrustedTextTest, BoundedAtACharacterBoundary) {
  const std::string long_text(10000, 'A');
  EXPECT_EQ(UntrustedText(long_text), std::string(kMaxUntrustedText, 'A') + "...");
  // Two-byte characters: never half of one.
  std::string e_acute;
  for (int i = 0; i < 200; ++i) e_acute += "\xc3\xa9";
  const std::string cut = UntrustedText(e_acute, 9);
  EXPECT_EQ(cut, "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9...");
}

TEST(UntrustedTextTest, HostNamesAndAddresses) {
  for (const char* ok : {"redis-1.cache.svc", "10.0.0.5", "::1", "fe80::1", "my_host"})
    EXPECT_TRUE(IsHostNameOrAddress(ok)) << ok;
  for (const char* bad : {"", "evil\xff", "a b", "x\ny", "a/b", "h:1", "[::1]", "a@b"})
    EXPECT_FALSE(IsHostNameOrAddress(bad)) << bad;
  EXPECT_FALSE(IsHostNameOrAddress(std::string(254, 'a')));
}

TEST(UntrustedTextTest, PostgresMessagesAreReduced) {
  EXPECT_EQ(PgErrorLine("FATAL:  bad \x1b[2J\xff thing\n", ""),
            "FATAL: bad \xEF\xBF\xBD[2J\xEF\xBF\xBD thing");
}

TEST(UntrustedTextTest, RenderersCannotBeBrokenByAReasonOrATarget) {
  CheckView c;
  c.name = "db";
  c.kind = "redis";
  c.role = "cache";
  c.required = true;
  c.status = Status::kFail;
  c.reason = "ERR x\n[+]forged ok\x1b\xff";
  c.target = "evil\xff\n\"host\":1";
  const std::string line = RenderCheckLine(c, true);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos) << line;
  EXPECT_EQ(line.find('\xff'), std::string::npos) << line;

  HealthSnapshot s;
  s.checks = {c};
  const std::string metrics = RenderMetrics(
      s, true, AgentCounters{}, nullptr, ScopesOf(s, nullptr, WallClock::now()), WallClock::now());
  EXPECT_EQ(metrics.find('\xff'), std::string::npos);
  EXPECT_NE(metrics.find("target=\"evil\xEF\xBF\xBD\\n\\\"host\\\":1\""), std::string::npos)
      << metrics;
  EXPECT_EQ(ValidUtf8("ok \xc3\xa9 \xff\n"), "ok \xc3\xa9 \xEF\xBF\xBD\n");
}

}  // namespace
}  // namespace vigil
