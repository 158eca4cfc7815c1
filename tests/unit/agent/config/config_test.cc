// Every config refusal with the message that names the place and the fault.
#include "agent/config/config.h"

#include <gtest/gtest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "agent/app/daemon.h"

namespace vigil {
namespace {

EnvLookup FakeEnv(std::map<std::string, std::string> vars) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

std::string ErrorOf(const std::string& text, const EnvLookup& env = FakeEnv({})) {
  try {
    ParseConfig(text, env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

const char* kSpecExample = R"({
  "listen": "0.0.0.0:8086",
  "drain_seconds": 5,
  "admin_token_file": "/var/run/vigil/admin-token",
  "defaults": {
    "interval_ms": 5000, "timeout_ms": 1000,
    "unhealthy_threshold": 2, "healthy_threshold": 1, "jitter_percent": 10,
    "breaker": { "failure_threshold": 5, "recovery_timeout_ms": 30000, "success_threshold": 2 }
  },
  "checks": [
    { "name": "redis-cache",   "kind": "redis",    "role": "cache",   "url": "redis://redis-cache:6379/0" },
    { "name": "redis-session", "kind": "redis",    "role": "session", "url": "redis://:${REDIS_PASSWORD}@redis-session:6379" },
    { "name": "db",            "kind": "postgres", "role": "database", "url": "postgresql://app:${PGPASSWORD}@db:5432/app" },
    { "name": "app",           "kind": "tcp",      "role": "app",     "address": "127.0.0.1:3000", "liveness": true }
  ]
})";

TEST(Config, SpecExampleParses) {
  Config c = ParseConfig(kSpecExample,
                         FakeEnv({{"REDIS_PASSWORD", "s3cret-r"}, {"PGPASSWORD", "s3cret-p"}}));
  ASSERT_EQ(c.checks.size(), 4u);
  EXPECT_EQ(c.listen, "0.0.0.0:8086");
  EXPECT_EQ(c.drain_seconds, 5);
  EXPECT_FALSE(c.checks[0].required);  // cache
  EXPECT_TRUE(c.checks[1].required);   // session
  EXPECT_TRUE(c.checks[2].required);   // database
  EXPECT_TRUE(c.checks[3].liveness);
  EXPECT_EQ(c.checks[0].timing.interval_ms, 5000);
  EXPECT_EQ(c.checks[0].timing.breaker.recovery_timeout_ms, 30000);
  // Both passwords are known as secrets, so every output can scrub them.
  EXPECT_NE(std::find(c.secrets.begin(), c.secrets.end(), "s3cret-r"), c.secrets.end());
  EXPECT_NE(std::find(c.secrets.begin(), c.secrets.end(), "s3cret-p"), c.secrets.end());
}

TEST(Config, DefaultsApplyAndChecksOverride) {
  Config c = ParseConfig(R"({"defaults":{"interval_ms":2000,"timeout_ms":300},
    "checks":[{"name":"a","kind":"tcp","address":"127.0.0.1:1"},
              {"name":"b","kind":"tcp","address":"127.0.0.1:2","timeout_ms":50,
               "breaker":{"failure_threshold":3}}]})",
                         FakeEnv({}));
  EXPECT_EQ(c.checks[0].timing.interval_ms, 2000);
  EXPECT_EQ(c.checks[0].timing.timeout_ms, 300);
  EXPECT_EQ(c.checks[1].timing.timeout_ms, 50);
  EXPECT_EQ(c.checks[1].timing.breaker.failure_threshold, 3);
  EXPECT_EQ(c.checks[1].timing.breaker.success_threshold, 2);
}

TEST(Config, RequiredOverridesTheRoleTable) {
  Config c = ParseConfig(
      R"({"checks":[{"name":"a","kind":"tcp","role":"cache","required":true,"address":"h:1"},
                    {"name":"b","kind":"tcp","role":"session","required":false,"address":"h:1"}]})",
      FakeEnv({}));
  EXPECT_TRUE(c.checks[0].required);
  EXPECT_FALSE(c.checks[1].required);
}

