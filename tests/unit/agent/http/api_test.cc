// The HTTP API as a pure function over a snapshot: paths, codes, bodies.
#include "agent/http/api.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace vigil {
namespace {

using json = nlohmann::json;

CheckView View(const std::string& name, const std::string& role, bool required, Status s,
               std::string reason = "") {
  CheckView c;
  c.name = name;
  c.kind = role == "database" ? "postgres" : "redis";
  c.role = role;
  c.required = required;
  c.status = s;
  c.reason = reason;
  c.last_error = reason;
  c.ever_passed = s == Status::kPass;
  c.target = "10.0.0.1:6379";
  return c;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { Set({}); }
  void Set(std::vector<CheckView> checks, bool draining = false) {
    auto s = std::make_shared<HealthSnapshot>();
    s->checks = std::move(checks);
    s->draining = draining;
    s->started_at = WallClock::now();
    store_.Set(s);
    store_.Beat(Clock::now());
  }
  HttpResponse Get(const std::string& target, const std::string& accept = "*/*") {
    return api_.Handle({"GET", target, accept, ""});
  }
  SnapshotStore store_;
  std::string reset_called_;
  Api api_{&store_, [this] {
             Api::Options o;
             o.pod = PodInfo{"web-1", "shop", "node-a"};
             o.admin_token = "tok3n";
             o.reset_breaker = [this](const std::string& n) {
               reset_called_ = n;
               return n == "db";
             };
             o.stall_after = std::chrono::seconds(30);
             return o;
           }()};
};

TEST_F(ApiTest, CacheDownIsDegradedButReady) {
  Set({View("db", "database", true, Status::kPass),
       View("redis-cache", "cache", false, Status::kFail, "connection refused")});
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/ready").status, 200);
  EXPECT_EQ(Get("/livez").status, 200);
  EXPECT_EQ(Get("/up").status, 200);
  HttpResponse h = Get("/health");
  EXPECT_EQ(h.status, 200);
  json j = json::parse(h.body);
  EXPECT_EQ(j["status"], "degraded");
  EXPECT_EQ(j["ready"], true);
  EXPECT_EQ(j["checks"]["redis-cache"]["status"], "fail");
  EXPECT_EQ(j["checks"]["redis-cache"]["last_error"], "connection refused");
  EXPECT_EQ(j["pod"]["name"], "web-1");
  EXPECT_EQ(j["pod"]["namespace"], "shop");
  EXPECT_EQ(j["pod"]["node"], "node-a");
  for (const char* key :
       {"kind", "role", "required", "status", "since", "latency_ms", "consecutive_failures",
        "last_success", "last_error", "circuit", "target"})
    EXPECT_TRUE(j["checks"]["db"].contains(key)) << key;
  for (const char* key : {"status", "ready", "draining", "version", "uptime_s", "pod", "checks"})
    EXPECT_TRUE(j.contains(key)) << key;
  bool no_store = false;
  for (auto& [k, v] : h.headers) no_store |= k == "Cache-Control" && v == "no-store";
  EXPECT_TRUE(no_store);
}

TEST_F(ApiTest, SessionDownIsUnreadyButLive) {
  Set({View("db", "database", true, Status::kPass),
       View("redis-session", "session", true, Status::kFail, "timeout after 200 ms")});
  EXPECT_EQ(Get("/readyz").status, 503);
  EXPECT_EQ(Get("/livez").status, 200);
  HttpResponse h = Get("/health");
  EXPECT_EQ(h.status, 503);
  EXPECT_EQ(json::parse(h.body)["status"], "error");
}

TEST_F(ApiTest, VerboseListsOneLineACheckKubeStyle) {
  Set({View("db", "database", true, Status::kPass),
       View("redis-session", "session", true, Status::kFail, "timeout after 200 ms"),
       View("redis-cache", "cache", false, Status::kFail, "connection refused")});
  HttpResponse r = Get("/readyz?verbose");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("[+]db ok\n"), std::string::npos);
  EXPECT_NE(r.body.find("[-]redis-session failed: timeout after 200 ms\n"), std::string::npos);
  EXPECT_NE(r.body.find("[~]redis-cache degraded, not required\n"), std::string::npos);
  EXPECT_NE(r.body.find("readyz check failed"), std::string::npos);
}

