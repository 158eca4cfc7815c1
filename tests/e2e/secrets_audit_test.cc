// Secrets audit: the vigil binary runs with a
// password in every form a URL or DSN can carry one — redis user:pass, :pass,
// percent-encoded, raw '/', '@', ':'; redis+sentinel; postgres URL,
// percent-encoded, query `password=`, libpq keyword `password='...'`; http
// userinfo — on real servers. Every endpoint is read, every failure forced
// (stopped, hung, wrong password), the config reloaded (good, and bad with
// passwords inside the faulty values), `vigil check`, `vigil validate`,
// `vigil run` and `vigil probe` run on good and bad configs. Then no text the
// agent produced may hold any password, in any spelling, not even a piece of
// one (any 8 characters of it).
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <thread>

#include "checks/common/url.h"
#include "tests/support/agent_process.h"
#include "tests/support/pg_server.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"
#include "tests/support/tcp_listener.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// Distinct, and each with characters of its own, so that a find means a leak.
constexpr const char* kRedisDefault = "rDef-Q7x9-Lm2P-a1";  // requirepass, redis://:PW@
constexpr const char* kRedisUser = "rUsr-K4w8-Zt6N-b2";     // ACL user, redis://app:PW@
constexpr const char* kRedisEnc = "rEnc/K@3:x%Z&?#q=c3 ";   // percent-encoded in the URL
constexpr const char* kRedisRaw = "rRaw/T@5:y-W8-d4";       // raw '/', '@', ':' in the URL
constexpr const char* kSentinel = "sPw-M2b-Yk7t-e5";        // redis+sentinel://:PW@
constexpr const char* kPg = "pgPw/V@6%u-J3z'f6";            // postgres, every form
constexpr const char* kHttp = "hPw-N5c-Xq1r-g7";            // http://u:PW@
constexpr const char* kDollar = "dPw${Zq8-Wt3-Lx}k";        // looks like a ${VAR}
constexpr const char* kNotAVarPw = "nPw-Hj5-Rr9u-h8";       // only in bad configs
constexpr const char* kProbePw = "prbPw-Ty6-Uo0i";          // vigil probe URL

// RFC 3986 unreserved stay; everything else %XX (upper or lower hex).
std::string Base64(const std::string& in) {
  static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
  }
  return out;
}

// libpq keyword value: single-quoted, ' and \ escaped.
std::string PgQuote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'' || c == '\\') out += '\\';
    out += c;
  }
  return out + "'";
}

// Everything the agent said, by where it said it.
class Transcript {
 public:
  void Add(const std::string& where, const std::string& text) { texts_[where] += text; }
  void Add(const std::string& where, const HttpReply& r) {
    std::string all = std::to_string(r.status) + "\n";
    for (const auto& [k, v] : r.headers) all += k + ": " + v + "\n";
    texts_[where] += all + r.body;
  }
  size_t size() const { return texts_.size(); }

  // Every spelling of every password, and every 8-character piece of them;
  // one failure a password and place, with the context of the first find.
  void ExpectNoSecret(const std::vector<std::string>& passwords,
                      const std::vector<std::string>& extra_forms) const {
    std::vector<std::vector<std::string>> groups;
    for (const std::string& p : passwords) {
      std::vector<std::string> needles;
      for (const std::string& form : {p, vigil::PercentEncode(p), vigil::PercentEncode(p, true)}) {
        needles.push_back(form);
        for (size_t i = 0; i + 8 <= form.size(); ++i) needles.push_back(form.substr(i, 8));
      }
      groups.push_back(std::move(needles));
    }
    for (const std::string& f : extra_forms) groups.push_back({f});
    size_t bytes = 0;
    for (const auto& [where, text] : texts_) {
      bytes += text.size();
      for (const auto& needles : groups) {
        for (const std::string& n : needles) {
          const size_t at = text.find(n);
          if (at == std::string::npos) continue;
          ADD_FAILURE() << "\"" << n << "\" (of \"" << needles[0] << "\") found in " << where
                        << ": ..." << text.substr(at < 160 ? 0 : at - 160, 320 + n.size()) << "...";
          break;
        }
      }
    }
    EXPECT_GT(bytes, 10000u) << "the transcript is suspiciously small";
  }

 private:
  std::map<std::string, std::string> texts_;
};