TEST(Config, RoleDefaultsByKind) {
  Config c = ParseConfig(R"({"checks":[{"name":"a","kind":"tcp","address":"h:1"}]})", FakeEnv({}));
  EXPECT_EQ(c.checks[0].role, "app");
  EXPECT_TRUE(c.checks[0].required);
}

TEST(Config, UnsupportedSchemeNamesTheField) {
  EXPECT_EQ(ErrorOf(R"({"checks":[{"name":"a","kind":"tcp","address":"h:1"},
                                   {"name":"b","kind":"redis","url":"htp://x"}]})"),
            "checks[1].url: unsupported scheme \"htp\"");
}

TEST(Config, UnknownKeysAreRefused) {
  EXPECT_EQ(ErrorOf(R"({"checks":[],"colour":"red"})"), "colour: unknown key");
  EXPECT_EQ(ErrorOf(R"({"checks":[{"name":"a","kind":"tcp","address":"h:1","urll":"x"}]})"),
            "checks[0].urll: unknown key");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"defaults":{"interval":1}})"),
            "defaults.interval: unknown key");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"defaults":{"breaker":{"threshold":1}}})"),
            "defaults.breaker.threshold: unknown key");
  // A key of another kind is unknown for this one.
  EXPECT_EQ(ErrorOf(R"({"checks":[{"name":"a","kind":"tcp","address":"h:1","url":"x"}]})"),
            "checks[0].url: unknown key");
}

TEST(Config, DuplicateNamesAreRefused) {
  EXPECT_EQ(ErrorOf(R"({"checks":[{"name":"a","kind":"tcp","address":"h:1"},
                                   {"name":"a","kind":"tcp","address":"h:2"}]})"),
            "checks[1].name: duplicate name \"a\"");
}

TEST(Config, BadNamesAreRefused) {
  for (const char* name : {"Upper", "", "with space", "under_score",
                           "x123456789012345678901234567890123456789012345678901234567890123"}) {
    std::string text =
        std::string(R"({"checks":[{"name":")") + name + R"(","kind":"tcp","address":"h:1"}]})";
    EXPECT_NE(ErrorOf(text).find("checks[0].name: invalid name"), std::string::npos) << name;
  }
  EXPECT_EQ(ErrorOf(R"({"checks":[{"kind":"tcp","address":"h:1"}]})"), "checks[0].name: missing");
}

TEST(Config, UnresolvedVariableIsRefused) {
  EXPECT_EQ(
      ErrorOf(
          R"({"checks":[{"name":"s","kind":"redis","url":"redis://:${REDIS_PASSWORD}@h:6379"}]})"),
      "checks[0].url: unresolved variable ${REDIS_PASSWORD}");
}

TEST(Config, VariablesExpandWithDefaultsAndEscapes) {
  auto env = FakeEnv({{"HOST", "127.0.0.1"}});
  EXPECT_EQ(ExpandVariables("${HOST}:${PORT:-6379}", env, "f"), "127.0.0.1:6379");
  EXPECT_EQ(ExpandVariables("cost $$5", env, "f"), "cost $5");
  EXPECT_EQ(ExpandVariables("$HOST", env, "f"), "$HOST");  // only ${...} expands
  EXPECT_THROW(ExpandVariables("${HOST", env, "f"), ConfigError);
  EXPECT_THROW(ExpandVariables("${1BAD}", env, "f"), ConfigError);
}

TEST(Config, OutOfRangeNumbersAreRefused) {
  EXPECT_EQ(ErrorOf(R"({"checks":[{"name":"a","kind":"tcp","address":"h:1","timeout_ms":0}]})"),
            "checks[0].timeout_ms: out of range: 0 (want 10..60000)");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"drain_seconds":-1})"),
            "drain_seconds: out of range: -1 (want 0..3600)");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"defaults":{"jitter_percent":101}})"),
            "defaults.jitter_percent: out of range: 101 (want 0..100)");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"defaults":{"interval_ms":1.5}})"),
            "defaults.interval_ms: must be a whole number");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"defaults":{"breaker":{"failure_threshold":0}}})"),
            "defaults.breaker.failure_threshold: out of range: 0 (want 1..1000)");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"defaults":{"interval_ms":"5000"}})"),
            "defaults.interval_ms: must be a number");
}

