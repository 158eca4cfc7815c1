// The security review's fixes through the vigil binary: weak secrets
// refused at start-up, brute force on the admin token answered 429 and logged
// once, health_details "status", PostgreSQL notices in the log (not on
// stderr), and a process that is not dumpable.
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/agent_process.h"
#include "tests/support/config_file.h"
#include "tests/support/eventually.h"
#include "tests/support/pg_server.h"
#include "tests/support/ports.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

// A config file written at once.
struct TempConfig : ConfigFile {
  explicit TempConfig(const json& config) : ConfigFile("vigil-review") { Write(config); }
};

json DeadTcpCheck(const std::string& name) {
  return {{"name", name},
          {"kind", "tcp"},
          {"role", "app"},
          {"address", "127.0.0.1:" + std::to_string(FreePort())}};
}

size_t Count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (size_t p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST(SecurityReview, WeakSecretsStopStartUpWithExitTwoNamingTheField) {
  TempConfig weak_pw(
      json{{"checks",
            {{{"name", "cache"}, {"kind", "redis"}, {"url", "redis://:Zq7w@127.0.0.1:6379"}}}}});
  for (const char* cmd : {"validate", "run", "check"}) {
    CommandResult r = RunVigil({cmd, "--config", weak_pw.path(), "--listen", "127.0.0.1:0"});
    EXPECT_EQ(r.exit_code, 2) << cmd << ": " << r.err;
    EXPECT_NE(r.err.find("checks[0].url: password is shorter than 8 characters"), std::string::npos)
        << r.err;
    EXPECT_EQ((r.out + r.err).find("Zq7w"), std::string::npos);
  }
  TempConfig fine(json{{"checks", {DeadTcpCheck("app")}}});
  CommandResult r = RunVigil({"run", "--config", fine.path(), "--listen", "127.0.0.1:0"},
                             {{"VIGIL_ADMIN_TOKEN", "tok3n-short"}});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("VIGIL_ADMIN_TOKEN: admin token is shorter than 16 bytes"),
            std::string::npos)
      << r.err;
  EXPECT_EQ((r.out + r.err).find("tok3n-short"), std::string::npos);
  // A token file over 4 KiB is refused, not read whole.
  const std::string token_file = fine.dir() + "/token";
  std::ofstream(token_file) << std::string(5000, 'k');
  r = RunVigil({"validate", "--config", fine.path(), "--admin-token-file", token_file});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("admin_token_file: larger than 4096 bytes"), std::string::npos) << r.err;
}

TEST(SecurityReview, AdminBruteForceIsAnswered429AndLoggedOnce) {
  TempConfig cfg(json{{"checks", {DeadTcpCheck("dep")}}});
  const std::string token = "a-proper-admin-token-0123";
  AgentProcess agent(cfg.path(), {}, {{"VIGIL_ADMIN_TOKEN", token}});
  const std::string path = "/admin/circuit-breaker/dep/reset";
  for (int i = 0; i < 6; ++i) {
    EXPECT_EQ(HttpCall(agent.port(), "POST", path,
                       {{"Authorization", "Bearer guess-" + std::to_string(i)}})
                  .status,
              401);
  }
  HttpReply locked = HttpCall(agent.port(), "POST", path, {{"Authorization", "Bearer " + token}});
  EXPECT_EQ(locked.status, 429);
  EXPECT_FALSE(locked.headers["Retry-After"].empty());
  for (int i = 0; i < 5; ++i) HttpCall(agent.port(), "POST", path, {{"Authorization", "Bearer x"}});
  // Probes are untouched.
  EXPECT_EQ(agent.Get("/livez").status, 200);
  ASSERT_TRUE(Eventually(
      [&] { return agent.Stdout().find("admin_locked_out") != std::string::npos; }, 3000ms));
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(Count(agent.Stdout(), "admin_locked_out"), 1u) << agent.Stdout();
}

