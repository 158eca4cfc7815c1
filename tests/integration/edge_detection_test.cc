// Detection at the edge (docs/configuration.md) on real servers: the scheduler with the
// real redis and postgres checks, interval 5000 ms, unhealthy_threshold 2,
// unhealthy_interval_ms 100. A server that goes away closes the kept
// connection; the check runs at once instead of at its next slot, so
// readiness flips long before one interval. The waits are bounds (well
// under the 5 s a check without the edge would wait for its next slot), not
// speed assertions; the time measured is printed for the bench's record.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "agent/config/config.h"
#include "agent/core/scheduler.h"
#include "agent/core/snapshot.h"
#include "agent/core/verdict.h"
#include "agent/log/reporter.h"
#include "tests/support/pg_suite.h"
#include "tests/support/redis_server.h"

namespace vigil {
namespace {

using namespace std::chrono_literals;
using testing::RedisServer;

Config EdgeConfig(const std::string& kind, const std::string& url) {
  const std::string text = R"({"defaults": {"interval_ms": 5000, "timeout_ms": 1000,
      "unhealthy_threshold": 2, "unhealthy_interval_ms": 100},
    "checks": [{"name": "dep", "kind": ")" +
                           kind + R"(", "role": "session", "url": ")" + url + R"("}]})";
  return ParseConfig(text, [](const std::string&) { return std::nullopt; });
}

// Polls until `pred` holds; false after `limit`.
template <typename Pred>
bool WaitUntil(Pred pred, std::chrono::milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(2ms);
  }
  return pred();
}

class EdgeRun {
 public:
  explicit EdgeRun(const Config& cfg) { scheduler_.Start(cfg); }
  ~EdgeRun() { scheduler_.Stop(); }
  bool Ready() const { return IsReady(*store_.Get()); }
  uint64_t Attempts() const { return store_.Get()->checks.at(0).attempts; }
  // Ready, and past the spread second run: idle on a kept connection with
  // its next slot seconds away.
  bool Settle() {
    return WaitUntil([this] { return Ready() && Attempts() >= 2; }, 8000ms);
  }
  // From now until readiness flips, in milliseconds; -1 past `limit`.
  long long FlipWithin(std::chrono::milliseconds limit, Clock::time_point since) {
    if (!WaitUntil([this] { return !Ready(); }, limit)) return -1;
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - since).count();
  }

 private:
  SnapshotStore store_;
  Reporter reporter_{Reporter::Format::kJson, -1};
  Scheduler scheduler_{&store_, &reporter_};
};

TEST(EdgeDetectionTest, KilledRedisFlipsReadinessWithinAnInterval) {
  RedisServer server;
  EdgeRun run(EdgeConfig("redis", "redis://" + server.address()));
  ASSERT_TRUE(run.Settle());
  const auto killed = Clock::now();
  server.Stop();
  const long long ms = run.FlipWithin(3000ms, killed);
  std::printf("[ measure ] redis stop to readiness flip: %lld ms\n", ms);
  EXPECT_GE(ms, 0) << "readiness did not flip within 3 s (interval 5 s)";
}

TEST(EdgeDetectionTest, SteadyRedisSeesOneCommandAnIntervalAndNoNewConnection) {
  RedisServer server;
  Config cfg = EdgeConfig("redis", "redis://" + server.address());
  cfg.checks[0].timing.interval_ms = 500;
  EdgeRun run(cfg);
  ASSERT_TRUE(run.Settle());
  const long long conns = std::atoll(server.InfoField("total_connections_received").c_str());
  const uint64_t before = run.Attempts();
  std::this_thread::sleep_for(2000ms);
  const uint64_t runs = run.Attempts() - before;
  EXPECT_LE(runs, 5u);  // 2 s at 500 ms plus jitter: 3 or 4
  EXPECT_GE(runs, 2u);
  // The test's own INFO connection is the one new connection.
  EXPECT_LE(std::atoll(server.InfoField("total_connections_received").c_str()), conns + 1);
}

class EdgeDetectionPgTest : public testing::PgSuite<EdgeDetectionPgTest> {};

TEST_F(EdgeDetectionPgTest, StoppedPostgresFlipsReadinessWithinAnInterval) {
  EdgeRun run(EdgeConfig("postgres", server_->Url()));
  ASSERT_TRUE(run.Settle());
  const auto stopped = Clock::now();
  server_->Stop();  // pg_ctl stop -m fast: backends told to terminate, sockets closed
  const long long ms = run.FlipWithin(3000ms, stopped);
  std::printf("[ measure ] postgres stop to readiness flip: %lld ms\n", ms);
  EXPECT_GE(ms, 0) << "readiness did not flip within 3 s (interval 5 s)";
}

TEST_F(EdgeDetectionPgTest, SteadyPostgresKeepsOneBackend) {
  Config cfg = EdgeConfig("postgres", server_->Url() + "?application_name=vigil-edge");
  cfg.checks[0].timing.interval_ms = 500;
  EdgeRun run(cfg);
  ASSERT_TRUE(run.Settle());
  const std::string sql = "SELECT pid FROM pg_stat_activity WHERE application_name = 'vigil-edge'";
  const std::string pid = server_->Psql(sql);
  ASSERT_FALSE(pid.empty());
  const uint64_t before = run.Attempts();
  std::this_thread::sleep_for(2000ms);
  EXPECT_LE(run.Attempts() - before, 5u);
  EXPECT_EQ(server_->Psql(sql), pid);  // the same backend: no reconnect
}

}  // namespace
}  // namespace vigil
