// Regression tests of the security review: weak secrets refused, admin
// brute force slowed, old secrets kept for late results, no value echoed in
// errors, no keyword injected through ${VAR}, text logs escaped,
// `vigil check` surviving a throwing check, and health_details.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "agent/app/daemon.h"
#include "agent/app/oneshot.h"
#include "agent/config/config.h"
#include "agent/core/scheduler.h"
#include "agent/core/snapshot.h"
#include "agent/http/api.h"
#include "agent/log/reporter.h"
#include "checks/postgres/pg_dsn.h"

namespace vigil {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

EnvLookup Env(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string ErrorOf(const std::string& text, const EnvLookup& env = Env({})) {
  try {
    ParseConfig(text, env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

std::string OneCheck(const std::string& check_json) {
  return R"({"checks":[{"name":"ok","kind":"tcp","address":"127.0.0.1:1"},)" + check_json + "]}";
}

// --- 1. Weak secrets --------------------------------------------------------

TEST(WeakSecrets, ShortPasswordsAreRefusedNamingTheFieldNotThePassword) {
  const char* kCases[] = {
      R"({"name":"r","kind":"redis","url":"redis://:Zq7@cache:6379"})",
      R"({"name":"r","kind":"redis","url":"redis://app:Zq7@cache:6379/1"})",
      R"({"name":"r","kind":"redis","url":"redis+sentinel://:Zq7@s1:26379/mymaster"})",
      R"({"name":"p","kind":"postgres","url":"postgresql://app:Zq7@db:5432/app"})",
      R"({"name":"p","kind":"postgres","url":"host=db user=app password=Zq7"})",
      R"({"name":"h","kind":"http","url":"http://u:Zq7@app:8080/health"})",
  };
  for (const char* c : kCases) {
    const std::string err = ErrorOf(OneCheck(c));
    EXPECT_EQ(err, "checks[1].url: password is shorter than 8 characters") << c;
    EXPECT_EQ(err.find("Zq7"), std::string::npos);
  }
}

TEST(WeakSecrets, AShortPasswordFromAVariableIsRefusedToo) {
  const std::string err =
      ErrorOf(OneCheck(R"({"name":"r","kind":"redis","url":"redis://:${PW}@cache:6379"})"),
              Env({{"PW", "Zq7x"}}));
  EXPECT_EQ(err, "checks[1].url: password is shorter than 8 characters");
}

TEST(WeakSecrets, CharactersNotBytesAndEncodedFormsDecoded) {
  // Seven characters in fourteen bytes: still seven.
  EXPECT_NE(ErrorOf(OneCheck(R"({"name":"r","kind":"redis","url":"redis://:éééééé7@cache:6379"})")),
            "");
  // "%41%42%43" is nine characters as written but three once decoded.
  EXPECT_EQ(
      ErrorOf(OneCheck(R"({"name":"r","kind":"redis","url":"redis://:%41%42%43@cache:6379"})")),
      "checks[1].url: password is shorter than 8 characters");
  EXPECT_EQ(ErrorOf(OneCheck(R"({"name":"r","kind":"redis","url":"redis://:8chars!!@c:6379"})")),
            "");
  EXPECT_EQ(ErrorOf(OneCheck(R"({"name":"r","kind":"redis","url":"redis://c:6379"})")), "");
}

std::string TempFile(const std::string& content) {
  char path[] = "/tmp/vigil-token-XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
  return path;
}

TEST(AdminToken, ShortTokensAreRefusedFromTheEnvironmentAndTheFile) {
  EXPECT_THROW(ValidateAdminToken("fifteen-bytes!!", "VIGIL_ADMIN_TOKEN"), ConfigError);
  EXPECT_NO_THROW(ValidateAdminToken("sixteen-bytes!!!", "VIGIL_ADMIN_TOKEN"));
  Config c;
  try {
    LoadAdminToken(c, Env({{"VIGIL_ADMIN_TOKEN", "tok3n"}}));
    ADD_FAILURE() << "a 5-byte token was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "VIGIL_ADMIN_TOKEN: admin token is shorter than 16 bytes");
  }
  const std::string short_file = TempFile("tok3n\n");
  c.admin_token_file = short_file;
  try {
    LoadAdminToken(c, Env({}));
    ADD_FAILURE() << "a 5-byte token file was accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "admin_token_file: admin token is shorter than 16 bytes");
  }
  unlink(short_file.c_str());
}

TEST(AdminToken, FileIsTrimmedCappedAndMissingMeansOff) {
  const std::string good = TempFile("a-long-enough-admin-token\n\n");
  EXPECT_EQ(ReadAdminTokenFile(good, "admin_token_file"), "a-long-enough-admin-token");
  const std::string big = TempFile(std::string(kMaxAdminTokenFileBytes + 1, 'x'));
  try {
    ReadAdminTokenFile(big, "admin_token_file");
    ADD_FAILURE() << "a token file over the cap was read";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "admin_token_file: larger than 4096 bytes");
  }
  EXPECT_EQ(ReadAdminTokenFile("/nonexistent/vigil-token", "admin_token_file"), std::nullopt);
  unlink(good.c_str());
  unlink(big.c_str());
}

// --- 2. Admin brute force ---------------------------------------------------

class AdminLockoutTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = std::make_shared<HealthSnapshot>();
    s->started_at = WallClock::now();
    store_.Set(s);
  }
  HttpResponse Post(const std::string& token, const std::string& peer = "") {
    return PostAuthorization("Bearer " + token, peer);
  }
  HttpResponse PostAuthorization(const std::string& authorization, const std::string& peer) {
    return api_.Handle({"POST", "/admin/circuit-breaker/db/reset", "*/*", authorization, peer});
  }
  static std::string Header(const HttpResponse& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return "";
  }
  SnapshotStore store_;
  Clock::time_point now_ = Clock::now();
  std::atomic<int> lockouts_{0};
  int last_lockout_s_ = 0;
  Api api_{&store_, [this] {
             Api::Options o;
             o.admin_token = "the-right-admin-token";
             o.reset_breaker = [](const std::string& n) { return n == "db"; };
             o.on_admin_lockout = [this](int s, const std::string&) {
               ++lockouts_;
               last_lockout_s_ = s;
             };
             o.now = [this] { return now_; };
             return o;
           }()};
};

TEST_F(AdminLockoutTest, MoreThanFiveFailuresInTenSecondsLockThatClientOut) {
  EXPECT_EQ(Post("the-right-admin-token").status, 200);
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(Post("guess-" + std::to_string(i)).status, 401) << i;
    now_ += 100ms;
  }
  EXPECT_EQ(lockouts_, 1);
  EXPECT_EQ(last_lockout_s_, 10);
  // Locked: the right token gets 429 too, so a guess learns nothing.
  HttpResponse r = Post("the-right-admin-token");
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(Header(r, "Retry-After"), "10");
  EXPECT_EQ(Post("another-guess").status, 429);
  EXPECT_EQ(lockouts_, 1);  // logged once, not for every refused request
  // Until the oldest failure leaves the window.
  now_ += 9s;
  EXPECT_EQ(Header(Post("the-right-admin-token"), "Retry-After"), "1");
  now_ += 500ms;
  EXPECT_EQ(Post("the-right-admin-token").status, 200);
  // GETs are never affected.
  EXPECT_EQ(api_.Handle({"GET", "/livez", "*/*", ""}).status, 200);
}

TEST_F(AdminLockoutTest, ConcurrentGuessesNeverGetMoreThanSixAnswers) {
  std::atomic<int> answered{0}, limited{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 50; ++i) {
        int s = Post("guess-" + std::to_string(t * 100 + i)).status;
        (s == 401 ? answered : limited)++;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(answered, 6);
  EXPECT_EQ(limited, 194);
  EXPECT_EQ(lockouts_, 1);
}

// Issue 20: the budget is per client address, so a flood from one pod (or
// from many) never keeps the operator's right token out.
TEST_F(AdminLockoutTest, AFloodFromOneAddressNeverLocksOutAnother) {
  for (int i = 0; i < 50; ++i) {
    Post("guess-" + std::to_string(i), "10.0.0.66");
    now_ += 400ms;  // 2.5 a second, for 20 s
    EXPECT_EQ(Post("the-right-admin-token", "10.0.0.1").status, 200) << i;
  }
  EXPECT_GE(lockouts_, 1);  // the flooding address was locked out, again and again
  for (int i = 0; i < 6; ++i) Post("guess", "10.0.0.66");
  EXPECT_EQ(Post("the-right-admin-token", "10.0.0.66").status, 429);
  EXPECT_EQ(Post("the-right-admin-token", "10.0.0.1").status, 200);
}

TEST_F(AdminLockoutTest, AFloodFromManyAddressesNeverLocksOutAnother) {
  // More addresses than the table holds: the oldest are forgotten, and the
  // operator's address, with no failure, is never in it.
  for (int i = 0; i < 3000; ++i) {
    const std::string peer = "10.1." + std::to_string(i / 250) + "." + std::to_string(i % 250);
    for (int k = 0; k < 7; ++k) Post("guess", peer);
    if (i % 100 == 0) {
      EXPECT_EQ(Post("the-right-admin-token", "10.0.0.1").status, 200) << i;
    }
  }
  EXPECT_EQ(Post("the-right-admin-token", "10.0.0.1").status, 200);
  // The most recent offenders are still locked out.
  EXPECT_EQ(Post("the-right-admin-token", "10.1.11.249").status, 429);
}

TEST_F(AdminLockoutTest, MissingCredentialsGet401AndAreNotCounted) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(PostAuthorization("", "10.0.0.66").status, 401);
    EXPECT_EQ(PostAuthorization("Bearer", "10.0.0.66").status, 401);
    EXPECT_EQ(PostAuthorization("Basic dTpw", "10.0.0.66").status, 401);
  }
  EXPECT_EQ(lockouts_, 0);
  EXPECT_EQ(Post("the-right-admin-token", "10.0.0.66").status, 200);
}

TEST_F(AdminLockoutTest, TheBearerSchemeIsCaseInsensitiveWithSpacesBeforeTheToken) {
  for (const char* auth : {"bearer the-right-admin-token", "BEARER the-right-admin-token",
                           "Bearer  the-right-admin-token", "bEaReR   the-right-admin-token"}) {
    EXPECT_EQ(PostAuthorization(auth, "10.0.0.1").status, 200) << auth;
  }
  for (const char* auth : {"Bearerthe-right-admin-token", "Bearer\tthe-right-admin-token",
                           "Bearer the-right-admin-token x", "Bear the-right-admin-token"}) {
    EXPECT_EQ(PostAuthorization(auth, "10.0.0.1").status, 401) << auth;
  }
  EXPECT_EQ(BearerToken("bearer  abc"), "abc");
  EXPECT_EQ(BearerToken("Bearer "), "");
}

// --- 3. Old secrets kept for late results -----------------------------------

struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool entered = false, open = false;
};

class GatedCheck : public Check {
 public:
  explicit GatedCheck(std::shared_ptr<Gate> g) : g_(std::move(g)) {}
  CheckResult Run(Deadline) override {
    std::unique_lock<std::mutex> lock(g_->mu);
    g_->entered = true;
    g_->cv.notify_all();
    g_->cv.wait_for(lock, 10s, [&] { return g_->open; });
    return CheckResult::Fail("password authentication failed: old-password-123");
  }
  std::string Target() const override { return "db:5432"; }

 private:
  std::shared_ptr<Gate> g_;
};

std::string DrainPipe(int fd) {
  std::string out;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  return out;
}

TEST(ReloadSecrets, RemovedChecksLateResultIsNeitherLoggedNorUnscrubbed) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
  auto gate = std::make_shared<Gate>();
  std::string out;
  {
    Reporter reporter(Reporter::Format::kJson, p[1]);
    SnapshotStore store;
    Scheduler sched(&store, &reporter,
                    [gate](const CheckConfig&) { return std::make_unique<GatedCheck>(gate); });
    Config old_cfg;
    CheckConfig db;
    db.name = "db";
    db.kind = "postgres";
    db.role = "database";
    db.required = true;
    db.timing.timeout_ms = 60000;  // the run stays in flight, not abandoned
    db.spec = std::make_shared<const nlohmann::json>(nlohmann::json{{"name", "db"}});
    db.secrets = {"old-password-123"};
    old_cfg.checks = {db};
    old_cfg.secrets = db.secrets;
    sched.Start(old_cfg);
    {
      std::unique_lock<std::mutex> lock(gate->mu);
      ASSERT_TRUE(gate->cv.wait_for(lock, 5s, [&] { return gate->entered; }));
    }
    sched.Apply(Config{});  // db removed while its run is in flight
    // Still scrubbed: its late answer may quote the password.
    EXPECT_EQ(reporter.redactor().Scrub("x old-password-123 y").find("old-password-123"),
              std::string::npos);
    {
      std::lock_guard<std::mutex> lock(gate->mu);
      gate->open = true;
    }
    gate->cv.notify_all();
    // Once the late answer is in and thrown away, the old password leaves.
    auto end = Clock::now() + 5s;
    while (Clock::now() < end &&
           reporter.redactor().Scrub("old-password-123") != "old-password-123") {
      std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(reporter.redactor().Scrub("old-password-123"), "old-password-123");
    reporter.Flush(1000);
    out = DrainPipe(p[0]);
  }
  close(p[0]);
  close(p[1]);
  EXPECT_EQ(out.find("old-password-123"), std::string::npos) << out;
  EXPECT_EQ(out.find("check_failed"), std::string::npos) << out;
}

// --- 4. No value echoed -----------------------------------------------------

TEST(NoEcho, TcpAddressThatIsAUrlIsNotRepeated) {
  const std::string err = ErrorOf(
      OneCheck(R"({"name":"t","kind":"tcp","address":"redis://:hunter2hunter2@host:6379"})"));
  EXPECT_EQ(err, "checks[1].address: expected HOST:PORT, not a URL");
  const std::string err2 =
      ErrorOf(OneCheck(R"({"name":"t","kind":"tcp","address":"hunter2hunter2@host"})"));
  EXPECT_EQ(err2.find("hunter2"), std::string::npos) << err2;
  EXPECT_NE(err2, "");
}

TEST(NoEcho, OtherRefusedValuesAreRepeatedOnlyWhenPlain) {
  for (const char* text : {
           R"({"checks":[],"listen":"redis://:hunter2hunter2@h:1"})",
           R"({"checks":[],"listen":"hunter2 hunter2"})",
           R"({"checks":[],"log_format":"hunter2@hunter2"})",
           R"({"checks":[],"health_details":"hunter2/hunter2"})",
           R"({"checks":[{"name":"a","kind":"redis://:hunter2hunter2@h","url":"x"}]})",
           R"({"checks":[{"name":"a","kind":"tcp","role":"p@hunter2hunter2","address":"h:1"}]})",
           R"({"checks":[{"name":"p@hunter2hunter2","kind":"tcp","address":"h:1"}]})",
       }) {
    const std::string err = ErrorOf(text);
    EXPECT_NE(err, "") << text;
    EXPECT_EQ(err.find("hunter2"), std::string::npos) << err;
  }
  EXPECT_EQ(ErrorOf(R"({"checks":[],"listen":"8086"})"), "listen: want HOST:PORT, got \"8086\"");
}

// --- 5. ${VAR} cannot add a libpq keyword -----------------------------------

std::string PgCheck(const std::string& url) {
  return OneCheck(R"({"name":"db","kind":"postgres","url":")" + url + R"("})");
}

TEST(DsnVariables, KeywordInjectionThroughAVariableIsRefused) {
  const std::string err = ErrorOf(PgCheck("host=db user=app password=${PGPASSWORD}"),
                                  Env({{"PGPASSWORD", "x sslmode=disable"}}));
  EXPECT_EQ(err.rfind("checks[1].url: the value of ${PGPASSWORD} would add a keyword", 0), 0u)
      << err;
  EXPECT_EQ(err.find("sslmode"), std::string::npos) << err;
  for (const char* v : {"abc=defghijk", "it's-a-password", "back\\slash-password", ""}) {
    EXPECT_NE(ErrorOf(PgCheck("host=db password=${PGPASSWORD} user=app"), Env({{"PGPASSWORD", v}})),
              "")
        << v;
  }
  EXPECT_NE(ErrorOf(PgCheck("host=${H} user=app password=long-enough-pw"),
                    Env({{"H", "db sslmode=disable"}})),
            "");
}

TEST(DsnVariables, QuotedValuesMayHoldSpacesButNotQuotes) {
  Config c = ParseConfig(PgCheck("host=db user=app password='${PGPASSWORD}'"),
                         Env({{"PGPASSWORD", "x sslmode=disable"}}));
  PgDsn dsn = ParsePgDsn((*c.checks[1].spec)["url"].get<std::string>(), "url");
  EXPECT_EQ(dsn.password, "x sslmode=disable");
  EXPECT_EQ(dsn.Param("sslmode"), "");
  const std::string err = ErrorOf(PgCheck("host=db user=app password='${PGPASSWORD}'"),
                                  Env({{"PGPASSWORD", "x' sslmode='disable"}}));
  EXPECT_NE(err.find("would end the quoted value"), std::string::npos) << err;
  EXPECT_EQ(err.find("sslmode"), std::string::npos) << err;
}

TEST(DsnVariables, PlainValuesPass) {
  EXPECT_EQ(ErrorOf(PgCheck("host=${PGHOST} user=app password=${PGPASSWORD}"),
                    Env({{"PGHOST", "db.internal"}, {"PGPASSWORD", "Secr3t-Pw_99"}})),
            "");
  EXPECT_EQ(ErrorOf(PgCheck("postgresql://app:${PGPASSWORD}@db:5432/app"),
                    Env({{"PGPASSWORD", "Secr3t-Pw_99"}})),
            "");
  // The whole connection string from one variable is taken as it is.
  EXPECT_EQ(ErrorOf(PgCheck("${DATABASE_URL}"),
                    Env({{"DATABASE_URL", "host=db user=app password=Secr3t-Pw_99"}})),
            "");
}

TEST(DsnVariables, UrlFormRefusesValuesThatMoveTheHostOrAddParameters) {
  for (const char* v :
       {"pw@evil:5432/x?sslmode=disable", "pass/word-long", "pw#frag-long", "pw?sslmode=disable"}) {
    const std::string err =
        ErrorOf(PgCheck("postgresql://app:${PGPASSWORD}@db:5432/app"), Env({{"PGPASSWORD", v}}));
    EXPECT_NE(err.find("percent-encode it"), std::string::npos) << v << ": " << err;
    EXPECT_EQ(err.find("evil"), std::string::npos) << err;
  }
  EXPECT_NE(ErrorOf(PgCheck("postgresql://app:long-enough-pw@db:5432/app?sslmode=${M}"),
                    Env({{"M", "disable&host=evil"}})),
            "");
}

// --- 6. Text logs escape what they print ------------------------------------

TEST(TextLog, ControlCharactersQuotesAndBackslashesAreEscaped) {
  Reporter r(Reporter::Format::kText, -1);
  Event e{Level::kWarn,
          "check_failed",
          "redis-cache",
          "redis",
          "master \"x\" \\ is\r\n2026-01-01T00:00:00.000Z info forged msg=\"x\"\x1b[31mred\x7f\x01",
          "[redis-cache] master name: evil\nline",
          {{"master", "my master\nforged=1"}, {"plain", "10.0.0.1:6379"}}};
  const std::string line = r.FormatLine(e, Reporter::Format::kText);
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  EXPECT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\r'), std::string::npos);
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
  EXPECT_EQ(line.find('\x7f'), std::string::npos);
  EXPECT_EQ(line.find('\x01'), std::string::npos);
  EXPECT_NE(line.find(R"(reason="master \"x\" \\ is\r\n2026)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"(\x1B[31mred\x7F\x01")"), std::string::npos) << line;
  EXPECT_NE(line.find(R"( master="my master\nforged=1")"), std::string::npos) << line;
  EXPECT_NE(line.find(" plain=10.0.0.1:6379 "), std::string::npos) << line;
}

TEST(TextLog, InvalidUtf8AndC1ControlsAreEscapedValidUtf8Kept) {
  Reporter r(Reporter::Format::kText, -1);
  Event e{Level::kInfo,
          "x",
          "",
          "",
          "caf\xc3\xa9 \xff\xfe \xc2\x9b"
          "31m \xe2\x82",
          "m",
          {}};
  const std::string line = r.FormatLine(e, Reporter::Format::kText);
  EXPECT_NE(line.find("caf\xc3\xa9"), std::string::npos) << line;
  EXPECT_NE(line.find(R"(\xFF\xFE \u009B31m \xE2\x82")"), std::string::npos) << line;
}

TEST(JsonLog, AnyBytesGiveValidJson) {
  Reporter r(Reporter::Format::kJson, -1);
  std::string all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
  Event e{Level::kError, "check_failed", "db", "postgres", all, all, {{"k", all}}};
  const std::string line = r.FormatLine(e, Reporter::Format::kJson);
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  EXPECT_NO_THROW(json::parse(line)) << line;
  EXPECT_EQ(line.find('\x1b'), std::string::npos);
}

// --- 10. `vigil check` and a check that throws ------------------------------

class ThrowingCheck : public Check {
 public:
  CheckResult Run(Deadline) override { throw std::runtime_error("driver\x1b[31m exploded"); }
  std::string Target() const override { return "boom:1"; }
};

TEST(OneShot, AThrowingCheckIsAFailedCheckNotACrash) {
  CheckRegistry registry;
  registry.Register(CheckKind{"boom", {}, "database", [](const CheckSpec&) {
                                return std::unique_ptr<Check>(new ThrowingCheck);
                              }});
  Config c = ParseConfig(R"({"checks":[{"name":"db","kind":"boom"}]})", Env({}), registry);
  ::testing::internal::CaptureStdout();
  const int rc = RunChecksOnce(c, registry);
  const std::string out = ::testing::internal::GetCapturedStdout();
  EXPECT_EQ(rc, 1);
  EXPECT_NE(out.find("internal error: driver\\x1B[31m exploded"), std::string::npos) << out;
  EXPECT_EQ(out.find('\x1b'), std::string::npos) << "raw escape on the terminal";
  EXPECT_NE(out.find("ready: no"), std::string::npos) << out;
}

// --- 11. health_details -----------------------------------------------------

TEST(HealthDetails, ConfigValueIsValidated) {
  EXPECT_EQ(ParseConfig(R"({"checks":[]})", Env({})).health_details, "full");
  EXPECT_EQ(ParseConfig(R"({"checks":[],"health_details":"status"})", Env({})).health_details,
            "status");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"health_details":"some"})"),
            "health_details: want \"full\" or \"status\", got \"some\"");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"health_details":true})"), "health_details: must be a string");
}

class HealthDetailsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = std::make_shared<HealthSnapshot>();
    s->started_at = WallClock::now();
    CheckView db;
    db.name = "db";
    db.kind = "postgres";
    db.role = "database";
    db.required = true;
    db.status = Status::kFail;
    db.reason = db.last_error = "connection to 10.1.2.3 refused";
    db.target = "db.internal:5432";
    db.latency_ms = 12.5;
    CheckView cache = db;
    cache.name = "cache";
    cache.kind = "redis";
    cache.role = "cache";
    cache.required = false;
    cache.status = Status::kWarn;
    cache.reason = "memory 95% of maxmemory";
    s->checks = {db, cache};
    store_.Set(s);
    store_.Beat(Clock::now());
  }
  HttpResponse Get(Api& api, const std::string& target, const std::string& accept = "*/*") {
    return api.Handle({"GET", target, accept, ""});
  }
  static void ExpectNothingHidden(const std::string& body) {
    for (const char* secret : {"10.1.2.3", "db.internal", "postgres", "redis", "database",
                               "latency", "memory 95", "circuit", "target", "componentType"}) {
      EXPECT_EQ(body.find(secret), std::string::npos) << secret << " in " << body;
    }
  }
  SnapshotStore store_;
};

TEST_F(HealthDetailsTest, StatusShowsNameStatusRequiredSinceOnly) {
  Api::Options o;
  o.health_details_full = false;
  Api api(&store_, o);
  HttpResponse h = Get(api, "/health");
  EXPECT_EQ(h.status, 503);
  json j = json::parse(h.body);
  std::set<std::string> keys;
  for (auto& [k, v] : j["checks"]["db"].items()) keys.insert(k);
  EXPECT_EQ(keys, (std::set<std::string>{"name", "status", "required", "since"}));
  EXPECT_EQ(j["checks"]["db"]["status"], "fail");
  EXPECT_EQ(j["checks"]["cache"]["required"], false);
  ExpectNothingHidden(h.body);

  HttpResponse ietf = Get(api, "/health", "application/health+json");
  EXPECT_EQ(ietf.content_type, "application/health+json");
  EXPECT_EQ(json::parse(ietf.body)["checks"]["db"][0]["status"], "fail");
  ExpectNothingHidden(ietf.body);

  HttpResponse one = Get(api, "/health/db");
  EXPECT_EQ(json::parse(one.body)["status"], "fail");
  ExpectNothingHidden(one.body);

  HttpResponse v = Get(api, "/readyz?verbose");
  EXPECT_NE(v.body.find("[-]db failed\n"), std::string::npos) << v.body;
  EXPECT_NE(v.body.find("[+]cache ok, warn\n"), std::string::npos) << v.body;
  ExpectNothingHidden(v.body);
  EXPECT_EQ(Get(api, "/readyz/db").body, "[-]db failed\n");
}

TEST_F(HealthDetailsTest, FullIsTheDefaultAndCanBeSwitchedAtReload) {
  Api api(&store_, Api::Options{});
  HttpResponse h = Get(api, "/health");
  EXPECT_NE(h.body.find("db.internal:5432"), std::string::npos);
  EXPECT_NE(h.body.find("connection to 10.1.2.3 refused"), std::string::npos);
  EXPECT_NE(Get(api, "/readyz?verbose").body.find("[-]db failed: connection to 10.1.2.3 refused"),
            std::string::npos);
  api.SetHealthDetails(false);
  ExpectNothingHidden(Get(api, "/health").body);
}

}  // namespace
}  // namespace vigil