TEST(SecurityReview, HealthDetailsStatusHidesTargetsAndErrors) {
  TempConfig cfg(json{{"health_details", "status"},
                      {"defaults", {{"interval_ms", 200}, {"unhealthy_threshold", 1}}},
                      {"checks", {DeadTcpCheck("dep")}}});
  AgentProcess agent(cfg.path());
  ASSERT_TRUE(agent.WaitFor("/health", 503, "\"status\":\"fail\"", 5000)) << agent.Stdout();
  for (const auto& accept : {"*/*", "application/health+json"}) {
    HttpReply h = agent.Get("/health", {{"Accept", accept}});
    for (const char* hidden : {"127.0.0.1", "refused", "target", "latency", "tcp"})
      EXPECT_EQ(h.body.find(hidden), std::string::npos) << hidden << " in " << h.body;
  }
  HttpReply one = agent.Get("/health/dep");
  EXPECT_EQ(json::parse(one.body).size(), 6u) << one.body;  // name status required since + verdict
  HttpReply v = agent.Get("/readyz?verbose");
  EXPECT_NE(v.body.find("[-]dep failed\n"), std::string::npos) << v.body;
  EXPECT_EQ(v.body.find("refused"), std::string::npos) << v.body;
}

TEST(SecurityReview, PostgresNoticesGoToTheLogOnceNotToStderr) {
  PgServer pg(PgServerOptions{"Pg-n0tice-5e2a", {}});
  pg.Psql("CREATE DATABASE noticedb");
  pg.Psql("ALTER DATABASE noticedb SET default_tablespace = 'no_such_tablespace'");
  TempConfig cfg(json{{"defaults", {{"interval_ms", 100}}},
                      {"checks",
                       {{{"name", "db"},
                         {"kind", "postgres"},
                         {"url", pg.Url("noticedb")},
                         {"keep_open", false}}}}});
  AgentProcess agent(cfg.path());
  ASSERT_TRUE(agent.WaitFor("/readyz", 200, "", 10000)) << agent.Stdout();
  ASSERT_TRUE(
      Eventually([&] { return agent.Stdout().find("check_notice") != std::string::npos; }, 5000ms));
  std::this_thread::sleep_for(1000ms);  // ten more runs, ten more sessions
  const std::string out = agent.Stdout();
  EXPECT_EQ(Count(out, "check_notice"), 1u) << out;
  EXPECT_NE(out.find("default_tablespace"), std::string::npos) << out;
  EXPECT_EQ(agent.Stderr().find("WARNING"), std::string::npos) << agent.Stderr();
}

// /proc/PID/* of a process that is not dumpable belongs to root whatever
// its user (proc(5)): run vigil as an unprivileged user and look.
uid_t ProcOwner(pid_t pid) {
  struct stat st {};
  // The files inside it (the directory's own inode may keep the old owner).
  if (stat(("/proc/" + std::to_string(pid) + "/status").c_str(), &st) != 0) {
    return static_cast<uid_t>(-1);
  }
  return st.st_uid;
}

pid_t SpawnAs(uid_t uid, const std::vector<std::string>& argv) {
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_RDWR);
    dup2(null, 1);
    dup2(null, 2);
    if (setgroups(0, nullptr) != 0 || setgid(uid) != 0 || setuid(uid) != 0) _exit(126);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return pid;
}

TEST(SecurityReview, TheDaemonIsNotDumpable) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to run vigil as another user";
  const uid_t nobody = 65534;
  TempConfig cfg(json{{"checks", {DeadTcpCheck("app")}}});
  const std::string binary = cfg.dir() + "/vigil";
  ASSERT_EQ(Shell("cp '" + std::string(VIGIL_BINARY) + "' '" + binary + "' && chmod 755 '" +
                  binary + "'"),
            0);
  // The method works: a dumpable process of that user owns its /proc entry.
  pid_t control = SpawnAs(nobody, {"/bin/sleep", "5"});
  ASSERT_TRUE(Eventually([&] { return ProcOwner(control) == nobody; }, 3000ms));
  kill(control, SIGKILL);
  waitpid(control, nullptr, 0);

  pid_t vigil = SpawnAs(nobody, {binary, "run", "--config", cfg.path(), "--listen", "127.0.0.1:0"});
  // Give it time to get past exec and the prctl; it must still be running.
  std::this_thread::sleep_for(1000ms);
  int status = 0;
  ASSERT_EQ(waitpid(vigil, &status, WNOHANG), 0) << "vigil exited: " << status;
  EXPECT_EQ(ProcOwner(vigil), 0u);
  std::ifstream st("/proc/" + std::to_string(vigil) + "/status");
  std::string line, uid_line;
  while (std::getline(st, line))
    if (line.rfind("Uid:", 0) == 0) uid_line = line;
  EXPECT_NE(uid_line.find("65534"), std::string::npos) << uid_line;
  kill(vigil, SIGKILL);
  waitpid(vigil, nullptr, 0);
}

}  // namespace
}  // namespace vigil::testing
