// The one reporter: one line an event, scrubbed, never blocking its caller.
#include "agent/log/reporter.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <nlohmann/json.hpp>
#include <thread>

#include "agent/config/config.h"
#include "agent/core/scheduler.h"
#include "agent/core/snapshot.h"

namespace vigil {
namespace {

using namespace std::chrono_literals;

std::string Drain(int fd) {
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

TEST(Reporter, JsonLineWithEveryField) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
  {
    Reporter r(Reporter::Format::kJson, p[1]);
    r.Report({Level::kWarn,
              "check_failed",
              "redis-cache",
              "redis",
              "connection refused",
              "[redis-cache] Redis error: connection refused",
              {{"required", "false"}}});
    r.Flush(1000);
  }
  std::string out = Drain(p[0]);
  ASSERT_EQ(std::count(out.begin(), out.end(), '\n'), 1);
  auto j = nlohmann::json::parse(out);
  EXPECT_EQ(j["level"], "warn");
  EXPECT_EQ(j["event"], "check_failed");
  EXPECT_EQ(j["check"], "redis-cache");
  EXPECT_EQ(j["kind"], "redis");
  EXPECT_EQ(j["reason"], "connection refused");
  EXPECT_EQ(j["message"], "[redis-cache] Redis error: connection refused");
  EXPECT_TRUE(j.contains("time"));
  close(p[0]);
  close(p[1]);
}

TEST(Reporter, TextFormatIsOneLine) {
  Reporter r(Reporter::Format::kText, -1);
  std::string line =
      r.FormatLine({Level::kInfo, "draining", "", "", "", "bye", {}}, Reporter::Format::kText);
  EXPECT_EQ(std::count(line.begin(), line.end(), '\n'), 1);
  EXPECT_NE(line.find("info draining"), std::string::npos);
}

TEST(Reporter, ScrubsSecrets) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
  {
    Reporter r(Reporter::Format::kJson, p[1]);
    r.SetSecrets({"hunter2"});
    r.Report({Level::kError,
              "check_failed",
              "db",
              "postgres",
              "auth failed for hunter2",
              "postgresql://app:hunter2@db/app",
              {{"x", "hunter2"}}});
    r.Flush(1000);
  }
  std::string out = Drain(p[0]);
  EXPECT_EQ(out.find("hunter2"), std::string::npos) << out;
  close(p[0]);
  close(p[1]);
}

TEST(Reporter, AFullPipeNeverBlocksTheCaller) {
  signal(SIGPIPE, SIG_IGN);  // as the daemon does
  int p[2];
  ASSERT_EQ(pipe(p), 0);  // blocking pipe nobody reads
  fcntl(p[1], F_SETPIPE_SZ, 4096);
  {
    Reporter r(Reporter::Format::kJson, p[1], /*capacity=*/64);
    const auto t0 = Clock::now();
    for (int i = 0; i < 5000; ++i) {
      r.Report({Level::kWarn, "check_failed", "c", "redis", std::string(200, 'x'), "m", {}});
    }
    EXPECT_LT(Clock::now() - t0, 2s);
    EXPECT_GT(r.dropped(), 0u);
    close(p[0]);  // writer now gets EPIPE (SIGPIPE ignored) and moves on
  }
  // Only once the writer is done with it (closing an fd another thread
  // writes to is a race: TSan).
  close(p[1]);
}

TEST(Reporter, AClosedStdoutIsNotAnError) {
  signal(SIGPIPE, SIG_IGN);
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  close(p[0]);
  Reporter r(Reporter::Format::kJson, p[1]);
  for (int i = 0; i < 10; ++i) r.Report({Level::kInfo, "e", "", "", "", "m", {}});
  r.Flush(1000);
  EXPECT_EQ(r.written(), 0u);
  EXPECT_EQ(r.dropped(), 10u);
  close(p[1]);
}

class AlwaysFails : public Check {
 public:
  CheckResult Run(Deadline) override { return CheckResult::Fail("connection refused"); }
  std::string Target() const override { return "h:1"; }
};

TEST(Reporter, AFailingCheckIsLoggedOnceNotEveryRun) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
  SnapshotStore store;
  {
    Reporter reporter(Reporter::Format::kJson, p[1]);
    Scheduler s(&store, &reporter,
                [](const CheckConfig&) { return std::make_unique<AlwaysFails>(); });
    Config cfg;
    CheckConfig c;
    c.name = "redis-cache";
    c.kind = "redis";
    c.role = "cache";
    c.timing.interval_ms = 100;
    c.timing.jitter_percent = 0;
    c.timing.breaker.failure_threshold = 1000;  // keep the breaker out of it
    cfg.checks = {c};
    s.Start(cfg);
    for (int i = 0; i < 300 && store.Get()->checks[0].attempts < 10; ++i)
      std::this_thread::sleep_for(10ms);
    ASSERT_GE(store.Get()->checks[0].attempts, 10u);
    s.Stop();
    reporter.Flush(1000);
  }
  std::string out = Drain(p[0]);
  size_t n = 0;
  for (size_t pos = 0; (pos = out.find("\"check_failed\"", pos)) != std::string::npos; ++pos) ++n;
  EXPECT_EQ(n, 1u) << out;
  close(p[0]);
  close(p[1]);
}