TEST_F(ApiTest, ExcludeLeavesChecksOutOfTheAnswer) {
  Set({View("db", "database", true, Status::kPass),
       View("redis-session", "session", true, Status::kFail, "refused")});
  HttpResponse r = Get("/readyz?verbose&exclude=redis-session");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body.find("redis-session"), std::string::npos);
  EXPECT_EQ(Get("/readyz?exclude=db&exclude=redis-session").status, 200);
  EXPECT_EQ(Get("/readyz?exclude=db").status, 503);
}

TEST_F(ApiTest, StartingUntilRequiredChecksComplete) {
  Set({View("db", "database", true, Status::kUnknown)});
  EXPECT_EQ(Get("/startupz").status, 503);
  EXPECT_EQ(Get("/readyz").status, 503);
  HttpResponse h = Get("/health");
  EXPECT_EQ(h.status, 503);
  EXPECT_EQ(json::parse(h.body)["status"], "starting");
  Set({View("db", "database", true, Status::kPass)});
  EXPECT_EQ(Get("/startupz").status, 200);
}

TEST_F(ApiTest, DrainingTurnsReadyzOffOnly) {
  Set({View("db", "database", true, Status::kPass)}, /*draining=*/true);
  EXPECT_EQ(Get("/readyz").status, 503);
  EXPECT_EQ(Get("/livez").status, 200);
  json j = json::parse(Get("/health").body);
  EXPECT_EQ(j["draining"], true);
  EXPECT_EQ(j["ready"], false);
}

TEST_F(ApiTest, PerCheckEndpoints) {
  Set({View("db", "database", true, Status::kPass),
       View("redis-cache", "cache", false, Status::kFail, "refused")});
  EXPECT_EQ(Get("/health/db").status, 200);
  EXPECT_EQ(json::parse(Get("/health/db").body)["status"], "pass");
  EXPECT_EQ(Get("/health/redis-cache").status, 503);
  EXPECT_EQ(Get("/readyz/db").status, 200);
  EXPECT_EQ(Get("/livez/db").status, 200);
  EXPECT_EQ(Get("/readyz/redis-cache").status, 503);
  EXPECT_EQ(Get("/health/nope").status, 404);
  EXPECT_EQ(Get("/readyz/nope").status, 404);
  EXPECT_EQ(Get("/livez/nope").status, 404);
}

TEST_F(ApiTest, UnknownPathIsJson404AndWrongMethod405) {
  HttpResponse r = Get("/nope");
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(r.content_type, "application/json");
  EXPECT_EQ(json::parse(r.body)["status"], 404);
  r = api_.Handle({"POST", "/readyz", "", ""});
  EXPECT_EQ(r.status, 405);
  r = api_.Handle({"DELETE", "/health/db", "", ""});
  EXPECT_EQ(r.status, 405);
  EXPECT_EQ(api_.Handle({"POST", "/nope", "", ""}).status, 404);
}

TEST_F(ApiTest, BadTargetsAre400) {
  for (const char* t : {"ftp://evil/readyz", "http://u:p@evil/readyz", "http:///readyz", "*",
                        "/../etc/passwd", "/health/%2e%2e/x/..", "/a%zz", "/a%00b", "readyz", ""})
    EXPECT_EQ(Get(t).status, 400) << t;
}

// Issue 20: RFC 9112 3.2.2, a server MUST accept the absolute form.
TEST_F(ApiTest, AbsoluteFormTargetsAreServed) {
  Set({View("db", "database", true, Status::kPass)});
  EXPECT_EQ(Get("http://evil/readyz").status, 200);
  EXPECT_EQ(Get("HTTP://127.0.0.1:8086/readyz?verbose").body.find("[+]db ok"), 0u);
  EXPECT_EQ(Get("https://pod:8086/health/db").status, 200);
  EXPECT_EQ(Get("http://pod:8086").status, 200);  // "/": the status page
  EXPECT_EQ(Get("http://pod:8086?x").status, 200);
}

