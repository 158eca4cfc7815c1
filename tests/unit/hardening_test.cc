// Regressions for the faults the hardening work (issue 7) found, most of them
// by the fuzzers in tests/fuzz: each of these crashed the agent, printed a
// secret, or was undefined behaviour before its fix.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <nlohmann/json.hpp>

#include "agent/app/daemon.h"
#include "agent/config/config.h"
#include "agent/log/redact.h"
#include "checks/common/url.h"
#include "checks/http/http_url.h"
#include "checks/postgres/pg_dsn.h"
#include "checks/registry.h"

namespace vigil {
namespace {

std::optional<std::string> NoEnv(const std::string&) { return std::nullopt; }

std::string ConfigErrorOf(const std::string& text) {
  try {
    ParseConfig(text, NoEnv);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(accepted)";
}

std::string Tcp(const std::string& address) {
  return R"({"checks":[{"name":"a","kind":"tcp","address":")" + address + R"("}]})";
}

// std::regex recursed once a character: ~100 KB of text overflowed the stack.
TEST(Hardening, RedactCredentialsTakesLongTexts) {
  const std::string pad(1 << 20, 'a');
  const std::string text = "ERR x://u" + pad + ":secret@h " + pad + " password=hunter2 " + pad;
  const std::string out = RedactCredentials(text);
  EXPECT_EQ(out.find("secret"), std::string::npos);
  EXPECT_EQ(out.find("hunter2"), std::string::npos);
  EXPECT_EQ(out.size(), text.size() - 6 + 3 - 7 + 3);
}

TEST(Hardening, RedactCredentialsKeepsItsRules) {
  for (const auto& [in, want] : std::vector<std::pair<std::string, std::string>>{
           {"a://b:c d://e:f@g", "a://b:c d://e:***@g"},
           {"1://u:p@h x2://u:p@h", "1://u:p@h x2://u:***@h"},
           {"redis://u:p/q@h", "redis://u:p/q@h"},  // a raw '/' is not a URL password
           {"PassWord = 'a b' pwd:x;passwd=", "PassWord = *** pwd:***;passwd="},
           {"password='unterminated rest", "password=*** rest"},
           {"password=''", "password=***"},
       }) {
    EXPECT_EQ(RedactCredentials(in), want) << in;
  }
}

// "Pw/1" percent-encoded with lower-case hex is "Pw%2f1", not "pw%2f1".
TEST(Hardening, RedactorScrubsLowerHexEncodingOfMixedCasePasswords) {
  Redactor r;
  r.SetSecrets({"Sec/Ret=1"});
  EXPECT_EQ(r.Scrub("a Sec%2fRet%3d1 b Sec%2FRet%3D1 c"), "a *** b *** c");
}

TEST(Hardening, LongVariableReferenceIsAConfigErrorNotACrash) {
  const std::string name(200000, 'A');
  const std::string e = ConfigErrorOf(Tcp("${" + name + "}"));
  EXPECT_EQ(e.rfind("checks[0].address: unresolved variable ${AAAA", 0), 0u) << e.substr(0, 80);
  EXPECT_LT(e.size(), 200u);
  EXPECT_NE(ConfigErrorOf(Tcp("${" + std::string(200000, '-') + "}")).find("invalid variable"),
            std::string::npos);
}

// A literal password holding "${" must not be echoed up to the "}".
TEST(Hardening, InvalidVariableReferenceIsNotEchoed) {
  const std::string e = ConfigErrorOf(
      R"({"checks":[{"name":"r","kind":"redis","url":"redis://:ab${Secret-Part}cd@h"}]})");
  EXPECT_EQ(e.find("Secret-Part"), std::string::npos) << e;
  EXPECT_NE(e.find("checks[0].url: invalid variable reference"), std::string::npos) << e;
}

// nlohmann throws out_of_range (not parse_error) for 1e400: it escaped
// ParseConfig, and a reload ended the daemon.
TEST(Hardening, NumberOutOfRangeIsAConfigError) {
  EXPECT_EQ(ConfigErrorOf(R"({"drain_seconds": 1e400, "checks": []})"),
            "(file): invalid JSON: a number out of range");
}

TEST(Hardening, DeepNestingIsAConfigErrorNotACrash) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  const std::string e = ConfigErrorOf(R"({"checks": [], "defaults": )" + deep + "}");
  EXPECT_NE(e.find("nested too deeply"), std::string::npos) << e.substr(0, 200);
}

TEST(Hardening, EmptyKeyIsNamed) {
  EXPECT_EQ(ConfigErrorOf(R"({"": 1, "checks": []})"), R"("": unknown key)");
}

// A libpq string or a ?password= in an http check: the message quoted it all.
TEST(Hardening, HttpUrlErrorsDoNotQuoteAPassword) {
  for (const std::string url : {"host='db' password='s3cr3t'", "h password=s3cr3t",
                                "http://h:99999/?password=s3cr3t", "http://PWD=s3cr3t/"}) {
    HttpUrl u;
    std::string error;
    EXPECT_FALSE(ParseHttpUrl(url, &u, &error)) << url;
    EXPECT_EQ(error.find("s3cr3t"), std::string::npos) << error;
  }
}

std::string PgErrorOf(const std::string& url) {
  try {
    PgDsn d = ParsePgDsn(url, "checks[0].url");
    return "(accepted) " + d.Target();
  } catch (const ConfigError& e) {
    return e.what();
  }
}

// "postgres://app:secret/db" (its '@host' left out) reads the password as
// the port: a port is never quoted back.
TEST(Hardening, PgPortErrorQuotesNothing) {
  EXPECT_EQ(PgErrorOf("host=db port=abc"), "checks[0].url: port must be a number in 1..65535");
  EXPECT_EQ(PgErrorOf("postgres://app:Pw9zQx7Lk3/db"),
            "checks[0].url: port must be a number in 1..65535");
  const std::string e = PgErrorOf("host=db port=5432password=s3cr3t");
  EXPECT_EQ(e.find("s3cr3t"), std::string::npos) << e;
}

// "host=${PGHOST} password=..." with PGHOST empty: libpq reads a host of
// "password=...", and /health showed it as the target.
TEST(Hardening, PgValueHoldingAKeywordIsRefused) {
  for (const std::string url :
       {"host= password=s3cr3t", "host=db user= password=s3cr3t", "hostaddr= x=1"}) {
    const std::string e = PgErrorOf(url);
    EXPECT_NE(e.find("holds a keyword"), std::string::npos) << url << ": " << e;
    EXPECT_EQ(e.find("s3cr3t"), std::string::npos) << e;
  }
  EXPECT_EQ(PgErrorOf("host=db password=s3cr3t").rfind("(accepted)", 0), 0u);
}

// libpq quoted the query parameter; a newline in it cut the message's first
// line inside the quotes, and the text after the last (opening) quote showed.
TEST(Hardening, PgParseErrorCutAtANewlineShowsNothingAfterTheQuote) {
  const std::string e = PgErrorOf("postgresql://u[:>/db=t?:s3cr3tPW[@h:1password\n\n3");
  EXPECT_NE(e.find("checks[0].url: "), std::string::npos) << e;
  EXPECT_EQ(e.find("s3cr3tPW"), std::string::npos) << e;
}

// A raw '[' in a URL password: libpq read an IPv6 host out of it.
TEST(Hardening, PgHostThatIsNotAHostIsRefused) {
  const std::string e = PgErrorOf("postgresql://[::1/s3cr3tPW@[:#:0]/db");
  EXPECT_NE(e.find("host is not a host name or address"), std::string::npos) << e;
  EXPECT_EQ(e.find("s3cr3tPW"), std::string::npos) << e;
  const std::string dir = PgErrorOf("postgresql://[/::a;p1&&s3cr3tPW@[:#:0]/db");
  EXPECT_EQ(dir.find("s3cr3tPW"), std::string::npos) << dir;
  EXPECT_EQ(PgErrorOf("postgresql://u:pw@[::1]:5433/db"), "(accepted) [::1]:5433");
  EXPECT_EQ(PgErrorOf("host=/run/postgresql dbname=x"), "(accepted) /run/postgresql:5432");
  EXPECT_EQ(PgErrorOf("postgresql://u:pw@db-1.example_x/db"), "(accepted) db-1.example_x:5432");
}

TEST(Hardening, RedactUrlTakesCredentialsToTheLastAt) {
  EXPECT_EQ(RedactUrl("http://u:@pa://ss/word@h/x"), "http://u:***@h/x");
  EXPECT_EQ(RedactUrl("redis://u:p@w@h:1/0"), "redis://u:***@h:1/0");
  EXPECT_EQ(RedactUrl("http://h:8080/a?mail=a@b"), "http://h:8080/a?mail=a@b");
}

TEST(Hardening, ServerSettingsAreRangeChecked) {
  ServerConfig s;
  SetServerOption("max_connections", 10, "--max-connections", &s);
  EXPECT_EQ(s.max_connections, 10);
  EXPECT_THROW(SetServerOption("max_connections", 0, "--max-connections", &s), ConfigError);
  EXPECT_THROW(SetServerOption("bogus", 1, "--bogus", &s), ConfigError);
  Config c = ParseConfig(
      R"({"server":{"threads":3,"read_timeout_ms":700,"keep_alive_timeout_s":0},"checks":[]})",
      NoEnv);
  const ServerLimits l = LimitsOf(c.server);
  EXPECT_EQ(l.threads, 3);
  EXPECT_EQ(l.read_timeout_ms, 700);
  EXPECT_EQ(l.keep_alive_timeout_s, 0);
  EXPECT_EQ(l.max_connections, 512);
  Overrides o;
  o.server["read_timeout_ms"] = 50;
  try {
    ApplyOverrides(o, &c);
    ADD_FAILURE() << "50 ms accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "--read-timeout-ms: out of range: 50 (want 100..600000)");
  }
}

// A server that answers one connection with `reply`, then closes.
class OneShotServer {
 public:
  explicit OneShotServer(std::string reply) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    EXPECT_EQ(listen(fd_, 4), 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this, reply = std::move(reply)] {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 5000) <= 0) return;
      int c = accept(fd_, nullptr, nullptr);
      if (c < 0) return;
      size_t off = 0;
      while (off < reply.size()) {
        ssize_t n = send(c, reply.data() + off, reply.size() - off, MSG_NOSIGNAL);
        if (n <= 0) break;
        off += static_cast<size_t>(n);
      }
      shutdown(c, SHUT_WR);
      char sink[4096];
      while (recv(c, sink, sizeof sink, 0) > 0) {
      }
      close(c);
    });
  }
  ~OneShotServer() {
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

CheckResult RunRedisAgainst(const std::string& reply, const nlohmann::json& extra = {}) {
  OneShotServer server(reply);
  nlohmann::json spec = {{"url", "redis://127.0.0.1:" + std::to_string(server.port())}};
  for (auto it = extra.begin(); it != extra.end(); ++it) spec[it.key()] = it.value();
  std::vector<std::string> secrets;
  auto check = CheckRegistry::Builtin().Find("redis")->create(CheckSpec{spec, "c", &secrets});
  CheckResult r = check->Run(Clock::now() + std::chrono::seconds(3));
  check->Close();
  return r;
}

std::string Bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

// hiredis 0.14 allocated an announced array at once (8 GB for this one).
TEST(Hardening, RedisArrayOfABillionIsRefused) {
  CheckResult r = RunRedisAgainst("*999999999\r\n");
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.reason.find("array of more than 1024 elements"), std::string::npos) << r.reason;
}

TEST(Hardening, RedisEndlessReplyIsCutAt1MiB) {
  CheckResult r = RunRedisAgainst("+PONG\r\n$100000000\r\n" + std::string(2 << 20, 'x'));
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_NE(r.reason.find("replies larger than 1 MiB"), std::string::npos) << r.reason;
}

// static_cast<long long>(1e302) was undefined behaviour (UBSan).
TEST(Hardening, RedisHugeUsedMemoryWarnsWithoutUndefinedBehaviour) {
  CheckResult r = RunRedisAgainst("+PONG\r\n" + Bulk("used_memory:1e300\r\nmaxmemory:1\r\n"),
                                  {{"max_memory_ratio", 0.5}});
  EXPECT_EQ(r.outcome, Outcome::kWarn) << r.reason;
  EXPECT_NE(r.reason.find("% of maxmemory"), std::string::npos) << r.reason;
}

}  // namespace
}  // namespace vigil