class SecretsAudit : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    redis_ = new RedisServer({"--requirepass", kRedisDefault});
    PgServerOptions o;
    o.password = kPg;
    pg_ = new PgServer(o);
    app_ = new TcpListener();  // accepts and closes: the http check fails
  }
  static void TearDownTestSuite() {
    delete app_;
    delete pg_;
    delete redis_;
  }

  // ACL users are not persisted: again after every restart.
  static void SetUpRedisUsers() {
    for (const auto& [user, pw] : std::vector<std::pair<std::string, std::string>>{
             {"app", kRedisUser}, {"enc", kRedisEnc}, {"raw", kRedisRaw}}) {
      ASSERT_EQ(
          redis_->Command({"ACL", "SETUSER", user, "reset", "on", ">" + pw, "~*", "&*", "+@all"}),
          "OK");
    }
  }

  void SetUp() override {
    if (!redis_->running()) redis_->Start();
    redis_->Resume();
    SetUpRedisUsers();
    dir_ = MakeTempDir("vigil-secrets");
    config_ = dir_ + "/config.json";
  }
  void TearDown() override {
    redis_->Resume();
    pg_->Resume();
    if (!pg_->running()) pg_->Start();
    RemoveTree(dir_);
  }

  static std::string RedisAt(const std::string& userinfo) {
    return "redis://" + userinfo + "@127.0.0.1:" + std::to_string(redis_->port());
  }
  static std::string PgHostPort() { return "127.0.0.1:" + std::to_string(pg_->port()); }

  // Every form, all expected to pass but the http and sentinel ones.
  static json Checks() {
    const std::string pg_port = std::to_string(pg_->port());
    return json::array({
        {{"name", "redis-default"},
         {"kind", "redis"},
         {"role", "session"},
         {"url", RedisAt(":${REDIS_PW}")}},
        {{"name", "redis-user"},
         {"kind", "redis"},
         {"role", "lock"},
         {"url", RedisAt(std::string("app:") + kRedisUser) + "/1"}},
        {{"name", "redis-enc"},
         {"kind", "redis"},
         {"role", "cache"},
         {"url", RedisAt("enc:" + vigil::PercentEncode(kRedisEnc))}},
        {{"name", "redis-raw"},
         {"kind", "redis"},
         {"role", "cache"},
         {"url", RedisAt(std::string("raw:") + kRedisRaw) + "/2"}},
        {{"name", "redis-sentinel"},
         {"kind", "redis"},
         {"role", "cache"},
         {"url", std::string("redis+sentinel://:") + kSentinel +
                     "@127.0.0.1:" + std::to_string(FreePort()) + "/mymaster"}},
        {{"name", "pg-url"},
         {"kind", "postgres"},
         {"role", "database"},
         {"url",
          "postgresql://postgres:" + vigil::PercentEncode(kPg) + "@" + PgHostPort() + "/postgres"}},
        {{"name", "pg-env"},
         {"kind", "postgres"},
         {"role", "database"},
         {"url", "postgres://postgres:${PG_PW_ENC}@" + PgHostPort() + "/postgres"}},
        {{"name", "pg-query"},
         {"kind", "postgres"},
         {"role", "database"},
         {"url", "postgresql://postgres@" + PgHostPort() +
                     "/postgres?password=" + vigil::PercentEncode(kPg) + "&connect_timeout=5"}},
        {{"name", "pg-keyword"},
         {"kind", "postgres"},
         {"role", "database"},
         {"url", "host=127.0.0.1 port=" + pg_port +
                     " user=postgres dbname=postgres password=" + PgQuote(kPg)}},
        {{"name", "app-http"},
         {"kind", "http"},
         {"role", "cache"},
         {"required", false},
         {"url", std::string("http://user:") + kHttp +
                     "@127.0.0.1:" + std::to_string(app_->port()) + "/health"}},
    });
  }

  json Config(const std::string& log_format = "json", int interval_ms = 250) const {
    return {{"log_format", log_format},
            {"drain_seconds", 0},
            {"defaults",
             {{"interval_ms", interval_ms},
              {"timeout_ms", 2000},
              {"unhealthy_threshold", 1},
              {"breaker", {{"failure_threshold", 3}, {"recovery_timeout_ms", 500}}}}},
            {"checks", Checks()}};
  }

  static std::map<std::string, std::string> Env() {
    return {{"REDIS_PW", kRedisDefault},
            {"PG_PW_ENC", vigil::PercentEncode(kPg)},
            {"VIGIL_ADMIN_TOKEN", "admin-token-for-the-audit"}};
  }

  void Write(const json& cfg) const { std::ofstream(config_) << cfg.dump(2); }

  // Configs that must be refused, each with a password inside the faulty
  // value (or next to it).
  std::vector<json> BadConfigs() const {
    const std::string pg = PgHostPort();
    auto one = [](json check) { return json{{"checks", json::array({std::move(check)})}}; };
    auto redis = [](const std::string& url) {
      return json{{"name", "r"}, {"kind", "redis"}, {"url", url}};
    };
    auto postgres = [](const std::string& url) {
      return json{{"name", "p"}, {"kind", "postgres"}, {"url", url}};
    };
    auto http = [](const std::string& url) {
      return json{{"name", "h"}, {"kind", "http"}, {"url", url}};
    };
    const std::string np = kNotAVarPw;
    std::vector<json> out = {
        one(redis("redis://:" + np + "@127.0.0.1:99999")),
        one(redis("redis://:" + np + "@")),
        one(redis("redis://:" + np + "%zz@127.0.0.1")),
        one(redis("rediss://:" + np + "@127.0.0.1:0")),
        one(redis("redsi://:" + np + "@127.0.0.1")),
        one(redis("redis://:" + np + "@127.0.0.1/notadb")),
        one(redis("redis://:" + np + "@127.0.0.1?timeout=1")),
        one(redis("redis://:" + np + "@h1:1,h2:2")),
        one(redis("redis://user:" + np + "@[::1")),
        one(redis(":" + np + "@127.0.0.1:6379")),
        one(redis("redis+sentinel://:" + np + "@127.0.0.1:26379")),
        one(redis(std::string("redis://:") + kDollar + "@127.0.0.1")),
        one(redis("redis://:${" + np + "}@127.0.0.1")),
        one(postgres("postgresql://postgres:" + np + "@127.0.0.1:notaport/db")),
        one(postgres("postgresql://postgres:" + np + "@[::1/db")),
        one(postgres("postgresql://postgres:" + np + "@" + pg + "/db?bogus=1")),
        one(postgres("postgresql://postgres@" + pg + "/db?password=" + np + "&bogus=1")),
        one(postgres("postgresql://postgres@" + pg + "/db?password=" + np + "&port=x")),
        one(postgres("host=127.0.0.1 password='" + np)),
        one(postgres("host=127.0.0.1 password=" + np + " bogus=1")),
        one(postgres("host=127.0.0.1 password=" + np + " port=abc")),
        one(postgres("host=127.0.0.1 password = '" + np + "' port=1,2")),
        one(postgres("service=x password=" + np)),
        one(postgres("password" + np)),
        one(postgres("mysql://root:" + np + "@127.0.0.1/db")),
        one(http("http://user:" + np + "@127.0.0.1:99999/")),
        one(http("http://user:" + np + "@/x")),
        one(http("https://user:" + np + "@127.0.0.1:0/")),
        one(http("http://user:" + np + "%zz@127.0.0.1/")),
        one(http("http://user:" + np + "@127.0.0.1/pa th")),
        one(http("http://user:" + np + "@[::1/")),
        one(http("ftp://user:" + np + "@127.0.0.1/")),
        one(json{{"name", "r"}, {"kind", "redis"}, {"url", "redis://:" + np + "@h"}, {"x", 1}}),
        one(json{{"name", "R!"}, {"kind", "redis"}, {"url", "redis://:" + np + "@h"}}),
        json{{"checks", json::array({redis("redis://:" + np + "@h"), redis("redis://:x@h")})}},
    };
    // Not JSON at all, with the password in the broken text.
    out.push_back(json("{\"checks\":[{\"url\":\"redis://:" + np + "@h\"}"));
    return out;
  }

  static RedisServer* redis_;
  static PgServer* pg_;
  static TcpListener* app_;
  std::string dir_, config_;
};