// Issue 20: an escaped '/' never becomes a separator (a proxy's rule on
// "/admin/" would be bypassed), and every refusal is not cacheable.
TEST_F(ApiTest, EscapedSlashesNeverRouteAndRefusalsAreNoStore) {
  Set({View("db", "database", true, Status::kPass)});
  const std::string auth = "Bearer tok3n";
  for (const char* t :
       {"/admin%2Fcircuit-breaker%2Fdb%2Freset", "/admin%2fcircuit-breaker/db/reset",
        "/admin/circuit-breaker%2Fdb/reset", "/health%2Fdb", "/readyz%5Cdb"}) {
    HttpResponse r = api_.Handle({"POST", t, "", auth});
    EXPECT_EQ(r.status, 400) << t;
    EXPECT_EQ(reset_called_, "") << t;
  }
  for (const HttpResponse& r : {Get("/nope"), api_.Handle({"POST", "/readyz", "", ""}),
                                Get("/a%zz"), Get("/health/nope")}) {
    bool no_store = false;
    for (const auto& [k, v] : r.headers)
      no_store = no_store || (k == "Cache-Control" && v == "no-store");
    EXPECT_TRUE(no_store) << r.status;
  }
}

TEST_F(ApiTest, PercentEncodedPathsDecode) {
  Set({View("db", "database", true, Status::kPass)});
  EXPECT_EQ(Get("/health/%64b").status, 200);
  EXPECT_EQ(Get("/%72eadyz").status, 200);
}

TEST_F(ApiTest, HealthJsonIetfForm) {
  Set({View("db", "database", true, Status::kPass),
       View("redis-cache", "cache", false, Status::kFail, "refused")});
  HttpResponse r = Get("/health", "application/health+json");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/health+json");
  json j = json::parse(r.body);
  EXPECT_EQ(j["status"], "warn");
  ASSERT_TRUE(j["checks"].contains("redis-cache:responseTime"));
  auto e = j["checks"]["redis-cache:responseTime"][0];
  EXPECT_EQ(e["status"], "fail");
  EXPECT_EQ(e["observedUnit"], "ms");
  EXPECT_EQ(e["output"], "refused");
  EXPECT_TRUE(e.contains("time"));
  EXPECT_TRUE(e.contains("observedValue"));
}

TEST_F(ApiTest, AdminNeedsTheRightBearerToken) {
  Set({View("db", "database", true, Status::kFail, "x")});
  const std::string path = "/admin/circuit-breaker/db/reset";
  EXPECT_EQ(api_.Handle({"POST", path, "", ""}).status, 401);
  EXPECT_EQ(api_.Handle({"POST", path, "", "Bearer wrong"}).status, 401);
  EXPECT_EQ(api_.Handle({"POST", path, "", "Basic tok3n"}).status, 401);
  EXPECT_EQ(reset_called_, "");
  EXPECT_EQ(api_.Handle({"POST", path, "", "Bearer tok3n"}).status, 200);
  EXPECT_EQ(reset_called_, "db");
  EXPECT_EQ(api_.Handle({"POST", "/admin/circuit-breaker/nope/reset", "", "Bearer tok3n"}).status,
            404);
  EXPECT_EQ(api_.Handle({"GET", path, "", "Bearer tok3n"}).status, 405);
}

TEST_F(ApiTest, AdminIsOffWithoutAToken) {
  api_.SetAdminToken("");
  EXPECT_EQ(api_.Handle({"POST", "/admin/circuit-breaker/db/reset", "", "Bearer "}).status, 404);
  EXPECT_EQ(api_.Handle({"POST", "/admin/circuit-breaker/db/reset", "", ""}).status, 404);
}

