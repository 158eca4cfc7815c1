// The figures operators read: failures by reason, check info, the signals the
// checks read, reload figures (rendered from a snapshot built by hand), the
// history rings behind the status page (tracker and scheduler), and the
// failure-kind mappings that need no server (Redis error codes, SQLSTATEs).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "agent/config/config.h"
#include "agent/core/check_tracker.h"
#include "agent/core/scheduler.h"
#include "agent/http/api.h"
#include "agent/http/metrics.h"
#include "agent/http/render.h"
#include "agent/log/reporter.h"
#include "checks/postgres/pg_failure.h"
#include "checks/redis/redis_connection.h"

namespace vigil {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::vector<std::string> kReasons = {"timeout",  "refused", "dns",     "tls",      "auth",
                                           "protocol", "role",    "loading", "readonly", "oom",
                                           "status",   "body",    "other"};

CheckView View(const std::string& name, const std::string& kind) {
  CheckView c;
  c.name = name;
  c.kind = kind;
  c.role = kind == "postgres" ? "database" : "cache";
  c.required = kind == "postgres";
  c.status = Status::kPass;
  c.target = "10.0.0.1:6379";
  return c;
}

std::shared_ptr<HealthSnapshot> Snapshot(std::vector<CheckView> checks) {
  auto s = std::make_shared<HealthSnapshot>();
  s->checks = std::move(checks);
  s->started_at = WallClock::time_point(std::chrono::seconds(1700000000));
  s->last_reload_success = s->started_at;
  return s;
}

std::string Render(const HealthSnapshot& s) {
  return RenderMetrics(s, true, AgentCounters{}, nullptr, ScopesOf(s, nullptr, WallClock::now()),
                       WallClock::now());
}

bool Has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

// Every sample belongs to a family declared once, with HELP and TYPE.
void ExpectWellFormed(const std::string& text) {
  std::map<std::string, int> help, type;
  std::istringstream in(text);
  std::string line;
  std::string family;
  while (std::getline(in, line)) {
    if (line.rfind("# HELP ", 0) == 0) {
      family = line.substr(7, line.find(' ', 7) - 7);
      ++help[family];
    } else if (line.rfind("# TYPE ", 0) == 0) {
      ++type[line.substr(7, line.find(' ', 7) - 7)];
    } else {
      const std::string name = line.substr(0, line.find_first_of("{ "));
      EXPECT_EQ(name.rfind(family, 0), 0u) << "sample outside its family: " << line;
    }
  }
  for (const auto& [name, n] : help) {
    EXPECT_EQ(n, 1) << name;
    EXPECT_EQ(type[name], 1) << name;
  }
}

TEST(FailureKind, NamesAreTheBoundedSet) {
  std::set<std::string> names;
  for (size_t k = 0; k < kFailureKindCount; ++k)
    names.insert(FailureKindName(static_cast<FailureKind>(k)));
  EXPECT_EQ(names, std::set<std::string>(kReasons.begin(), kReasons.end()));
  EXPECT_EQ(CheckResult::Timeout("x").failure, FailureKind::kTimeout);
  EXPECT_EQ(CheckResult::Fail("x").failure, FailureKind::kOther);
  EXPECT_EQ(CheckResult::Fail(FailureKind::kAuth, "x").failure, FailureKind::kAuth);
}

TEST(MetricsRender, FailuresByReasonStartAtZeroForEveryReason) {
  CheckView a = View("redis-cache", "redis");
  a.failures_total = 3;
  a.failures_by_kind[static_cast<size_t>(FailureKind::kRefused)] = 2;
  a.failures_by_kind[static_cast<size_t>(FailureKind::kTimeout)] = 1;
  CheckView b = View("db", "postgres");
  auto s = Snapshot({a, b});
  const std::string m = Render(*s);
  ExpectWellFormed(m);
  for (const auto& check : {"redis-cache", "db"}) {
    for (const auto& reason : kReasons) {
      const std::string series = std::string("vigil_check_failures_total{check=\"") + check +
                                 "\",reason=\"" + reason + "\"} ";
      EXPECT_NE(m.find(series), std::string::npos) << series;
    }
  }
  EXPECT_TRUE(Has(m, "vigil_check_failures_total{check=\"redis-cache\",reason=\"refused\"} 2"));
  EXPECT_TRUE(Has(m, "vigil_check_failures_total{check=\"redis-cache\",reason=\"timeout\"} 1"));
  EXPECT_TRUE(Has(m, "vigil_check_failures_total{check=\"redis-cache\",reason=\"auth\"} 0"));
  EXPECT_TRUE(Has(m, "vigil_check_failures_total{check=\"db\",reason=\"other\"} 0"));
  // No series without a reason any more.
  EXPECT_EQ(m.find("vigil_check_failures_total{check=\"db\"}"), std::string::npos);
}

TEST(MetricsRender, CheckInfoCarriesTargetEscaped) {
  CheckView a = View("app", "http");
  a.role = "app";
  a.required = true;
  a.target = "weird\"host\\:80";
  const std::string m = Render(*Snapshot({a}));
  ExpectWellFormed(m);
  EXPECT_TRUE(Has(m,
                  "vigil_check_info{check=\"app\",kind=\"http\",role=\"app\",required=\"true\","
                  "target=\"weird\\\"host\\\\:80\"} 1"))
      << m;
}

TEST(MetricsRender, SignalsOnlyWhenRead) {
  // No check read anything: no signal family at all.
  std::string m = Render(*Snapshot({View("redis-cache", "redis"), View("db", "postgres")}));
  for (const char* family :
       {"vigil_redis_memory_ratio", "vigil_redis_role", "vigil_postgres_in_recovery",
        "vigil_postgres_replication_lag_seconds"})
    EXPECT_EQ(m.find(family), std::string::npos) << family;

  CheckView redis = View("redis-cache", "redis");
  redis.signals.redis_memory_ratio = 0.25;
  redis.signals.redis_role = "replica";
  CheckView plain = View("redis-other", "redis");
  plain.signals.redis_role = "master";  // no maxmemory: no ratio
  CheckView replica = View("db-replica", "postgres");
  replica.signals.postgres_in_recovery = true;
  replica.signals.postgres_replication_lag_s = 1.5;
  CheckView primary = View("db", "postgres");
  primary.signals.postgres_in_recovery = false;
  CheckView tcp = View("app", "tcp");
  m = Render(*Snapshot({redis, plain, replica, primary, tcp}));
  ExpectWellFormed(m);
  EXPECT_TRUE(Has(m, "vigil_redis_memory_ratio{check=\"redis-cache\"} 0.25"));
  EXPECT_EQ(m.find("vigil_redis_memory_ratio{check=\"redis-other\"}"), std::string::npos);
  EXPECT_TRUE(Has(m, "vigil_redis_role{check=\"redis-cache\",role=\"master\"} 0"));
  EXPECT_TRUE(Has(m, "vigil_redis_role{check=\"redis-cache\",role=\"replica\"} 1"));
  EXPECT_TRUE(Has(m, "vigil_redis_role{check=\"redis-other\",role=\"master\"} 1"));
  EXPECT_TRUE(Has(m, "vigil_redis_role{check=\"redis-other\",role=\"replica\"} 0"));
  EXPECT_TRUE(Has(m, "vigil_postgres_in_recovery{check=\"db-replica\"} 1"));
  EXPECT_TRUE(Has(m, "vigil_postgres_in_recovery{check=\"db\"} 0"));
  EXPECT_TRUE(Has(m, "vigil_postgres_replication_lag_seconds{check=\"db-replica\"} 1.5"));
  EXPECT_EQ(m.find("vigil_postgres_replication_lag_seconds{check=\"db\"}"), std::string::npos);
  for (const char* family :
       {"vigil_redis_memory_ratio{check=\"app\"", "vigil_redis_role{check=\"app\"",
        "vigil_postgres_in_recovery{check=\"app\""})
    EXPECT_EQ(m.find(family), std::string::npos) << family;
}

TEST(MetricsRender, ReloadFigures) {
  auto s = Snapshot({});
  std::string m = Render(*s);
  ExpectWellFormed(m);
  EXPECT_TRUE(Has(m, "vigil_config_last_reload_successful 1"));
  EXPECT_TRUE(Has(m, "vigil_config_last_reload_success_timestamp_seconds 1700000000"));
  s->last_reload_ok = false;
  m = Render(*s);
  EXPECT_TRUE(Has(m, "vigil_config_last_reload_successful 0"));
}

TEST(History, TrackerCountsByKindAndKeepsTheLastRuns) {
  CheckTiming timing;
  timing.breaker.failure_threshold = 1000;
  Now now{Clock::time_point(1000s), WallClock::time_point(1700000000s)};
  CheckTracker t(timing, now);
  for (int i = 0; i < 25; ++i) {
    now.steady += 1s;
    now.wall += 1s;
    CheckResult r =
        i % 5 == 4 ? CheckResult::Fail(FailureKind::kRefused, "refused") : CheckResult::Pass();
    if (i == 24) r = CheckResult::Timeout("waiting");
    r.latency = std::chrono::microseconds(1000 * (i + 1));
    t.Record(r, now);
  }
  EXPECT_EQ(t.failures_total(), 5u);
  EXPECT_EQ(t.failures_by_kind()[static_cast<size_t>(FailureKind::kRefused)], 4u);
  EXPECT_EQ(t.failures_by_kind()[static_cast<size_t>(FailureKind::kTimeout)], 1u);
  std::vector<RecentRun> recent = t.recent();
  ASSERT_EQ(recent.size(), kRecentRuns);
  EXPECT_DOUBLE_EQ(recent.front().latency_ms, 6.0);  // runs 6..25, oldest first
  EXPECT_DOUBLE_EQ(recent.back().latency_ms, 25.0);
  EXPECT_EQ(recent.back().outcome, Outcome::kFail);
  EXPECT_LT(recent.front().time, recent.back().time);

  CheckResult with_signals = CheckResult::Pass();
  with_signals.signals.redis_role = "master";
  t.Record(with_signals, now);
  EXPECT_EQ(t.signals().redis_role, "master");
  t.Record(CheckResult::Fail(FailureKind::kRefused, "refused"), now);
  EXPECT_TRUE(t.signals().empty());  // the latest run's, never stale ones
}

TEST(History, HealthJsonAndEvents) {
  CheckView c = View("redis-cache", "redis");
  c.recent = {{WallClock::time_point(1700000000s), Outcome::kPass, 0.5},
              {WallClock::time_point(1700000001s), Outcome::kFail, 200}};
  auto s = Snapshot({c});
  s->events = std::make_shared<const std::vector<StateEvent>>(std::vector<StateEvent>{
      {WallClock::time_point(1700000000s), "redis-cache", Status::kUnknown, Status::kPass, ""},
      {WallClock::time_point(1700000001s), "redis-cache", Status::kPass, Status::kFail,
       "timeout after 200 ms"}});
  const auto now = WallClock::time_point(1700000002s);
  json h = json::parse(RenderHealthJson(*s, PodInfo{}, now));
  EXPECT_FALSE(h.contains("events"));
  EXPECT_EQ(h["time"], "2023-11-14T22:13:22.000Z");
  json recent = h["checks"]["redis-cache"]["recent"];
  ASSERT_EQ(recent.size(), 2u);
  EXPECT_EQ(recent[0]["outcome"], "pass");
  EXPECT_EQ(recent[1]["outcome"], "fail");
  EXPECT_EQ(recent[1]["latency_ms"], 200);
  EXPECT_EQ(recent[0]["time"], "2023-11-14T22:13:20.000Z");

  json with = json::parse(
      RenderHealthJson(*s, PodInfo{}, now, nullptr, /*full=*/true, /*with_events=*/true));
  ASSERT_EQ(with["events"].size(), 2u);
  EXPECT_EQ(with["events"][0]["to"], "fail");  // newest first
  EXPECT_EQ(with["events"][0]["from"], "pass");
  EXPECT_EQ(with["events"][0]["reason"], "timeout after 200 ms");
  EXPECT_EQ(with["events"][1]["from"], "unknown");
  EXPECT_FALSE(with["events"][1].contains("reason"));
  EXPECT_EQ(json::parse(RenderEventsJson(*s))["events"], with["events"]);

  // The API serves both, no-store.
  SnapshotStore store;
  store.Set(s);
  Api api(&store, Api::Options{});
  HttpResponse events = api.Handle({"GET", "/events", "*/*", ""});
  EXPECT_EQ(events.status, 200);
  EXPECT_EQ(json::parse(events.body)["events"].size(), 2u);
  EXPECT_EQ(api.Handle({"POST", "/events", "*/*", ""}).status, 405);
  EXPECT_EQ(json::parse(api.Handle({"GET", "/health?events", "*/*", ""}).body)["events"].size(),
            2u);
}

// A check that flips between pass and fail on every run.
class FlippingCheck : public Check {
 public:
  explicit FlippingCheck(std::atomic<int>* runs) : runs_(runs) {}
  CheckResult Run(Deadline) override {
    return (++*runs_ % 2) != 0 ? CheckResult::Pass()
                               : CheckResult::Fail(FailureKind::kRefused, "refused");
  }
  std::string Target() const override { return "fake:1"; }