RedisServer* SecretsAudit::redis_ = nullptr;
PgServer* SecretsAudit::pg_ = nullptr;
TcpListener* SecretsAudit::app_ = nullptr;

const std::vector<std::string> kCheckNames = {
    "redis-default", "redis-user", "redis-enc", "redis-raw",  "redis-sentinel",
    "pg-url",        "pg-env",     "pg-query",  "pg-keyword", "app-http"};

std::vector<std::string> AllPasswords() {
  return {kRedisDefault, kRedisUser, kRedisEnc,  kRedisRaw, kSentinel,
          kPg,           kHttp,      kNotAVarPw, kDollar,   kProbePw};
}

// Every read endpoint, every check's own endpoints, the admin route (with and
// without the token), and some refusals.
void ReadEverything(AgentProcess& agent, Transcript* t, const std::string& phase) {
  for (const char* path :
       {"/", "/livez", "/livez?verbose", "/up", "/readyz", "/readyz?verbose",
        "/ready?verbose&exclude=pg-url", "/startupz", "/health", "/health?events", "/events",
        "/metrics", "/nope", "/health/nope", "/livez/../x"}) {
    t->Add(phase + " GET " + path, agent.Get(path));
  }
  t->Add(phase + " GET /health ietf",
         agent.Get("/health", {{"Accept", "application/health+json"}}));
  for (const std::string& name : kCheckNames) {
    for (const char* prefix : {"/health/", "/readyz/", "/livez/"}) {
      t->Add(phase + " GET " + prefix + name, agent.Get(prefix + name));
    }
  }
  const std::string admin = "/admin/circuit-breaker/redis-default/reset";
  t->Add(phase + " POST admin no token", HttpCall(agent.port(), "POST", admin));
  t->Add(phase + " POST admin bad token",
         HttpCall(agent.port(), "POST", admin, {{"Authorization", "Bearer nope"}}));
  t->Add(phase + " GET admin", agent.Get(admin));
}