TEST(Config, WrongTypesAndValuesAreRefused) {
  EXPECT_EQ(ErrorOf(R"({"checks":{}})"), "checks: must be an array");
  EXPECT_EQ(ErrorOf(R"({})"), "checks: missing");
  EXPECT_EQ(ErrorOf(R"([])"), "(root): must be an object");
  EXPECT_EQ(ErrorOf(R"({"checks":[{"name":"a","kind":"ftp"}]})"),
            "checks[0].kind: unknown kind \"ftp\" (want one of redis, postgres, tcp, http)");
  EXPECT_NE(ErrorOf(R"({"checks":[{"name":"a","kind":"tcp","role":"boss","address":"h:1"}]})")
                .find("checks[0].role: unknown role \"boss\""),
            std::string::npos);
  EXPECT_EQ(ErrorOf(R"({"checks":[{"name":"a","kind":"tcp","required":"yes","address":"h:1"}]})"),
            "checks[0].required: must be true or false");
  EXPECT_EQ(ErrorOf(R"({"checks":[{"name":"a","kind":"tcp","address":"nohostport"}]})"),
            "checks[0].address: expected HOST:PORT (e.g. 127.0.0.1:3000)");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"listen":"8086"})"), "listen: want HOST:PORT, got \"8086\"");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"log_format":"xml"})"),
            "log_format: want \"json\" or \"text\", got \"xml\"");
}

TEST(Config, InvalidJsonNamesThePosition) {
  EXPECT_EQ(ErrorOf("{\n  \"checks\": [,]\n}"), "(file): invalid JSON at line 2, column 14");
}

TEST(Config, ErrorsNeverCarryThePassword) {
  const std::string pw = "hunter2-very-secret";
  for (const std::string& url : {"htp://u:" + pw + "@h:1", "redis://:" + pw + "@h:notaport",
                                 "redis://:" + pw + "@h:1/abc", "rediss://:" + pw + "@h:0"}) {
    std::string err = ErrorOf(R"({"checks":[{"name":"a","kind":"redis","url":")" + url + "\"}]})");
    EXPECT_FALSE(err.empty()) << url;
    EXPECT_EQ(err.find(pw), std::string::npos) << err;
  }
}

TEST(Config, OverridesApplyAndValidate) {
  Config c = ParseConfig(R"({"checks":[]})", FakeEnv({}));
  Overrides o;
  o.listen = "127.0.0.1:9999";
  o.drain_seconds = 0;
  ApplyOverrides(o, &c);
  EXPECT_EQ(c.listen, "127.0.0.1:9999");
  EXPECT_EQ(c.drain_seconds, 0);
  o.listen = "nonsense";
  EXPECT_THROW(ApplyOverrides(o, &c), ConfigError);
}

TEST(Config, SameAsComparesSpecAndTiming) {
  const char* a = R"({"checks":[{"name":"a","kind":"tcp","address":"h:1"}]})";
  const char* b = R"({"checks":[{"name":"a","kind":"tcp","address":"h:2"}]})";
  const char* c =
      R"({"defaults":{"interval_ms":1000},"checks":[{"name":"a","kind":"tcp","address":"h:1"}]})";
  auto ca = ParseConfig(a, FakeEnv({})), cb = ParseConfig(b, FakeEnv({})),
       cc = ParseConfig(c, FakeEnv({}));
  EXPECT_TRUE(ca.checks[0].SameAs(ParseConfig(a, FakeEnv({})).checks[0]));
  EXPECT_FALSE(ca.checks[0].SameAs(cb.checks[0]));
  EXPECT_FALSE(ca.checks[0].SameAs(cc.checks[0]));
}

