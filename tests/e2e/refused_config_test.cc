// Issue 20: a refused config leaks nothing. Every malformed URL shape of
// every kind, with a password in it, is refused at start (`vigil run`),
// by `vigil validate`, and at reload through the file watch and SIGHUP;
// no output (stderr, stdout's log lines) holds any piece of the password.
#include <signal.h>

#include <map>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/agent_process.h"
#include "tests/support/config_file.h"
#include "tests/support/ports.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr const char* kSecret = "Pw9zQx7Lk3";
// Pieces of it: a refusal that quotes half a password leaks too.
const char* const kPieces[] = {"Pw9zQx7Lk3", "Pw9z", "Qx7Lk3"};

struct Shape {
  const char* kind;
  const char* key;
  const char* value;
};

// Each kind's URL (or address) written wrong in every way that keeps the
// password in it: '@host' left out (the password reads as the port), a bad
// port, host, IPv6 literal, percent-escape, database, path or parameter.
const Shape kShapes[] = {
    {"redis", "url", "redis://app:Pw9zQx7Lk3"},
    {"redis", "url", "redis://app:Pw9zQx7Lk3@"},
    {"redis", "url", "redis://app:Pw9zQx7Lk3@cache:x"},
    {"redis", "url", "redis://app:Pw9zQx7Lk3@[::1"},
    {"redis", "url", "redis://app:Pw9zQx7Lk3@cache:6379/x"},
    {"redis", "url", "redis://app:Pw9zQx7Lk3%zz@cache"},
    {"redis", "url", "rediss://app:Pw9zQx7Lk3"},
    {"redis", "url", "rediss://app:Pw9zQx7Lk3@cache:0"},
    {"redis", "url", "redis+sentinel://app:Pw9zQx7Lk3"},
    {"redis", "url", "redis+sentinel://app:Pw9zQx7Lk3@s1:26379,s2:x/mymaster"},
    {"redis", "url", "redis+sentinel://s1:Pw9zQx7Lk3/mymaster"},
    {"postgres", "url", "postgres://app:Pw9zQx7Lk3/db"},
    {"postgres", "url", "postgresql://app:Pw9zQx7Lk3@db:x/app"},
    {"postgres", "url", "postgres://app:Pw9zQx7Lk3@[::1/app"},
    {"postgres", "url", "postgres://app:Pw9zQx7Lk3@db/app?bogus=1"},
    {"postgres", "url", "postgres://app:Pw9zQx7Lk3@db/app?sslmode"},
    {"postgres", "url", "host=db port=Pw9zQx7Lk3"},
    {"postgres", "url", "host=db password=Pw9zQx7Lk3 port=x"},
    {"postgres", "url", "host=db password='Pw9zQx7Lk3"},
    {"postgres", "url", "host=db password=Pw9zQx7Lk3 bogus=1"},
    {"http", "url", "http://app:Pw9zQx7Lk3"},
    {"http", "url", "https://app:Pw9zQx7Lk3/healthz"},
    {"http", "url", "app:Pw9zQx7Lk3"},
    {"http", "url", "http://app:Pw9zQx7Lk3@"},
    {"http", "url", "http://app:Pw9zQx7Lk3@app:x/"},
    {"http", "url", "http://[Pw9zQx7Lk3/"},
    {"tcp", "address", "app:Pw9zQx7Lk3"},
    {"tcp", "address", "tcp://app:Pw9zQx7Lk3@app:1"},
    // The same through a variable: its value is never echoed either.
    {"http", "url", "${APP_URL}"},
    {"tcp", "address", "${APP_ADDRESS}"},
};

const std::map<std::string, std::string> kEnv = {{"APP_URL", "http://app:Pw9zQx7Lk3"},
                                                 {"APP_ADDRESS", "app:Pw9zQx7Lk3"}};

json ConfigWith(const Shape& s) {
  json check = {{"name", "bad"}, {"kind", s.kind}, {s.key, s.value}};
  return {
      {"log_format", "text"},
      {"checks",
       {{{"name", "app"}, {"kind", "tcp"}, {"address", "127.0.0.1:" + std::to_string(FreePort())}},
        check}}};
}

void ExpectNoSecret(const std::string& where, const std::string& text) {
  for (const char* piece : kPieces) {
    EXPECT_EQ(text.find(piece), std::string::npos) << where << " holds " << piece << ":\n" << text;
  }
}

int CountIn(const std::string& text, const std::string& needle) {
  int n = 0;
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) ++n;
  return n;
}

bool WaitForCount(const AgentProcess& agent, const std::string& needle, int above) {
  for (int i = 0; i < 100; ++i) {  // 5 s at most
    if (CountIn(agent.Stdout(), needle) > above) return true;
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

TEST(RefusedConfig, NoPieceOfAPasswordAtStartOrInValidate) {
  for (const Shape& s : kShapes) {
    ConfigFile file("vigil-refused");
    file.Write(ConfigWith(s));
    CommandResult validate = RunVigil({"validate", "--config", file.path()}, kEnv);
    EXPECT_EQ(validate.exit_code, 2) << s.value << ": " << validate.out << validate.err;
    EXPECT_NE(validate.err.find("checks[1]"), std::string::npos) << s.value << validate.err;
    ExpectNoSecret(std::string("validate ") + s.value, validate.out + validate.err);
    CommandResult run = RunVigil(
        {"run", "--config", file.path(), "--listen", "127.0.0.1:" + std::to_string(FreePort())},
        kEnv, 10000);
    EXPECT_EQ(run.exit_code, 2) << s.value << ": " << run.out << run.err;
    ExpectNoSecret(std::string("run ") + s.value, run.out + run.err);
  }
}

TEST(RefusedConfig, NoPieceOfAPasswordAtReloadByFileWatchOrSighup) {
  ConfigFile file("vigil-refused");
  json good = ConfigWith(kShapes[0]);
  good["checks"].erase(1);
  file.Write(good);
  AgentProcess agent(file.path(), {}, kEnv);
  for (const Shape& s : kShapes) {
    // The file watch notices the change (it polls every second)...
    int rejected = CountIn(agent.Stdout(), "config_rejected");
    file.Write(ConfigWith(s));
    ASSERT_TRUE(WaitForCount(agent, "config_rejected", rejected)) << s.value << agent.Stdout();
    // ...and SIGHUP reloads it again.
    rejected = CountIn(agent.Stdout(), "config_rejected");
    agent.Signal(SIGHUP);
    ASSERT_TRUE(WaitForCount(agent, "config_rejected", rejected)) << s.value << agent.Stdout();
  }
  EXPECT_EQ(agent.Get("/livez").status, 200);
  ExpectNoSecret("/health", agent.Get("/health").body);
  ExpectNoSecret("/metrics", agent.Get("/metrics").body);
  agent.Signal(SIGTERM);
  EXPECT_EQ(agent.WaitExit(10000), 0);
  EXPECT_GE(CountIn(agent.Stdout(), "config_rejected"), 2 * static_cast<int>(std::size(kShapes)));
  ExpectNoSecret("daemon stdout", agent.Stdout());
  ExpectNoSecret("daemon stderr", agent.Stderr());
}

}  // namespace
}  // namespace vigil::testing