TEST_F(ApiTest, MetricsAndStatusPage) {
  Set({View("db", "database", true, Status::kPass)});
  HttpResponse m = Get("/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("vigil_check_up{check=\"db\",kind=\"postgres\",role=\"database\","
                        "required=\"true\"} 1"),
            std::string::npos);
  EXPECT_NE(m.body.find("vigil_ready 1"), std::string::npos);
  EXPECT_NE(m.body.find("vigil_health_status{status=\"ok\"} 1"), std::string::npos);
  EXPECT_NE(m.body.find("process_resident_memory_bytes"), std::string::npos);
  HttpResponse p = Get("/");
  EXPECT_EQ(p.status, 200);
  EXPECT_NE(p.content_type.find("text/html"), std::string::npos);
  EXPECT_NE(p.body.find("/health"), std::string::npos);
  // Self-contained: no external URL of any kind.
  EXPECT_EQ(p.body.find("http://"), std::string::npos);
  EXPECT_EQ(p.body.find("https://"), std::string::npos);
  EXPECT_EQ(p.body.find("src="), std::string::npos);
}

TEST_F(ApiTest, MetricsEscapeLabelValues) {
  auto c = View("db", "database", true, Status::kPass);
  c.role = "data\"base\\\n";
  Set({c});
  EXPECT_NE(Get("/metrics").body.find("role=\"data\\\"base\\\\\\n\""), std::string::npos);
}

TEST(ConstantTime, Compares) {
  EXPECT_TRUE(ConstantTimeEquals("abc", "abc"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abd"));
  EXPECT_FALSE(ConstantTimeEquals("abc", "abcd"));
  EXPECT_FALSE(ConstantTimeEquals("", "a"));
}

}  // namespace
}  // namespace vigil

namespace vigil {
namespace {

PeerCheck PC(const std::string& name, Status s) {
  PeerCheck c;
  c.name = name;
  c.status = s;
  return c;
}

// The fleet's routes and the fleet-aware verdicts through the router.
class FleetApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    CheckView db = View("db", "database", true, Status::kFail, "connection refused");
    db.stay_ready_when_widespread = true;
    db.since = WallClock::now() - std::chrono::seconds(30);
    auto s = std::make_shared<HealthSnapshot>();
    s->checks = {db, View("app", "app", true, Status::kPass)};
    s->started_at = WallClock::now();
    store_.Set(s);
    store_.Beat(Clock::now());
  }
  // `failing` of `pods` peers (besides this pod) fail "db".
  void Peers(int failing, int pods) {
    auto v = std::make_shared<FleetView>();
    v->enabled = true;
    v->rounds = 1;
    v->last_round_started = WallClock::now() - std::chrono::seconds(1);
    v->last_round_completed = WallClock::now();
    for (int i = 0; i < pods; ++i) {
      PeerAnswer a;
      a.name = "web-" + std::to_string(i + 2);
      a.address = "10.0.0." + std::to_string(i + 2) + ":8086";
      a.received = WallClock::now();
      a.status = i < failing ? "error" : "ok";
      a.checks = {PC("app", Status::kPass), PC("db", i < failing ? Status::kFail : Status::kPass)};
      v->answers.push_back(a);
    }
    fleet_.Set(v);
  }
  HttpResponse Get(const std::string& target, const std::string& auth = "") {
    return api_.Handle({"GET", target, "*/*", auth});
  }
  SnapshotStore store_;
  FleetStore fleet_;
  Api api_{&store_, [this] {
             Api::Options o;
             o.pod = PodInfo{"web-1", "shop", "node-a"};
             o.fleet = &fleet_;
             o.fleet_token = "a-long-enough-fleet-token";
             return o;
           }()};
};

