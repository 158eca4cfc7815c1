// What the agent learns of a kind from its CheckKind (log wording,
// /health?full componentType), and the one percent-decoder every parser
// uses (checks/common/url.h).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include "agent/log/reporter.h"

#include "checks/common/url.h"
#include "checks/registry.h"

namespace vigil {
namespace {

TEST(CheckKindTest, BuiltinKindsNameThemselves) {
  const CheckRegistry& registry = CheckRegistry::Builtin();
  struct Want {
    const char* name;
    const char* display;
    const char* component;
  };
  for (const Want& w :
       {Want{"redis", "Redis", "datastore"}, Want{"postgres", "PostgreSQL", "datastore"},
        Want{"tcp", "TCP", "component"}, Want{"http", "HTTP", "component"}}) {
    const CheckKind* kind = registry.Find(w.name);
    ASSERT_NE(kind, nullptr) << w.name;
    EXPECT_EQ(kind->display_name, w.display);
    EXPECT_EQ(kind->component_type, w.component);
    EXPECT_EQ(KindDisplayName(w.name), w.display);
  }
  EXPECT_EQ(KindDisplayName("nosuchkind"), "nosuchkind");
}

TEST(CheckKindTest, EveryRunIsTimedByTheRegistry) {
  auto kind = CheckRegistry::Builtin().Find("tcp");
  ASSERT_NE(kind, nullptr);
  nlohmann::json json = {{"address", "127.0.0.1:1"}};
  std::vector<std::string> secrets;
  CheckSpec spec{json, "checks[0]", &secrets};
  std::unique_ptr<Check> check = kind->create(spec);
  CheckResult r = check->Run(Clock::now() + std::chrono::seconds(5));
  EXPECT_GT(r.latency.count(), 0);
}

TEST(PercentDecodeTest, UserinfoByDefault) {
  std::string out = "kept";
  EXPECT_TRUE(PercentDecode("a%40b+c%00", &out));
  EXPECT_EQ(out, std::string("a@b+c\0", 6));
  out = "kept";
  EXPECT_FALSE(PercentDecode("50%", &out));
  EXPECT_FALSE(PercentDecode("%4", &out));
  EXPECT_FALSE(PercentDecode("%zz", &out));
  EXPECT_EQ(out, "kept");  // untouched on a malformed escape
}

TEST(PercentDecodeTest, RequestTargetForm) {
  PercentDecoding how;
  how.plus_is_space = true;
  how.refuse_nul = true;
  std::string out;
  EXPECT_TRUE(PercentDecode("a+b%2Bc", &out, how));
  EXPECT_EQ(out, "a b+c");
  EXPECT_FALSE(PercentDecode("a%00", &out, how));
  EXPECT_FALSE(PercentDecode(std::string("a\0b", 3), &out, how));
}

TEST(PercentDecodeTest, KeepingMalformedEscapes) {
  PercentDecoding how;
  how.keep_malformed = true;
  std::string out;
  EXPECT_TRUE(PercentDecode("p%41%zz%4", &out, how));
  EXPECT_EQ(out, "pA%zz%4");
}

}  // namespace
}  // namespace vigil
