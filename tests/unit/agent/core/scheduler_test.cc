// The scheduler's threads with fake checks: what needs real threads (the
// timing logic itself is in schedule_test.cc, on a fake clock): the first
// result published at once, at most one attempt in flight, a stuck worker's
// timeout recorded by the timing thread without delaying others, the admin's
// breaker reset, reload keeping state, the daemon's state published. Bounds
// are generous: the machine may be loaded.
#include "agent/core/scheduler.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

#include "agent/config/config.h"
#include "agent/core/snapshot.h"
#include "agent/log/reporter.h"

namespace vigil {
namespace {

using namespace std::chrono_literals;

struct FakeState {
  std::atomic<int> runs{0};
  std::atomic<int> in_flight{0};
  std::atomic<int> max_in_flight{0};
  std::atomic<bool> fail{false};
  std::atomic<bool> ignore_deadline{false};  // a buggy driver that hangs
  std::atomic<int> hang_ms{0};
};

class FakeCheck : public Check {
 public:
  explicit FakeCheck(std::shared_ptr<FakeState> s) : s_(std::move(s)) {}
  CheckResult Run(Deadline deadline) override {
    s_->runs++;
    int now_in = ++s_->in_flight;
    int prev = s_->max_in_flight.load();
    while (now_in > prev && !s_->max_in_flight.compare_exchange_weak(prev, now_in)) {
    }
    CheckResult r = s_->fail ? CheckResult::Fail("fake failure") : CheckResult::Pass();
    if (s_->hang_ms > 0) {
      auto until = Clock::now() + std::chrono::milliseconds(s_->hang_ms.load());
      if (!s_->ignore_deadline && deadline < until) {
        std::this_thread::sleep_until(deadline);
        r = CheckResult::Timeout("waiting");
      } else {
        std::this_thread::sleep_until(until);
      }
    }
    --s_->in_flight;
    return r;
  }
  std::string Target() const override { return "fake:1"; }

 private:
  std::shared_ptr<FakeState> s_;
};

class SchedulerTest : public ::testing::Test {
 protected:
  std::map<std::string, std::shared_ptr<FakeState>> states_;
  SnapshotStore store_;
  Reporter reporter_{Reporter::Format::kJson, /*fd=*/-1};  // events go nowhere
  CheckFactory factory_ = [this](const CheckConfig& c) -> std::unique_ptr<Check> {
    auto& s = states_[c.name];
    if (!s) s = std::make_shared<FakeState>();
    return std::make_unique<FakeCheck>(s);
  };