class PassesOnceThenFails : public Check {
 public:
  CheckResult Run(Deadline) override {
    return runs_++ == 0 ? CheckResult::Pass() : CheckResult::Fail("connection refused");
  }
  std::string Target() const override { return "h:2"; }

 private:
  int runs_ = 0;
};

// Root cause (docs/configuration.md): app depends on db; db fails first, so
// app's check_failed names db as its cause, db's names nothing.
TEST(Reporter, CheckFailedNamesTheBlockingDependency) {
  int p[2];
  ASSERT_EQ(pipe2(p, O_NONBLOCK), 0);
  SnapshotStore store;
  {
    Reporter reporter(Reporter::Format::kJson, p[1]);
    // db fails from its first run; app passes once (a first result sets the
    // state at once), then fails its way there.
    Scheduler s(&store, &reporter, [](const CheckConfig& c) -> std::unique_ptr<Check> {
      if (c.name == "db") return std::make_unique<AlwaysFails>();
      return std::make_unique<PassesOnceThenFails>();
    });
    Config cfg;
    CheckConfig db;
    db.name = "db";
    db.kind = "postgres";
    db.role = "database";
    db.required = true;
    db.timing.interval_ms = 100;
    db.timing.jitter_percent = 0;
    db.timing.unhealthy_threshold = 1;
    CheckConfig app = db;
    app.name = "app";
    app.kind = "http";
    app.role = "app";
    app.timing.unhealthy_threshold = 3;
    app.depends_on = {"db"};
    cfg.checks = {db, app};
    s.Start(cfg);
    for (int i = 0; i < 300 && store.Get()->checks[1].status != Status::kFail; ++i)
      std::this_thread::sleep_for(10ms);
    ASSERT_EQ(store.Get()->checks[1].status, Status::kFail);
    s.Stop();
    reporter.Flush(1000);
  }
  std::string out = Drain(p[0]);
  bool app_seen = false;
  size_t start = 0;
  for (size_t nl; (nl = out.find('\n', start)) != std::string::npos; start = nl + 1) {
    auto j = nlohmann::json::parse(out.substr(start, nl - start));
    if (j.value("event", "") != "check_failed") continue;
    if (j.value("check", "") == "db") {
      EXPECT_FALSE(j.contains("blocked_by")) << j.dump();
    } else {
      app_seen = true;
      EXPECT_EQ(j.value("blocked_by", ""), "db") << j.dump();
      EXPECT_NE(j.value("message", "").find("blocked by db"), std::string::npos) << j.dump();
    }
  }
  EXPECT_TRUE(app_seen) << out;
  close(p[0]);
  close(p[1]);
}

}  // namespace
}  // namespace vigil
