// Secrets that rotate, end to end: ${file:...} passwords and the admin token
// file laid out as the kubelet projects a Secret volume (a new ..TIMESTAMP
// directory, the ..data symlink swapped with rename()), on a live vigil
// checking a real redis-server.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/agent_process.h"
#include "tests/support/config_file.h"
#include "tests/support/eventually.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"
#include "tests/support/tcp_listener.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Steady = std::chrono::steady_clock;

constexpr char kOldPassword[] = "OLDPASSWORD1";
constexpr char kNewPassword[] = "NEWPASSWORD2";
constexpr char kOldToken[] = "OLD-ADMIN-TOKEN-0001";
constexpr char kNewToken[] = "NEW-ADMIN-TOKEN-0002";

json HealthOf(AgentProcess& a) { return json::parse(a.Get("/health").body); }

long long MsSince(Steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Steady::now() - t).count();
}

// A directory laid out as the kubelet projects a Secret: KEY -> ..data/KEY,
// ..data -> ..2026_12_01_N; an update writes a new ..2026_12_01_N+1 and
// renames a fresh symlink over ..data (atomic), then drops the old one.
class SecretVolume {
 public:
  SecretVolume() : dir_(MakeTempDir("vigil-secret")) {}
  ~SecretVolume() { RemoveTree(dir_); }
  std::string path(const std::string& key) const { return dir_ + "/" + key; }

  void Write(const std::map<std::string, std::string>& keys) {
    const std::string version = "..2026_12_01_21_00_0" + std::to_string(++n_);
    ASSERT_EQ(mkdir((dir_ + "/" + version).c_str(), 0755), 0);
    for (const auto& [key, value] : keys) {
      std::ofstream(dir_ + "/" + version + "/" + key, std::ios::binary) << value;
    }
    const std::string tmp = dir_ + "/..data_tmp";
    unlink(tmp.c_str());
    ASSERT_EQ(symlink(version.c_str(), tmp.c_str()), 0);
    ASSERT_EQ(rename(tmp.c_str(), (dir_ + "/..data").c_str()), 0);
    for (const auto& [key, value] : keys) {
      symlink(("..data/" + key).c_str(), path(key).c_str());  // EEXIST after the first
    }
    if (!previous_.empty()) RemoveTree(dir_ + "/" + previous_);
    previous_ = version;
  }

 private:
  std::string dir_;
  std::string previous_;
  int n_ = 0;
};

json Checks(const std::string& password_file, int redis_port, int app_port) {
  return {
      {"defaults", {{"interval_ms", 200}, {"timeout_ms", 500}, {"jitter_percent", 0}}},
      {"checks",
       {{{"name", "redis-session"},
         {"kind", "redis"},
         {"role", "session"},
         {"url", "redis://:${file:" + password_file + "}@127.0.0.1:" + std::to_string(redis_port)}},
        {{"name", "app"}, {"kind", "tcp"}, {"address", "127.0.0.1:" + std::to_string(app_port)}}}}};
}

// A redis-server that wants kOldPassword, an app port, the password in a
// Secret volume, and an agent checking both (started, not yet waited for).
struct RotationRig {
  RotationRig() : redis({"--requirepass", kOldPassword}) {
    secret.Write({{"redis-password", std::string(kOldPassword) + "\n"}});
    cfg.Write(Checks(secret.path("redis-password"), redis.port(), app.port()));
    agent = std::make_unique<AgentProcess>(cfg.path());
  }

  RedisServer redis;
  TcpListener app;
  SecretVolume secret;
  ConfigFile cfg;
  std::unique_ptr<AgentProcess> agent;
};

void ExpectNoPasswordIn(const std::string& text) {
  EXPECT_EQ(text.find(kOldPassword), std::string::npos) << text;
  EXPECT_EQ(text.find(kNewPassword), std::string::npos) << text;
}