bool WaitForCheck(AgentProcess& agent, const std::string& name, const std::string& status, int ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    HttpReply r = agent.Get("/health/" + name);
    if (r.status != 0) {
      json h = json::parse(r.body, nullptr, false);
      if (!h.is_discarded() && h.value("status", "") == status) return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

int CountIn(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

TEST_F(SecretsAudit, NoPasswordInAnyOutputOfTheDaemon) {
  Transcript t;
  Write(Config());
  AgentProcess agent(config_, {}, Env());
  for (const char* name : {"redis-default", "redis-user", "redis-enc", "redis-raw", "pg-url",
                           "pg-env", "pg-query", "pg-keyword"}) {
    ASSERT_TRUE(WaitForCheck(agent, name, "pass", 20000))
        << name << ": " << agent.Get("/health/" + std::string(name)).body << agent.Stdout();
  }
  ASSERT_TRUE(WaitForCheck(agent, "app-http", "fail", 5000));
  ASSERT_TRUE(WaitForCheck(agent, "redis-sentinel", "fail", 5000));
  ReadEverything(agent, &t, "all up");
  for (const std::string& name : kCheckNames) {
    t.Add("admin reset " + name,
          HttpCall(agent.port(), "POST", "/admin/circuit-breaker/" + name + "/reset",
                   {{"Authorization", "Bearer admin-token-for-the-audit"}}));
  }

  // Wrong passwords: the servers' own error texts.
  ASSERT_EQ(redis_->Command({"ACL", "SETUSER", "app", "resetpass", ">changed-elsewhere"}), "OK");
  redis_->Command({"CLIENT", "KILL", "USER", "app"});
  ASSERT_TRUE(WaitForCheck(agent, "redis-user", "fail", 5000));
  pg_->Psql("ALTER USER postgres PASSWORD 'changed-elsewhere'");
  pg_->Psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE client_addr IS NOT NULL");
  for (const char* name : {"pg-url", "pg-env", "pg-query", "pg-keyword"}) {
    ASSERT_TRUE(WaitForCheck(agent, name, "fail", 10000)) << name;
  }
  ReadEverything(agent, &t, "wrong passwords");
  SetUpRedisUsers();
  pg_->Psql("ALTER USER postgres PASSWORD " + PgQuote(kPg).replace(0, 0, "E"));
  ASSERT_TRUE(WaitForCheck(agent, "redis-user", "pass", 10000));
  ASSERT_TRUE(WaitForCheck(agent, "pg-keyword", "pass", 10000))
      << agent.Get("/health/pg-keyword").body;

  // Hung, then stopped.
  redis_->Pause();
  ASSERT_TRUE(WaitForCheck(agent, "redis-default", "fail", 10000));
  ReadEverything(agent, &t, "redis hung");
  redis_->Resume();
  redis_->Stop();
  pg_->Stop();
  for (const char* name : {"redis-default", "redis-enc", "pg-url", "pg-keyword"}) {
    ASSERT_TRUE(WaitForCheck(agent, name, "fail", 10000)) << name;
  }
  std::this_thread::sleep_for(1500ms);  // breakers open and half-open
  ReadEverything(agent, &t, "all down");

  // Reloads: good (text logs from here on), then bad ones with passwords in
  // the faulty values: each refused, logged, the old config kept.
  int reloaded = CountIn(agent.Stdout(), "config_reloaded");
  Write(Config("text", 300));
  agent.Signal(SIGHUP);
  for (int i = 0; i < 100 && CountIn(agent.Stdout(), "config_reloaded") == reloaded; ++i) {
    std::this_thread::sleep_for(50ms);
  }
  ASSERT_GT(CountIn(agent.Stdout(), "config_reloaded"), reloaded) << agent.Stdout();
  for (const json& bad : BadConfigs()) {
    const int rejected = CountIn(agent.Stdout(), "config_rejected");
    if (bad.is_string()) {
      std::ofstream(config_) << bad.get<std::string>();
    } else {
      Write(bad);
    }
    agent.Signal(SIGHUP);
    for (int i = 0; i < 100 && CountIn(agent.Stdout(), "config_rejected") == rejected; ++i) {
      std::this_thread::sleep_for(30ms);
    }
    EXPECT_GT(CountIn(agent.Stdout(), "config_rejected"), rejected) << bad.dump();
  }
  EXPECT_EQ(agent.Get("/livez").status, 200);
  ReadEverything(agent, &t, "after bad reloads");

  // Everything back: recovery lines.
  redis_->Start();
  SetUpRedisUsers();
  ASSERT_TRUE(pg_->Start());
  Write(Config("json"));
  agent.Signal(SIGHUP);
  ASSERT_TRUE(WaitForCheck(agent, "pg-url", "pass", 20000));
  ASSERT_TRUE(WaitForCheck(agent, "redis-enc", "pass", 20000));
  ReadEverything(agent, &t, "recovered");

  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.WaitExit(10000), 0);
  t.Add("daemon stdout", agent.Stdout());
  t.Add("daemon stderr", agent.Stderr());
  // The log really holds the failures it had to word without the passwords.
  const std::string out = agent.Stdout();
  for (const char* expected : {"WRONGPASS", "password authentication failed", "check_failed",
                               "config_rejected", "circuit_opened", "config_reloaded"}) {
    EXPECT_NE(out.find(expected), std::string::npos) << expected;
  }
  t.ExpectNoSecret(AllPasswords(), {Base64(std::string("user:") + kHttp)});
}

TEST_F(SecretsAudit, NoPasswordInTheCommandsOutput) {
  Transcript t;
  const auto env = Env();
  Write(Config());
  // `vigil check`, with the servers up, with a wrong password, and down.
  CommandResult up = RunVigil({"check", "--config", config_}, env);
  EXPECT_NE(up.out.find("pg-keyword"), std::string::npos) << up.out << up.err;
  t.Add("check up: out", up.out);
  t.Add("check up: err", up.err);
  ASSERT_EQ(redis_->Command({"ACL", "SETUSER", "raw", "resetpass", ">changed-elsewhere"}), "OK");
  CommandResult wrong = RunVigil({"check", "--config", config_}, env);
  EXPECT_NE(wrong.out.find("WRONGPASS"), std::string::npos) << wrong.out;
  t.Add("check wrong: out", wrong.out);
  t.Add("check wrong: err", wrong.err);
  redis_->Stop();
  pg_->Stop();
  CommandResult down = RunVigil({"check", "--config", config_}, env);
  EXPECT_EQ(down.exit_code, 1);
  t.Add("check down: out", down.out);
  t.Add("check down: err", down.err);
  CommandResult ok = RunVigil({"validate", "--config", config_}, env);
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  t.Add("validate ok", ok.out + ok.err);

  // Bad configs through every command that reads one.
  int n = 0;
  for (const json& bad : BadConfigs()) {
    const std::string path = dir_ + "/bad" + std::to_string(n++) + ".json";
    std::ofstream(path) << (bad.is_string() ? bad.get<std::string>() : bad.dump(2));
    for (const char* cmd : {"validate", "check", "run"}) {
      CommandResult r = RunVigil({cmd, "--config", path}, env);
      EXPECT_EQ(r.exit_code, 2) << cmd << " " << bad.dump() << "\n" << r.out << r.err;
      EXPECT_NE(r.err.find("config error"), std::string::npos) << r.err;
      t.Add(std::string(cmd) + " " + path, r.out + r.err);
    }
  }

  // `vigil probe` with credentials in the URL: bad, refused, answered.
  for (const std::string& url :
       {"http://u:" + std::string(kProbePw) + "@127.0.0.1:" + std::to_string(FreePort()) + "/",
        "http://:" + std::string(kProbePw) + "@127.0.0.1:" + std::to_string(FreePort()),
        "http://u:" + vigil::PercentEncode(kProbePw) + "@[::1/livez",
        "ftp://u:" + std::string(kProbePw) + "@h/",
        "http://127.0.0.1:" + std::to_string(FreePort()) + "/?password=" + kProbePw}) {
    CommandResult r = RunVigil({"probe", url, "--timeout-ms", "300"});
    EXPECT_NE(r.exit_code, 0);
    t.Add("probe " + std::to_string(n++), r.out + r.err);
  }
  t.ExpectNoSecret(AllPasswords(), {Base64(std::string("user:") + kHttp)});
}

}  // namespace
}  // namespace vigil::testing