  static CheckConfig Fake(const std::string& name, int interval_ms = 100, int timeout_ms = 50) {
    CheckConfig c;
    c.name = name;
    c.kind = "tcp";
    c.role = "app";
    c.required = true;
    c.timing.interval_ms = interval_ms;
    c.timing.timeout_ms = timeout_ms;
    c.timing.jitter_percent = 0;
    c.timing.unhealthy_threshold = 1;
    c.spec = std::make_shared<const nlohmann::json>(nlohmann::json{{"name", name}});
    return c;
  }
  std::shared_ptr<FakeState> State(const std::string& name) {
    auto& s = states_[name];
    if (!s) s = std::make_shared<FakeState>();
    return s;
  }
  const CheckView* View(const std::string& name) {
    snap_ = store_.Get();
    return snap_->Find(name);
  }
  // Polls the snapshot until `pred` holds; bounded.
  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds limit = 3000ms) {
    auto end = Clock::now() + limit;
    while (Clock::now() < end) {
      if (pred()) return true;
      std::this_thread::sleep_for(5ms);
    }
    return pred();
  }
  std::shared_ptr<const HealthSnapshot> snap_;
};

TEST_F(SchedulerTest, FirstResultSetsStateAtOnce) {
  Scheduler s(&store_, &reporter_, factory_);
  Config cfg;
  cfg.checks = {Fake("a", 3600000)};
  s.Start(cfg);
  ASSERT_TRUE(WaitFor([&] { return View("a") && View("a")->status == Status::kPass; }));
  EXPECT_EQ(State("a")->runs, 1);
}

TEST_F(SchedulerTest, StuckAttemptIsATimeoutAtTheDeadlineAndDelaysNoOther) {
  Scheduler s(&store_, &reporter_, factory_);
  State("stuck")->hang_ms = 1500;
  State("stuck")->ignore_deadline = true;
  Config cfg;
  cfg.checks = {Fake("stuck", 100, 50), Fake("fine", 100, 50)};
  const auto t0 = Clock::now();
  s.Start(cfg);
  ASSERT_TRUE(WaitFor([&] { return View("stuck")->status == Status::kFail; }));
  const auto took = Clock::now() - t0;
  EXPECT_LT(took, 1200ms);  // deadline 50 ms + grace, well below the 1.5 s hang
  EXPECT_EQ(View("stuck")->reason, "timeout after 50 ms");
  // The other check keeps its rhythm meanwhile.
  const int before = State("fine")->runs;
  std::this_thread::sleep_for(500ms);
  EXPECT_GE(State("fine")->runs - before, 3);
  // And never two attempts of the stuck one at once.
  EXPECT_EQ(State("stuck")->max_in_flight, 1);
  EXPECT_LE(State("stuck")->runs, 2);
}

TEST_F(SchedulerTest, AtMostOneAttemptInFlight) {
  Scheduler s(&store_, &reporter_, factory_);
  State("slow")->hang_ms = 200;  // longer than the interval, within timeout
  Config cfg;
  cfg.checks = {Fake("slow", 100, 1000)};
  s.Start(cfg);
  std::this_thread::sleep_for(900ms);
  EXPECT_EQ(State("slow")->max_in_flight, 1);
  EXPECT_GE(State("slow")->runs, 3);
}

TEST_F(SchedulerTest, ResetBreakerClosesAndRunsNow) {
  Scheduler s(&store_, &reporter_, factory_);
  State("dep")->fail = true;
  Config cfg;
  auto c = Fake("dep", 100, 50);
  c.timing.breaker = {2, 600000, 2};
  cfg.checks = {c};
  s.Start(cfg);
  ASSERT_TRUE(WaitFor([&] { return View("dep")->circuit == BreakerState::kOpen; }));
  State("dep")->fail = false;
  const int runs = State("dep")->runs;
  EXPECT_TRUE(s.ResetBreaker("dep"));
  EXPECT_FALSE(s.ResetBreaker("nope"));
  ASSERT_TRUE(WaitFor([&] { return View("dep")->status == Status::kPass; }));
  EXPECT_GT(State("dep")->runs, runs);
  EXPECT_EQ(View("dep")->circuit, BreakerState::kClosed);
}

TEST_F(SchedulerTest, ReloadKeepsUnchangedChecksAndDropsRemovedOnes) {
  Scheduler s(&store_, &reporter_, factory_);
  Config cfg;
  cfg.checks = {Fake("keep", 100), Fake("change", 100), Fake("gone", 100)};
  s.Start(cfg);
  ASSERT_TRUE(WaitFor([&] { return View("keep")->attempts >= 3; }));
  const uint64_t kept_attempts = View("keep")->attempts;
  Config next;
  auto changed = Fake("change", 200);
  next.checks = {Fake("keep", 100), changed, Fake("new", 100)};
  s.Apply(next);
  auto snap = store_.Get();
  ASSERT_NE(snap->Find("keep"), nullptr);
  EXPECT_GE(snap->Find("keep")->attempts, kept_attempts);  // results kept
  EXPECT_EQ(snap->Find("gone"), nullptr);
  ASSERT_NE(snap->Find("change"), nullptr);
  EXPECT_EQ(snap->Find("change")->interval_ms, 200);
  ASSERT_TRUE(WaitFor([&] { return View("new") && View("new")->status == Status::kPass; }));
}

TEST_F(SchedulerTest, DaemonStateIsPublished) {
  Scheduler s(&store_, &reporter_, factory_);
  s.Start(Config{});
  DaemonState d;
  d.draining = true;
  d.CountReload(false, WallClock::now());
  s.SetDaemonState(d);
  auto snap = store_.Get();
  EXPECT_TRUE(snap->draining);
  EXPECT_EQ(snap->config_reload_failures, 1u);
  EXPECT_FALSE(snap->last_reload_ok);
}

// Detection at the edge with the worker's real wait: a check that keeps a
// "connection" (one end of a socketpair) between runs; the test closes the
// other end, as a dependency that goes away does.
class KeptConnectionCheck : public Check {
 public:
  explicit KeptConnectionCheck(std::shared_ptr<FakeState> s) : s_(std::move(s)) {}
  ~KeptConnectionCheck() override { Close(); }
  CheckResult Run(Deadline) override {
    s_->runs++;
    if (fd_ < 0) {
      int sv[2];
      if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        return CheckResult::Fail("x");
      fd_ = sv[0];
      peer_.store(sv[1]);
    }
    return s_->fail ? CheckResult::Fail("fake failure") : CheckResult::Pass();
  }
  std::string Target() const override { return "fake:1"; }
  void Close() override {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  int IdleFd() const override { return fd_; }
  bool IdleConnectionLost() override {
    char b;
    if (recv(fd_, &b, 1, MSG_PEEK | MSG_DONTWAIT) > 0) return false;  // never here
    Close();
    lost_++;
    return true;
  }
  // The dependency's side: closing it is the edge.
  static inline std::atomic<int> peer_{-1};
  static inline std::atomic<int> lost_{0};

 private:
  std::shared_ptr<FakeState> s_;
  int fd_ = -1;
};

TEST_F(SchedulerTest, AKeptConnectionClosedWhileIdleRunsTheCheckAtOnce) {
  KeptConnectionCheck::peer_ = -1;
  KeptConnectionCheck::lost_ = 0;
  Scheduler s(&store_, &reporter_, [this](const CheckConfig& c) -> std::unique_ptr<Check> {
    return std::make_unique<KeptConnectionCheck>(State(c.name));
  });
  Config cfg;
  cfg.checks = {Fake("kept", 3600000)};  // its next slot: an hour away at least
  s.Start(cfg);
  ASSERT_TRUE(WaitFor([&] { return State("kept")->runs == 1 && KeptConnectionCheck::peer_ >= 0; }));
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(State("kept")->runs, 1);  // idle: the watch alone runs nothing
  close(KeptConnectionCheck::peer_.exchange(-1));
  ASSERT_TRUE(WaitFor([&] { return State("kept")->runs == 2; }));
  EXPECT_EQ(KeptConnectionCheck::lost_, 1);
  // The new connection's peer, closed too: another edge, another run (not
  // before min_interval_ms, 100 by default, after the previous start).
  ASSERT_TRUE(WaitFor([&] { return KeptConnectionCheck::peer_ >= 0; }));
  close(KeptConnectionCheck::peer_.exchange(-1));
  ASSERT_TRUE(WaitFor([&] { return State("kept")->runs == 3; }));
  s.Stop();
}

TEST_F(SchedulerTest, ADependencyThatClosesInALoopIsNotHammered) {
  KeptConnectionCheck::peer_ = -1;
  Scheduler s(&store_, &reporter_, [this](const CheckConfig& c) -> std::unique_ptr<Check> {
    return std::make_unique<KeptConnectionCheck>(State(c.name));
  });
  Config cfg;
  CheckConfig c = Fake("loop", 3600000);
  c.timing.min_interval_ms = 100;
  cfg.checks = {c};
  s.Start(cfg);
  // Close every connection as soon as it is made, for a second.
  const auto start = Clock::now();
  while (Clock::now() - start < 1000ms) {
    int p = KeptConnectionCheck::peer_.exchange(-1);
    if (p >= 0) close(p);
    std::this_thread::sleep_for(1ms);
  }
  s.Stop();
  // At most one run a min_interval_ms (10 in a second, plus the first).
  EXPECT_LE(State("loop")->runs, 12);
  EXPECT_GE(State("loop")->runs, 2);
}

}  // namespace
}  // namespace vigil