TEST(SecretRotation, RedisPasswordFileRotatesAndOtherChecksKeepTheirState) {
  RotationRig rig;
  RedisServer& redis = rig.redis;
  SecretVolume& secret = rig.secret;
  AgentProcess& agent = *rig.agent;
  ASSERT_TRUE(agent.WaitFor("/health", 200, "\"status\":\"ok\"", 5000)) << agent.Stdout();
  const std::string app_since = HealthOf(agent)["checks"]["app"]["since"];

  // The server's password changes first. vigil's kept connection stays
  // authenticated (Redis does not log out connections), so the check keeps
  // passing...
  ASSERT_EQ(redis.Command({"CONFIG", "SET", "requirepass", kNewPassword}), "OK");
  std::this_thread::sleep_for(600ms);
  EXPECT_EQ(HealthOf(agent)["checks"]["redis-session"]["status"], "pass");
  // ...until it reconnects (here: its connection is killed), with the old
  // password: WRONGPASS, and the pod goes unready.
  redis.Command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"});
  ASSERT_TRUE(Eventually(
      [&] { return HealthOf(agent)["checks"]["redis-session"]["status"] == "fail"; }, 5000ms))
      << agent.Get("/health").body;
  const json failed = HealthOf(agent)["checks"]["redis-session"];
  EXPECT_NE(failed.dump().find("WRONGPASS"), std::string::npos) << failed.dump();
  EXPECT_EQ(agent.Get("/readyz").status, 503);

  // The Secret is updated: the check is rebuilt with the new password within
  // an interval and a poll period (generous bound: the machine is shared).
  const auto swapped = Steady::now();
  secret.Write({{"redis-password", std::string(kNewPassword) + "\n"}});
  ASSERT_TRUE(Eventually(
      [&] { return HealthOf(agent)["checks"]["redis-session"]["status"] == "pass"; }, 10000ms))
      << agent.Stdout();
  const long long took = MsSince(swapped);
  RecordProperty("rotation_to_pass_ms", std::to_string(took));
  EXPECT_LT(took, 5000);
  EXPECT_EQ(agent.Get("/readyz").status, 200);
  json h = HealthOf(agent);
  EXPECT_EQ(h["checks"]["app"]["since"], app_since);  // the other check kept its state
  EXPECT_NE(agent.Stdout().find("\"trigger\":\"secret file changed\""), std::string::npos);

  // Neither password anywhere the agent speaks.
  ExpectNoPasswordIn(agent.Get("/health").body);
  ExpectNoPasswordIn(agent.Get("/metrics").body);
  ExpectNoPasswordIn(agent.Get("/readyz?verbose").body);
  ExpectNoPasswordIn(agent.Stdout());
  ExpectNoPasswordIn(agent.Stderr());

  // Unchanged afterwards: no reload loop, the connection is kept.
  std::this_thread::sleep_for(500ms);
  const std::string conns = redis.InfoField("total_connections_received");
  const std::string reloads = agent.Get("/metrics").body;
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(redis.InfoField("total_connections_received"), conns);
  EXPECT_NE(reloads.find("vigil_config_reloads_total 1\n"), std::string::npos) << reloads;
  EXPECT_NE(agent.Get("/metrics").body.find("vigil_config_reloads_total 1\n"), std::string::npos);
}

TEST(SecretRotation, MissingSecretFileAtStartExitsTwoNamingTheField) {
  TcpListener app;
  ConfigFile cfg;
  const std::string dir = MakeTempDir("vigil-secret-missing");
  cfg.Write(Checks(dir + "/redis-password", 6379, app.port()));
  for (const char* command : {"validate", "run"}) {
    CommandResult r = RunVigil({command, "--config", cfg.path(), "--listen", "127.0.0.1:0"});
    EXPECT_EQ(r.exit_code, 2) << command;
    EXPECT_NE(r.err.find("checks[0].url: cannot read secret file " + dir +
                         "/redis-password: No such file or directory"),
              std::string::npos)
        << r.err;
  }
  RemoveTree(dir);
}

