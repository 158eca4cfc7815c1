// The "fleet" object and the per-check fleet keys (docs/fleet.md).
#include "agent/config/fleet_config.h"

#include <gtest/gtest.h>

#include "agent/config/config.h"

namespace vigil {
namespace {

EnvLookup NoEnv() {
  return [](const std::string&) -> std::optional<std::string> { return std::nullopt; };
}

Config Parse(const std::string& fleet, const std::string& check_extra = "") {
  return ParseConfig(
      R"({"fleet":)" + fleet +
          R"(,"checks":[{"name":"db","kind":"tcp","role":"database","address":"h:1")" +
          check_extra + "}]}",
      NoEnv());
}

std::string ErrorOf(const std::string& fleet, const std::string& check_extra = "") {
  try {
    Parse(fleet, check_extra);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(FleetConfig, AbsentIsOff) {
  const Config c = ParseConfig(R"({"checks":[]})", NoEnv());
  EXPECT_FALSE(c.fleet.enabled);
}

TEST(FleetConfig, DnsNameWithDefaults) {
  const Config c = Parse(R"({"peers":"vigil-peers.shop.svc.cluster.local"})");
  EXPECT_TRUE(c.fleet.enabled);
  EXPECT_EQ(c.fleet.peers_dns, "vigil-peers.shop.svc.cluster.local");
  EXPECT_EQ(c.fleet.port, 0);
  EXPECT_EQ(c.fleet.interval_ms, 5000);
  EXPECT_EQ(c.fleet.sample, 16);
  EXPECT_EQ(c.fleet.timeout_ms, 500);
  EXPECT_EQ(c.fleet.min_pods, 3);
  EXPECT_FALSE(c.checks[0].stay_ready_when_widespread);
  EXPECT_DOUBLE_EQ(c.checks[0].widespread_ratio, 0.5);
}

TEST(FleetConfig, StaticListAndEveryKey) {
  const Config c = Parse(
      R"({"peers":["10.0.0.5:8086","[::1]:8086","pod-b.local:9000"],"interval_ms":2000,
          "sample":4,"timeout_ms":300,"min_pods":2,"token_file":"/t"})",
      R"(,"when_widespread":"stay_ready","widespread_ratio":0.75)");
  EXPECT_EQ(c.fleet.peers_static.size(), 3u);
  EXPECT_EQ(c.fleet.sample, 4);
  EXPECT_EQ(c.fleet.min_pods, 2);
  EXPECT_EQ(c.fleet.token_file, "/t");
  EXPECT_TRUE(c.checks[0].stay_ready_when_widespread);
  EXPECT_DOUBLE_EQ(c.checks[0].widespread_ratio, 0.75);
}

TEST(FleetConfig, BadValuesNameTheField) {
  EXPECT_EQ(ErrorOf(R"({})"), "fleet.peers: missing");
  EXPECT_EQ(ErrorOf(R"({"peers":42})"), "fleet.peers: want a DNS name or a list of \"host:port\"");
  EXPECT_EQ(ErrorOf(R"({"peers":[]})"), "fleet.peers: must not be empty");
  EXPECT_EQ(ErrorOf(R"({"peers":"bad name!"})").rfind("fleet.peers: want a DNS name", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"peers":["10.0.0.5"]})").rfind("fleet.peers[0]: want HOST:PORT", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"peers":["a:1"],"port":8086})").rfind("fleet.port:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"peers":"p","sample":0})").rfind("fleet.sample:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"peers":"p","min_pods":0})").rfind("fleet.min_pods:", 0), 0u);
  EXPECT_EQ(ErrorOf(R"({"peers":"p","interval_ms":1000,"timeout_ms":1000})"),
            "fleet.timeout_ms: must be shorter than fleet.interval_ms (1000)");
  EXPECT_EQ(ErrorOf(R"({"peers":"p","extra":1})"), "fleet.extra: unknown key");
  EXPECT_EQ(ErrorOf(R"("p")"), "fleet: must be an object");
  EXPECT_EQ(ErrorOf(R"({"peers":"p"})", R"(,"when_widespread":"ignore")"),
            "checks[0].when_widespread: want \"unready\" or \"stay_ready\", got \"ignore\"");
  EXPECT_EQ(ErrorOf(R"({"peers":"p"})", R"(,"widespread_ratio":0)")
                .rfind("checks[0].widespread_ratio: out of range", 0),
            0u);
  EXPECT_EQ(ErrorOf(R"({"peers":"p"})", R"(,"widespread_ratio":1.5)")
                .rfind("checks[0].widespread_ratio: out of range", 0),
            0u);
}

TEST(FleetConfig, TokenFromTheFileIsCheckedLikeTheAdminToken) {
  char path[] = "/tmp/vigil-fleet-token-XXXXXX";
  const int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(write(fd, "short\n", 6), 6);
  close(fd);
  FleetConfig f;
  f.token_file = path;
  try {
    LoadFleetToken(f);
    ADD_FAILURE() << "a short token was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "fleet.token_file: fleet token is shorter than 16 bytes");
  }
  FILE* out = std::fopen(path, "w");
  std::fputs("a-long-enough-fleet-token\n", out);
  std::fclose(out);
  EXPECT_EQ(LoadFleetToken(f), "a-long-enough-fleet-token");
  unlink(path);
  f.token_file = "/nonexistent/vigil-fleet-token";
  EXPECT_EQ(LoadFleetToken(f), "");
}

}  // namespace
}  // namespace vigil