TEST(Config, DnsStaleSDefaultsOverridesAndRange) {
  Config c = ParseConfig(R"({"defaults":{"dns_stale_s":60},
    "checks":[{"name":"a","kind":"tcp","address":"h:1"},
              {"name":"b","kind":"tcp","address":"h:2","dns_stale_s":0},
              {"name":"c","kind":"tcp","address":"h:3","dns_stale_s":86400}]})",
                         FakeEnv({}));
  EXPECT_EQ(c.checks[0].timing.dns_stale_s, 60);
  EXPECT_EQ(c.checks[1].timing.dns_stale_s, 0);
  EXPECT_EQ(c.checks[2].timing.dns_stale_s, 86400);
  EXPECT_EQ(ParseConfig(R"({"checks":[{"name":"a","kind":"tcp","address":"h:1"}]})", FakeEnv({}))
                .checks[0]
                .timing.dns_stale_s,
            300);

  EXPECT_EQ(ErrorOf(R"({"checks":[{"name":"a","kind":"tcp","address":"h:1","dns_stale_s":-1}]})"),
            "checks[0].dns_stale_s: out of range: -1 (want 0..86400)");
  EXPECT_EQ(ErrorOf(R"({"checks":[{"name":"a","kind":"tcp","address":"h:1"},
      {"name":"b","kind":"tcp","address":"h:1","dns_stale_s":86401}]})"),
            "checks[1].dns_stale_s: out of range: 86401 (want 0..86400)");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"defaults":{"dns_stale_s":1.5}})"),
            "defaults.dns_stale_s: must be a whole number");
  EXPECT_EQ(ErrorOf(R"({"checks":[],"defaults":{"dns_stale_s":"300"}})"),
            "defaults.dns_stale_s: must be a number");
  EXPECT_EQ(ErrorOf(R"({"checks":[{"name":"a","kind":"tcp","address":"h:1","dns_stale_s":true}]})"),
            "checks[0].dns_stale_s: must be a number");

  // A change of dns_stale_s rebuilds the check on reload.
  Config d = ParseConfig(R"({"checks":[{"name":"a","kind":"tcp","address":"h:1"}]})", FakeEnv({}));
  Config e = ParseConfig(R"({"defaults":{"dns_stale_s":60},
    "checks":[{"name":"a","kind":"tcp","address":"h:1"}]})",
                         FakeEnv({}));
  EXPECT_FALSE(d.checks[0].SameAs(e.checks[0]));
}