TEST_F(FleetApiTest, WidespreadStayReadyIsReadyAndDegraded) {
  Peers(8, 9);
  EXPECT_EQ(Get("/readyz").status, 200);
  const HttpResponse v = Get("/readyz?verbose");
  EXPECT_NE(v.body.find("[~]db failed on 9 of 10 pods (widespread), kept ready\n"),
            std::string::npos)
      << v.body;
  EXPECT_EQ(Get("/readyz/db").status, 200);
  EXPECT_EQ(Get("/livez/db").status, 503);  // liveness never uses the fleet
  const HttpResponse h = Get("/health");
  EXPECT_EQ(h.status, 200);
  const json j = json::parse(h.body);
  EXPECT_EQ(j["status"], "degraded");
  EXPECT_EQ(j["ready"], true);
  EXPECT_EQ(j["checks"]["db"]["fleet"],
            json({{"failing", 9}, {"pods", 10}, {"scope", "widespread"}}));
  EXPECT_EQ(j["checks"]["app"]["fleet"]["scope"], "none");
  const std::string m = Get("/metrics").body;
  EXPECT_NE(m.find("vigil_ready 1\n"), std::string::npos);
  EXPECT_NE(m.find("vigil_check_scope{check=\"db\",scope=\"widespread\"} 1\n"), std::string::npos);
  EXPECT_NE(m.find("vigil_fleet_check_failing_pods{check=\"db\"} 9\n"), std::string::npos);
  EXPECT_NE(m.find("vigil_fleet_pods 10\n"), std::string::npos);
}

TEST_F(FleetApiTest, LocalFailureIsUnready) {
  Peers(0, 9);
  EXPECT_EQ(Get("/readyz").status, 503);
  EXPECT_NE(Get("/readyz?verbose").body.find("[-]db failed: connection refused\n"),
            std::string::npos);
  const json j = json::parse(Get("/health").body);
  EXPECT_EQ(j["status"], "error");
  EXPECT_EQ(j["checks"]["db"]["fleet"]["scope"], "local");
}

TEST_F(FleetApiTest, NoRoundYetIsTheLocalVerdictWithoutFleetObject) {
  EXPECT_EQ(Get("/readyz").status, 503);
  const json j = json::parse(Get("/health").body);
  EXPECT_FALSE(j["checks"]["db"].contains("fleet"));
}

TEST_F(FleetApiTest, SelfNeedsTheTokenAndTellsTheLocalVerdict) {
  Peers(8, 9);
  EXPECT_EQ(Get("/fleet/self").status, 401);
  EXPECT_EQ(Get("/fleet/self", "Bearer wrong-token-of-some-length").status, 401);
  const HttpResponse r = Get("/fleet/self", "bearer  a-long-enough-fleet-token");
  ASSERT_EQ(r.status, 200);
  const json j = json::parse(r.body);
  EXPECT_EQ(j["v"], 1);
  EXPECT_EQ(j["ready"], false);  // local: no pod reasons from another's reasoning
  EXPECT_EQ(j["status"], "error");
  EXPECT_EQ(j["checks"]["db"]["status"], "fail");
  EXPECT_EQ(j["pod"]["name"], "web-1");
}

TEST_F(FleetApiTest, FleetListsThePodsAndTheFailures) {
  Peers(2, 3);
  const HttpResponse r = Get("/fleet");
  ASSERT_EQ(r.status, 200);
  const json j = json::parse(r.body);
  EXPECT_EQ(j["enabled"], true);
  ASSERT_EQ(j["pods"].size(), 4u);
  EXPECT_EQ(j["pods"][0]["self"], true);
  EXPECT_EQ(j["pods"][0]["name"], "web-1");
  EXPECT_EQ(j["pods"][1]["address"], "10.0.0.2:8086");
  EXPECT_EQ(j["checks"]["db"]["failing"], 3);
  EXPECT_EQ(j["checks"]["db"]["pods"], 4);
  EXPECT_EQ(j["checks"]["db"]["scope"], "widespread");
  EXPECT_EQ(j["checks"]["db"]["failing_pods"], json({"web-1", "web-2", "web-3"}));
  EXPECT_EQ(Get("/fleet").status, 200);
}

TEST(BearerToken, SchemeInAnyCaseAndSpaces) {
  EXPECT_EQ(BearerToken("Bearer abc"), "abc");
  EXPECT_EQ(BearerToken("bearer abc"), "abc");
  EXPECT_EQ(BearerToken("BEARER   abc"), "abc");
  EXPECT_EQ(BearerToken("Bearerabc"), "");
  EXPECT_EQ(BearerToken("Basic abc"), "");
  EXPECT_EQ(BearerToken("Bearer   "), "");
  EXPECT_EQ(BearerToken(""), "");
}

