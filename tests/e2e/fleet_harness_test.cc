// The pieces the fleet tests stand on, on real processes: agents on distinct
// loopback addresses sharing one port, each behind its own path to one real
// redis-server, one path broken alone; dnsmasq answering a name with several
// addresses, and an agent resolving through it from its own mount namespace.
#include "tests/support/fleet_harness.h"

#include <chrono>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "tests/support/agent_process.h"
#include "tests/support/config_file.h"
#include "tests/support/dnsmasq.h"
#include "tests/support/redis_server.h"
#include "tests/support/tcp_listener.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

TEST(FleetHarnessTest, AgentsShareAPortOnDistinctAddressesOnePathBrokenAlone) {
  RedisServer redis;
  FleetOptions o;
  o.pods = 5;
  o.fleet = false;  // vigil as it is without fleet awareness
  o.when_widespread = "";
  FleetHarness fleet(redis, o);
  ASSERT_TRUE(fleet.StartAll()) << fleet.Describe();
  for (int i = 0; i < fleet.size(); ++i) {
    EXPECT_EQ(fleet.agent(i).address(),
              "127.0.0." + std::to_string(2 + i) + ":" + std::to_string(fleet.port()));
    EXPECT_EQ(fleet.Health(i).value("status", ""), "ok") << fleet.Describe();
  }

  fleet.pod(2).redis_proxy->SetMode(TcpProxy::Mode::kRefuse);
  EXPECT_TRUE(fleet.WaitAll([&](int i) { return fleet.Readyz(i) == (i == 2 ? 503 : 200); }, 5s))
      << fleet.Describe();
  fleet.pod(2).redis_proxy->SetMode(TcpProxy::Mode::kBlackHole);
  EXPECT_EQ(fleet.Readyz(2), 503);
  fleet.pod(2).redis_proxy->SetMode(TcpProxy::Mode::kPass);
  EXPECT_TRUE(fleet.WaitAll([&](int i) { return fleet.Readyz(i) == 200; }, 5s)) << fleet.Describe();

  // A sample from /metrics, labels in any order.
  auto up = fleet.Metric(0, "vigil_check_up", {{"check", "session"}});
  ASSERT_TRUE(up.has_value()) << fleet.Metrics(0).substr(0, 2000);
  EXPECT_EQ(*up, 1);
}

TEST(FleetHarnessTest, DnsmasqServesSeveralAddressesAndAnAgentResolvesThroughIt) {
  std::string why;
  if (!Dnsmasq::Available(&why)) GTEST_SKIP() << why;
  Dnsmasq dns;
  dns.SetRecords("vigil-peers.fleet.test", {"127.0.0.3", "127.0.0.2", "127.0.0.4"});
  bool ok = false;
  EXPECT_EQ(dns.Query("vigil-peers.fleet.test", &ok),
            (std::vector<std::string>{"127.0.0.2", "127.0.0.3", "127.0.0.4"}));
  EXPECT_TRUE(ok);
  EXPECT_TRUE(dns.Query("nothing-here.fleet.test", &ok).empty());
  EXPECT_TRUE(ok) << "NXDOMAIN is an answer";
  dns.SetRecords("vigil-peers.fleet.test", {"127.0.0.2"});
  EXPECT_EQ(dns.Query("vigil-peers.fleet.test"), std::vector<std::string>{"127.0.0.2"});

  // An agent whose only resolver is this dnsmasq: a check by name passes.
  TcpListener app;
  dns.SetRecords("vigil-app.fleet.test", {"127.0.0.1"});
  ConfigFile config;
  json c = OneAppConfig(app.port(), json::object());
  c["checks"][0]["address"] = "vigil-app.fleet.test:" + std::to_string(app.port());
  AgentOptions o;
  o.host = "127.0.0.2";
  o.resolv_conf = dns.resolv_conf();
  AgentProcess agent(config.Write(c), o);
  EXPECT_TRUE(agent.WaitFor("/readyz", 200, "", 10000)) << agent.Get("/health").body << "\n"
                                                        << dns.Log();
  EXPECT_NE(dns.Log().find("query[A] vigil-app.fleet.test"), std::string::npos) << dns.Log();
}

}  // namespace
}  // namespace vigil::testing
