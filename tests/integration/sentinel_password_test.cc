// redis+sentinel:// against real Sentinels that require a password: the
// URL's password or `sentinel_password` for the Sentinels, `password` for the
// master, and the older layout (one password in the URL, for the master,
// Sentinels without one) still working.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "checks/check.h"
#include "tests/support/check_builder.h"
#include "tests/support/redis_server.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;
using testing::RedisServer;
using testing::SentinelServer;

constexpr int kBudgetMs = 3000;
constexpr char kMasterPw[] = "MASTERPW123";
constexpr char kSentinelPw[] = "SENTINELPW1";

CheckResult RunOnce(const nlohmann::json& json) {
  auto check = testing::BuildCheck("redis", json).check;
  CheckResult r = check->Run(Clock::now() + milliseconds(kBudgetMs));
  check->Close();
  return r;
}

bool Mentions(const std::string& text, const std::vector<std::string>& secrets) {
  for (const auto& s : secrets)
    if (text.find(s) != std::string::npos) return true;
  return false;
}

class SentinelPassword : public ::testing::Test {
 protected:
  SentinelPassword()
      : master_({"--requirepass", kMasterPw}),
        sentinel_(master_.port(), "mymaster",
                  {std::string("requirepass ") + kSentinelPw,
                   std::string("sentinel auth-pass mymaster ") + kMasterPw}) {}

  std::string Url(const std::string& credentials) const {
    return "redis+sentinel://" + credentials + sentinel_.address() + "/mymaster";
  }

  RedisServer master_;
  SentinelServer sentinel_;
};

TEST_F(SentinelPassword, UrlPasswordForTheSentinelsAndPasswordKeyForTheMaster) {
  CheckResult r =
      RunOnce({{"url", Url(std::string(":") + kSentinelPw + "@")}, {"password", kMasterPw}});
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

TEST_F(SentinelPassword, SentinelPasswordKeyWithThePasswordKey) {
  CheckResult r =
      RunOnce({{"url", Url("")}, {"sentinel_password", kSentinelPw}, {"password", kMasterPw}});
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

TEST_F(SentinelPassword, SentinelPasswordKeyWithTheMastersPasswordInTheUrl) {
  CheckResult r = RunOnce(
      {{"url", Url(std::string(":") + kMasterPw + "@")}, {"sentinel_password", kSentinelPw}});
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

TEST_F(SentinelPassword, KeptConnectionsAuthenticateOnce) {
  auto check =
      testing::BuildCheck(
          "redis", {{"url", Url("")}, {"sentinel_password", kSentinelPw}, {"password", kMasterPw}})
          .check;
  ASSERT_EQ(check->Run(Clock::now() + milliseconds(kBudgetMs)).outcome, Outcome::kPass);
  const std::string conns = sentinel_.InfoField("total_connections_received");
  for (int i = 0; i < 3; ++i) {
    CheckResult r = check->Run(Clock::now() + milliseconds(kBudgetMs));
    ASSERT_EQ(r.outcome, Outcome::kPass) << r.reason;
  }
  EXPECT_EQ(sentinel_.InfoField("total_connections_received"), conns);
  check->Close();
}

TEST_F(SentinelPassword, WrongSentinelPasswordFailsWithoutShowingIt) {
  const std::string wrong = "WRONGSENTINEL9";
  CheckResult r =
      RunOnce({{"url", Url("")}, {"sentinel_password", wrong}, {"password", kMasterPw}});
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.reason.find("AUTH: WRONGPASS"), std::string::npos) << r.reason;
  EXPECT_FALSE(Mentions(r.reason, {wrong, kMasterPw, kSentinelPw})) << r.reason;

  r = RunOnce({{"url", Url(":" + wrong + "@")}, {"password", kMasterPw}});
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.reason.find("AUTH: WRONGPASS"), std::string::npos) << r.reason;
  EXPECT_FALSE(Mentions(r.reason, {wrong, kMasterPw, kSentinelPw})) << r.reason;
}

TEST_F(SentinelPassword, NoSentinelPasswordFailsWithNoauth) {
  CheckResult r = RunOnce({{"url", Url("")}, {"password", kMasterPw}});
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.reason.find("NOAUTH"), std::string::npos) << r.reason;
}

TEST_F(SentinelPassword, WrongMasterPasswordFailsWithoutShowingIt) {
  const std::string wrong = "WRONGMASTER99";
  CheckResult r =
      RunOnce({{"url", Url("")}, {"sentinel_password", kSentinelPw}, {"password", wrong}});
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.reason.find("AUTH: WRONGPASS"), std::string::npos) << r.reason;
  EXPECT_FALSE(Mentions(r.reason, {wrong, kMasterPw, kSentinelPw})) << r.reason;
}

// One password in the URL: sent to the Sentinels and to the master, and a
// server with no password configured is used without (the layout before
// Sentinels had passwords, and the one where only they have one).
TEST(SentinelSharedPassword, MastersPasswordInTheUrlAndSentinelsWithout) {
  RedisServer master({"--requirepass", kMasterPw});
  SentinelServer sentinel(master.port(), "mymaster",
                          {std::string("sentinel auth-pass mymaster ") + kMasterPw});
  CheckResult r = RunOnce({{"url", "redis+sentinel://:" + std::string(kMasterPw) + "@" +
                                       sentinel.address() + "/mymaster"}});
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

TEST(SentinelSharedPassword, SentinelsPasswordInTheUrlAndAMasterWithout) {
  RedisServer master;
  SentinelServer sentinel(master.port(), "mymaster", {std::string("requirepass ") + kSentinelPw});
  CheckResult r = RunOnce({{"url", "redis+sentinel://:" + std::string(kSentinelPw) + "@" +
                                       sentinel.address() + "/mymaster"}});
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  // Named explicitly, a password the server does not have is a fault.
  r = RunOnce({{"url", "redis+sentinel://" + sentinel.address() + "/mymaster"},
               {"sentinel_password", kSentinelPw},
               {"password", kMasterPw}});
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.reason.find("AUTH"), std::string::npos) << r.reason;
  EXPECT_FALSE(Mentions(r.reason, {kMasterPw, kSentinelPw})) << r.reason;
}

}  // namespace
}  // namespace vigil