// Issue 20: whatever the fault, a refusal quotes nothing of a URL's authority
// but a host it read as a host, and nothing that came from a ${...}.
TEST(Config, RefusalsQuoteNoPieceOfAnyUrlsAuthority) {
  const std::string secret = "Pw9zQx7Lk3";
  const std::vector<std::pair<std::string, std::string>> checks = {
      {"http", R"("url":"http://app:Pw9zQx7Lk3")"},
      {"http", R"("url":"https://app:Pw9zQx7Lk3/healthz")"},
      {"http", R"("url":"app:Pw9zQx7Lk3")"},
      {"http", R"("url":"http://app:Pw9zQx7Lk3@app:x/")"},
      {"postgres", R"("url":"postgres://app:Pw9zQx7Lk3/db")"},
      {"postgres", R"("url":"postgresql://app:Pw9zQx7Lk3@db:x/app")"},
      {"postgres", R"("url":"host=db port=Pw9zQx7Lk3")"},
      {"postgres", R"("url":"host=db password=Pw9zQx7Lk3 port=x")"},
      {"redis", R"("url":"redis://app:Pw9zQx7Lk3")"},
      {"redis", R"("url":"rediss://app:Pw9zQx7Lk3@cache:x")"},
      {"redis", R"("url":"redis+sentinel://app:Pw9zQx7Lk3")"},
      {"tcp", R"("address":"app:Pw9zQx7Lk3")"},
  };
  for (const auto& [kind, field] : checks) {
    const std::string text = R"({"checks":[{"name":"a","kind":")" + kind + "\"," + field + "}]}";
    const std::string e = ErrorOf(text);
    EXPECT_NE(e, "") << text;
    EXPECT_EQ(e.find(secret), std::string::npos) << e;
    EXPECT_EQ(e.find("Pw9z"), std::string::npos) << e;
  }
  // A value from a variable is not echoed back, even where a plain value is.
  const std::string e = ErrorOf(R"({"checks":[],"log_format":"${PW}"})", FakeEnv({{"PW", secret}}));
  EXPECT_NE(e.find("log_format"), std::string::npos) << e;
  EXPECT_EQ(e.find(secret), std::string::npos) << e;
  // A host read as a host may be named.
  EXPECT_EQ(ErrorOf(R"({"checks":[],"listen":"8086"})"), "listen: want HOST:PORT, got \"8086\"");
}

// Issue 20: the DSN guard is the postgres kind's (CheckKind::before_expansion),
// run on the check as written: the config parser names no kind.
TEST(Config, KindsCheckTheirValuesBeforeExpansion) {
  CheckRegistry registry;
  for (const std::string& name : CheckRegistry::Builtin().Names()) {
    CheckKind kind = *CheckRegistry::Builtin().Find(name);
    if (name == "tcp") {
      kind.name = "picky";
      kind.before_expansion = [](const nlohmann::json& raw, const std::string& path,
                                 const ExpandReference& expand) {
        const std::string address = raw.at("address").get<std::string>();
        if (address.find("${") != std::string::npos && expand("${HOST}", path) == "evil") {
          throw ConfigError(path + ".address", "refused before expansion");
        }
      };
    }
    registry.Register(kind);
  }
  const std::string text = R"({"checks":[{"name":"a","kind":"picky","address":"${HOST}:1"}]})";
  try {
    ParseConfig(text, FakeEnv({{"HOST", "evil"}}), registry);
    ADD_FAILURE() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_STREQ(e.what(), "checks[0].address: refused before expansion");
  }
  // The postgres kind's own rule, through the hook.
  EXPECT_NE(ErrorOf(R"({"checks":[{"name":"db","kind":"postgres","url":"host=db password=${P}"}]})",
                    FakeEnv({{"P", "x host=evil"}}))
                .find("would add a keyword"),
            std::string::npos);
}

// depends_on (docs/configuration.md, root cause): names of the config's checks, no cycle.
std::string DependsConfig(const std::string& a, const std::string& b, const std::string& c) {
  return std::string(R"({"checks": [)") +
         R"({"name": "db", "kind": "tcp", "address": "127.0.0.1:5432")" + a + "}," +
         R"({"name": "cache", "kind": "tcp", "address": "127.0.0.1:6379")" + b + "}," +
         R"({"name": "app", "kind": "tcp", "address": "127.0.0.1:3000")" + c + "}]}";
}

TEST(ConfigDependsOn, NamesAreRead) {
  Config c = ParseConfig(DependsConfig("", "", R"(, "depends_on": ["db", "cache"])"), FakeEnv({}));
  EXPECT_TRUE(c.checks[0].depends_on.empty());
  EXPECT_EQ(c.checks[2].depends_on, (std::vector<std::string>{"db", "cache"}));
}

TEST(ConfigDependsOn, UnknownNameIsAnError) {
  EXPECT_EQ(ErrorOf(DependsConfig("", "", R"(, "depends_on": ["db", "dbb"])")),
            "checks[2].depends_on[1]: unknown check \"dbb\"");
}

TEST(ConfigDependsOn, BadShapesAreErrors) {
  EXPECT_EQ(ErrorOf(DependsConfig("", "", R"(, "depends_on": "db")")),
            "checks[2].depends_on: must be a list of check names");
  EXPECT_EQ(ErrorOf(DependsConfig("", "", R"(, "depends_on": [1])")),
            "checks[2].depends_on[0]: must be a check name");
  EXPECT_EQ(ErrorOf(DependsConfig("", "", R"(, "depends_on": ["db", "db"])")),
            "checks[2].depends_on[1]: duplicate \"db\"");
}

TEST(ConfigDependsOn, CyclesAreNamed) {
  EXPECT_EQ(ErrorOf(DependsConfig(R"(, "depends_on": ["db"])", "", "")),
            "checks[0].depends_on: cycle db -> db");
  EXPECT_EQ(ErrorOf(DependsConfig(R"(, "depends_on": ["app"])", "", R"(, "depends_on": ["db"])")),
            "checks[0].depends_on: cycle db -> app -> db");
  EXPECT_EQ(ErrorOf(DependsConfig(R"(, "depends_on": ["cache"])", R"(, "depends_on": ["app"])",
                                  R"(, "depends_on": ["db"])")),
            "checks[0].depends_on: cycle db -> cache -> app -> db");
  // A diamond is no cycle.
  EXPECT_EQ(
      ErrorOf(DependsConfig("", R"(, "depends_on": ["db"])", R"(, "depends_on": ["db", "cache"])")),
      "");
}

// Detection at the edge and flapping keys (docs/configuration.md), per check or in defaults.
TEST(ConfigSignals, KeysAndDefaults) {
  Config c = ParseConfig(R"({"defaults": {"unhealthy_interval_ms": 200, "flap_hold": "none"},
    "checks": [
      {"name": "a", "kind": "tcp", "address": "127.0.0.1:1"},
      {"name": "b", "kind": "tcp", "address": "127.0.0.1:2", "unhealthy_interval_ms": 100,
       "unhealthy_edge_interval_ms": 50, "healthy_edge_interval_ms": 300, "min_interval_ms": 20,
       "flap_detection": false, "flap_high_percent": 40, "flap_low_percent": 10,
       "flap_hold": "unready"}]})",
                         FakeEnv({}));
  const CheckTiming& a = c.checks[0].timing;
  EXPECT_EQ(a.unhealthy_interval_ms, 200);
  EXPECT_EQ(a.unhealthy_edge_interval_ms, 0);  // unset: the unhealthy interval stands in
  EXPECT_EQ(a.min_interval_ms, 100);
  EXPECT_TRUE(a.flap_detection);
  EXPECT_EQ(a.flap_high_percent, 50);
  EXPECT_EQ(a.flap_low_percent, 25);
  EXPECT_FALSE(a.flap_hold_unready);
  const CheckTiming& b = c.checks[1].timing;
  EXPECT_EQ(b.unhealthy_interval_ms, 100);
  EXPECT_EQ(b.unhealthy_edge_interval_ms, 50);
  EXPECT_EQ(b.healthy_edge_interval_ms, 300);
  EXPECT_EQ(b.min_interval_ms, 20);
  EXPECT_FALSE(b.flap_detection);
  EXPECT_EQ(b.flap_high_percent, 40);
  EXPECT_EQ(b.flap_low_percent, 10);
  EXPECT_TRUE(b.flap_hold_unready);
}

TEST(ConfigSignals, BadValuesAreNamed) {
  auto one = [](const std::string& keys) {
    return ErrorOf(R"({"checks": [{"name": "a", "kind": "tcp", "address": "127.0.0.1:1", )" + keys +
                   "}]}");
  };
  EXPECT_EQ(one(R"("flap_hold": "ready")"),
            "checks[0].flap_hold: want \"unready\" or \"none\", got \"ready\"");
  EXPECT_EQ(one(R"("flap_low_percent": 60)"),
            "checks[0].flap_low_percent: must not be above flap_high_percent (50)");
  EXPECT_NE(one(R"("min_interval_ms": 0)").find("checks[0].min_interval_ms: out of range"),
            std::string::npos);
  EXPECT_EQ(one(R"("flap_detection": "no")"), "checks[0].flap_detection: must be true or false");
}

}  // namespace
}  // namespace vigil