TEST(SecretRotation, SecretFileThatDisappearsIsARefusedReload) {
  RotationRig rig;
  RedisServer& redis = rig.redis;
  SecretVolume& secret = rig.secret;
  AgentProcess& agent = *rig.agent;
  ASSERT_TRUE(agent.WaitFor("/health", 200, "\"status\":\"ok\"", 5000)) << agent.Stdout();
  const std::string since = HealthOf(agent)["checks"]["redis-session"]["since"];
  const std::string conns = redis.InfoField("total_connections_received");

  ASSERT_EQ(unlink(secret.path("redis-password").c_str()), 0);
  ASSERT_TRUE(Eventually(
      [&] {
        return agent.Get("/metrics").body.find("vigil_config_reload_failures_total 1\n") !=
               std::string::npos;
      },
      5000ms));
  const std::string log = agent.Stdout();
  EXPECT_NE(log.find("\"event\":\"config_rejected\""), std::string::npos) << log;
  EXPECT_NE(log.find("\"field\":\"checks[0].url\""), std::string::npos) << log;
  EXPECT_NE(log.find("cannot read secret file"), std::string::npos) << log;
  // Counted once, not on every poll; the old checks keep running on their
  // kept connection.
  std::this_thread::sleep_for(1500ms);
  EXPECT_NE(agent.Get("/metrics").body.find("vigil_config_reload_failures_total 1\n"),
            std::string::npos);
  json h = HealthOf(agent);
  EXPECT_EQ(h["checks"]["redis-session"]["status"], "pass");
  EXPECT_EQ(h["checks"]["redis-session"]["since"], since);
  EXPECT_EQ(redis.InfoField("total_connections_received"), conns);

  // It comes back (same password): the reload goes through, the check is
  // unchanged and keeps its state.
  ASSERT_EQ(symlink("..data/redis-password", secret.path("redis-password").c_str()), 0);
  ASSERT_TRUE(Eventually(
      [&] {
        return agent.Get("/metrics").body.find("vigil_config_reloads_total 1\n") !=
               std::string::npos;
      },
      5000ms));
  EXPECT_EQ(HealthOf(agent)["checks"]["redis-session"]["since"], since);
  ExpectNoPasswordIn(agent.Stdout());
}

HttpReply Reset(AgentProcess& agent, const std::string& token) {
  return HttpCall(agent.port(), "POST", "/admin/circuit-breaker/app/reset",
                  {{"Authorization", "Bearer " + token}});
}

TEST(SecretRotation, AdminTokenRotationRefusesTheOldTokenWithinTwoSeconds) {
  TcpListener app;
  SecretVolume secret;
  secret.Write({{"admin-token", std::string(kOldToken) + "\n"}});
  ConfigFile cfg;
  cfg.Write({{"admin_token_file", secret.path("admin-token")},
             {"checks",
              {{{"name", "app"},
                {"kind", "tcp"},
                {"address", "127.0.0.1:" + std::to_string(app.port())}}}}});
  AgentProcess agent(cfg.path());
  ASSERT_TRUE(agent.WaitFor("/health", 200, "\"status\":\"ok\"", 5000)) << agent.Stdout();
  ASSERT_EQ(Reset(agent, kOldToken).status, 200);
  ASSERT_EQ(Reset(agent, kNewToken).status, 401);

  const auto swapped = Steady::now();
  secret.Write({{"admin-token", std::string(kNewToken) + "\n"}});
  ASSERT_TRUE(Eventually([&] { return Reset(agent, kOldToken).status == 401; }, 5000ms));
  const long long took = MsSince(swapped);
  RecordProperty("token_rotation_ms", std::to_string(took));
  EXPECT_LT(took, 2000);
  EXPECT_EQ(Reset(agent, kNewToken).status, 200);
  EXPECT_NE(agent.Stdout().find("\"event\":\"admin_token_rotated\""), std::string::npos);

  // Emptied: admin routes are off, the last token refused with them.
  secret.Write({{"admin-token", ""}});
  ASSERT_TRUE(Eventually([&] { return Reset(agent, kNewToken).status == 404; }, 5000ms));
  // Back, then gone: off again.
  secret.Write({{"admin-token", std::string(kOldToken) + "\n"}});
  ASSERT_TRUE(Eventually([&] { return Reset(agent, kOldToken).status == 200; }, 5000ms));
  ASSERT_EQ(unlink(secret.path("admin-token").c_str()), 0);
  ASSERT_TRUE(Eventually([&] { return Reset(agent, kOldToken).status == 404; }, 5000ms));
  const std::string log = agent.Stdout();
  EXPECT_NE(log.find("\"event\":\"admin_disabled\""), std::string::npos) << log;
  for (const char* token : {kOldToken, kNewToken}) {
    EXPECT_EQ(log.find(token), std::string::npos) << log;
  }
}

}  // namespace
}  // namespace vigil::testing