// Root cause (docs/configuration.md): "[-]app failed: blocked by db", blocked_by in
// /health, readiness unchanged.
TEST_F(ApiTest, BlockedCheckNamesItsCause) {
  CheckView app = View("app", "app", true, Status::kFail, "HTTP 500");
  app.depends_on = {"db"};
  Set({View("db", "database", true, Status::kFail, "connection refused"), app});
  HttpResponse r = Get("/readyz?verbose");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("[-]app failed: blocked by db\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("[-]db failed: connection refused\n"), std::string::npos) << r.body;
  EXPECT_EQ(Get("/readyz/app").body, "[-]app failed: blocked by db\n");
  json j = json::parse(Get("/health").body);
  EXPECT_EQ(j["checks"]["app"]["blocked_by"], "db");
  EXPECT_EQ(j["checks"]["app"]["depends_on"], json::array({"db"}));
  EXPECT_FALSE(j["checks"]["db"].contains("blocked_by"));
  EXPECT_EQ(json::parse(Get("/health/app").body)["blocked_by"], "db");
  // db back: app's failure is its own again.
  Set({View("db", "database", true, Status::kPass), app});
  EXPECT_EQ(Get("/readyz/app").body, "[-]app failed: HTTP 500\n");
  EXPECT_FALSE(json::parse(Get("/health").body)["checks"]["app"].contains("blocked_by"));
}

TEST_F(ApiTest, BlockedSeriesOneAnEdge) {
  CheckView app = View("app", "app", true, Status::kFail, "HTTP 500");
  app.depends_on = {"db", "redis-session"};
  Set({View("db", "database", true, Status::kFail, "connection refused"),
       View("redis-session", "session", true, Status::kPass), app});
  const std::string m = Get("/metrics").body;
  EXPECT_NE(m.find("# TYPE vigil_check_blocked gauge\n"), std::string::npos);
  EXPECT_NE(m.find("vigil_check_blocked{check=\"app\",by=\"db\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("vigil_check_blocked{check=\"app\",by=\"redis-session\"} 0\n"),
            std::string::npos);
  EXPECT_EQ(m.find("vigil_check_blocked{check=\"db\""), std::string::npos);
}

// Flapping (docs/configuration.md): /health's flag and history, the gauge, the hold.
TEST_F(ApiTest, FlappingCheckIsShownAndHeldUnready) {
  CheckView db = View("db", "database", true, Status::kPass);
  db.flapping = true;
  db.flap_percent = 61.2345;
  db.flap_history = {true, false, true, false};
  Set({db, View("redis-cache", "cache", false, Status::kPass)});
  HttpResponse r = Get("/readyz?verbose");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("[-]db flapping, held unready\n"), std::string::npos) << r.body;
  EXPECT_EQ(Get("/readyz/db").status, 503);
  EXPECT_EQ(Get("/livez").status, 200);
  json j = json::parse(Get("/health").body);
  EXPECT_EQ(j["status"], "error");
  EXPECT_EQ(j["checks"]["db"]["flapping"], true);
  EXPECT_EQ(j["checks"]["db"]["state_change_percent"], 61.235);
  EXPECT_EQ(j["checks"]["db"]["flap_history"], "+-+-");
  EXPECT_EQ(j["checks"]["redis-cache"]["flapping"], false);
  const std::string m = Get("/metrics").body;
  EXPECT_NE(m.find("vigil_check_flapping{check=\"db\"} 1\n"), std::string::npos) << m;
  EXPECT_NE(m.find("vigil_check_flapping{check=\"redis-cache\"} 0\n"), std::string::npos);
  // flap_hold: none
  db.flap_hold = false;
  Set({db, View("redis-cache", "cache", false, Status::kPass)});
  EXPECT_EQ(Get("/readyz").status, 200);
  EXPECT_EQ(Get("/readyz/db").body, "[+]db ok\n");
}

}  // namespace
}  // namespace vigil