 private:
  std::atomic<int>* runs_;
};

TEST(History, SchedulerKeepsTheLastStateChangesBounded) {
  std::atomic<int> runs{0};
  SnapshotStore store;
  Reporter reporter(Reporter::Format::kJson, /*fd=*/-1);
  Scheduler scheduler(&store, &reporter, [&runs](const CheckConfig&) {
    return std::make_unique<FlippingCheck>(&runs);
  });
  CheckConfig c;
  c.name = "flappy";
  c.kind = "tcp";
  c.role = "app";
  c.timing.interval_ms = 1;
  c.timing.timeout_ms = 1000;
  c.timing.jitter_percent = 0;
  c.timing.unhealthy_threshold = 1;
  c.timing.healthy_threshold = 1;
  c.timing.breaker.failure_threshold = 1000000;
  c.spec = std::make_shared<const nlohmann::json>(nlohmann::json{{"name", "flappy"}});
  Config config;
  config.checks = {c};
  scheduler.Start(config);
  // Bounded: 20 s at most for 2 x kMaxStateEvents + a few runs.
  const auto end = Clock::now() + 20s;
  while (runs < static_cast<int>(2 * kMaxStateEvents + 10) && Clock::now() < end)
    std::this_thread::sleep_for(10ms);
  scheduler.Stop();
  auto s = store.Get();
  ASSERT_NE(s->events, nullptr);
  EXPECT_EQ(s->events->size(), kMaxStateEvents);
  const CheckView* v = s->Find("flappy");
  ASSERT_NE(v, nullptr);
  EXPECT_EQ(v->recent.size(), kRecentRuns);
  EXPECT_EQ(v->failures_by_kind[static_cast<size_t>(FailureKind::kRefused)], v->failures_total);
  EXPECT_GT(v->failures_total, 0u);
  for (const StateEvent& e : *s->events) {
    EXPECT_EQ(e.check, "flappy");
    EXPECT_NE(e.from, e.to);
  }
}

TEST(FailureMapping, RedisErrorCodes) {
  auto kind = [](const std::string& text) {
    RedisReply r;
    r.type = RedisReply::Type::kError;
    r.str = text;
    return r.ErrorKind();
  };
  EXPECT_EQ(kind("LOADING Redis is loading the dataset in memory"), FailureKind::kLoading);
  EXPECT_EQ(kind("NOAUTH Authentication required."), FailureKind::kAuth);
  EXPECT_EQ(kind("WRONGPASS invalid username-password pair"), FailureKind::kAuth);
  EXPECT_EQ(kind("NOPERM this user has no permissions"), FailureKind::kAuth);
  EXPECT_EQ(kind("READONLY You can't write against a read only replica."), FailureKind::kReadonly);
  EXPECT_EQ(kind("OOM command not allowed when used memory > 'maxmemory'."), FailureKind::kOom);
  EXPECT_EQ(kind("BUSY Redis is busy running a script."), FailureKind::kOther);
  EXPECT_EQ(kind("ERR DB index is out of range"), FailureKind::kOther);
}

TEST(FailureMapping, PostgresSqlstates) {
  std::string m =
      "connection to server at \"127.0.0.1\", port 5432 failed: FATAL:  28P01: password "
      "authentication failed for user \"app\"\nLOCATION:  auth_failed, auth.c:334\n";
  EXPECT_EQ(TakeSqlstate(&m), "28P01");
  EXPECT_EQ(m.find("28P01"), std::string::npos);
  EXPECT_NE(m.find("failed: FATAL:  password authentication failed"), std::string::npos) << m;
  std::string none = "connection to server at \"127.0.0.1\", port 1 failed: Connection refused";
  EXPECT_EQ(TakeSqlstate(&none), "");
  std::string translated = "Verbindung fehlgeschlagen: FATAL:  3D000: Datenbank existiert nicht";
  EXPECT_EQ(TakeSqlstate(&translated), "3D000");

  EXPECT_EQ(PgSqlstateKind("28P01"), FailureKind::kAuth);
  EXPECT_EQ(PgSqlstateKind("28000"), FailureKind::kAuth);
  EXPECT_EQ(PgSqlstateKind("57P03"), FailureKind::kLoading);
  EXPECT_EQ(PgSqlstateKind("53300"), FailureKind::kRefused);
  EXPECT_EQ(PgSqlstateKind("53200"), FailureKind::kOom);
  EXPECT_EQ(PgSqlstateKind("25006"), FailureKind::kReadonly);
  EXPECT_EQ(PgSqlstateKind("57014"), FailureKind::kTimeout);
  EXPECT_EQ(PgSqlstateKind("08P01"), FailureKind::kProtocol);
  EXPECT_EQ(PgSqlstateKind("3D000"), FailureKind::kOther);
  EXPECT_EQ(PgSqlstateKind(""), FailureKind::kOther);

  EXPECT_EQ(PgClientFailureKind(none), FailureKind::kRefused);
  EXPECT_EQ(PgClientFailureKind("failed: SSL error: certificate verify failed"), FailureKind::kTls);
  EXPECT_EQ(PgClientFailureKind("failed: expected authentication request from server, but "
                                "received H"),
            FailureKind::kProtocol);
  EXPECT_EQ(PgClientFailureKind("failed: server closed the connection unexpectedly"),
            FailureKind::kOther);
}

}  // namespace
}  // namespace vigil
