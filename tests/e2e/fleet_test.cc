// Fleet awareness (docs/fleet.md) end to end on real processes: 5 vigils on
// 127.0.0.2..6 sharing one port, each behind its own TcpProxy to one real
// redis-server, peers from a static list or from a DNS name served by a real
// dnsmasq (tests/support/fleet_harness.h).
//
// The check under test, "session" (redis, role session: required), runs every
// 300 ms with unhealthy_threshold 1; fleet rounds every 500 ms, 300 ms
// timeout, min_pods 3. Times to reach each verdict are printed against the
// round interval ("[ timing ]" lines) and never asserted beyond generous
// bounds: speed belongs in the bench (tests/bench/fleet_rounds).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <memory>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "tests/support/eventually.h"
#include "tests/support/fleet_harness.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr const char* kCheck = FleetHarness::kCheck;
constexpr int kPods = 5;
constexpr auto kVerdictWait = 8s;  // generous: a verdict takes a round or three

long MsSince(Clock::time_point t0) {
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count());
}

// One "[ timing ]" line: how long a verdict took, in ms and in fleet rounds.
void Timing(const std::string& what, long ms, int interval_ms) {
  std::printf("[ timing   ] %-62s %6ld ms = %4.1f rounds of %d ms\n", what.c_str(), ms,
              static_cast<double>(ms) / interval_ms, interval_ms);
  std::fflush(stdout);
  ::testing::Test::RecordProperty(what, std::to_string(ms));
}

// The check's fleet object in /health, or null.
json FleetOf(const json& health) {
  if (!health.is_object() || !health["checks"].is_object() ||
      !health["checks"][kCheck].is_object()) {
    return json();
  }
  return health["checks"][kCheck].value("fleet", json());
}

std::string ScopeOf(FleetHarness& f, int i) {
  json fl = FleetOf(f.Health(i));
  return fl.is_object() ? fl.value("scope", "") : "";
}

int FleetPods(FleetHarness& f, int i) {
  json fl = f.Fleet(i);
  return fl.is_object() && fl["pods"].is_array() ? static_cast<int>(fl["pods"].size()) : -1;
}

double Dropped(FleetHarness& f, int i, const std::string& reason) {
  return f.Metric(i, "vigil_fleet_answers_dropped_total", {{"reason", reason}}).value_or(-1);
}

// Samples /readyz of every running pod every ~20 ms on a thread of its own
// and counts the 503s (and no-answers) seen, per pod, with when (ms after
// the sampler started) the first and the last were seen and the verbose
// body fetched right after the first.
class ReadyzSampler {
 public:
  explicit ReadyzSampler(FleetHarness& f) : f_(f), per_pod_(static_cast<size_t>(f.size())) {
    thread_ = std::thread([this] {
      const auto t0 = Clock::now();
      while (!stop_) {
        for (int i = 0; i < f_.size() && !stop_; ++i) {
          if (!f_.Running(i)) continue;
          HttpReply r = f_.Get(i, "/readyz");
          ++samples_;
          if (r.took > slowest_) slowest_ = r.took;
          if (r.status == 200) continue;
          ++unready_;
          Pod& p = per_pod_[static_cast<size_t>(i)];
          if (p.count++ == 0) {
            p.first_ms = MsSince(t0);
            p.verbose = f_.Verbose(i) + "health fleet: " + FleetOf(f_.Health(i)).dump();
          }
          p.last_ms = MsSince(t0);
        }
        std::this_thread::sleep_for(20ms);
      }
    });
  }
  ~ReadyzSampler() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int samples() const { return samples_; }
  int unready() const { return unready_; }
  std::chrono::microseconds slowest() const { return slowest_; }
  // After Stop(): which pods were seen unready, when, and what they said.
  std::string Report() const {
    std::string out;
    for (size_t i = 0; i < per_pod_.size(); ++i) {
      const Pod& p = per_pod_[i];
      if (p.count == 0) continue;
      out += "\n  pod-" + std::to_string(i) + ": " + std::to_string(p.count) + " not 200, from " +
             std::to_string(p.first_ms) + " to " + std::to_string(p.last_ms) +
             " ms; verbose then: " + p.verbose;
    }
    return out;
  }

 private:
  struct Pod {
    int count = 0;
    long first_ms = 0, last_ms = 0;
    std::string verbose;
  };
  FleetHarness& f_;
  std::atomic<bool> stop_{false};
  std::atomic<int> samples_{0}, unready_{0};
  std::chrono::microseconds slowest_{0};  // the sampler thread's until Stop()
  std::vector<Pod> per_pod_;              // the same
  std::thread thread_;
};

class FleetE2E : public ::testing::Test {
 protected:
  void SetUp() override { redis_ = std::make_unique<RedisServer>(); }
  void TearDown() override {
    fleet_.reset();
    redis_.reset();
  }

  FleetHarness& Make(FleetOptions o) {
    fleet_ = std::make_unique<FleetHarness>(*redis_, o);
    return *fleet_;
  }

  // Starts every pod and waits until all are ready and see `pods` pods.
  void StartAndSettle(FleetHarness& f, int pods) {
    ASSERT_TRUE(f.StartAll()) << f.Describe();
    ASSERT_TRUE(f.WaitAll([&](int i) { return FleetPods(f, i) == pods; }, 10s))
        << f.Describe() << "\n"
        << f.Get(0, "/fleet").body;
    ASSERT_TRUE(f.WaitAll([&](int i) { return ScopeOf(f, i) == "none"; }, 5s)) << f.Describe();
  }

  std::unique_ptr<RedisServer> redis_;
  std::unique_ptr<FleetHarness> fleet_;
};

// The required Redis stops for every pod: with stay_ready no pod flips
// unready, not even for one probe (the pending round), each says widespread.
TEST_F(FleetE2E, WidespreadOutageKeepsEveryPodReadyAndDegraded) {
  FleetOptions o;
  o.pods = kPods;
  FleetHarness& f = Make(o);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(f, kPods));

  ReadyzSampler sampler(f);
  const auto t0 = Clock::now();
  redis_->Stop();
  const std::regex line(R"(\[~\]session failed on (\d+) of (\d+) pods \(widespread\), kept ready)");
  EXPECT_TRUE(f.WaitAll(
      [&](int i) {
        json h = f.Health(i);
        return h.value("status", "") == "degraded" && FleetOf(h).value("scope", "") == "widespread";
      },
      kVerdictWait))
      << f.Describe();
  Timing("all redis down: every pod widespread (degraded, ready)", MsSince(t0),
         o.fleet_interval_ms);
  std::this_thread::sleep_for(1s);  // a few more rounds under the sampler
  sampler.Stop();
  EXPECT_EQ(sampler.unready(), 0) << "of " << sampler.samples() << " /readyz samples"
                                  << sampler.Report();
  EXPECT_LT(sampler.slowest(), 1s);
  std::printf("[ sampled  ] %d /readyz during the outage, %d not 200, slowest %ld us\n",
              sampler.samples(), sampler.unready(), static_cast<long>(sampler.slowest().count()));

  for (int i = 0; i < f.size(); ++i) {
    SCOPED_TRACE(f.pod(i).name);
    EXPECT_EQ(f.Readyz(i), 200);
    json h = f.Health(i);
    EXPECT_EQ(h.value("status", ""), "degraded");
    EXPECT_EQ(f.Get(i, "/health").status, 200);
    EXPECT_EQ(h["checks"][kCheck].value("status", ""), "fail");
    json fl = FleetOf(h);
    EXPECT_EQ(fl.value("scope", ""), "widespread") << fl;
    EXPECT_EQ(fl.value("pods", 0), kPods) << fl;
    EXPECT_GE(fl.value("failing", 0), 3) << fl;
    std::smatch m;
    const std::string verbose = f.Verbose(i);
    EXPECT_TRUE(std::regex_search(verbose, m, line)) << verbose;
    EXPECT_EQ(f.Metric(i, "vigil_check_scope", {{"check", kCheck}, {"scope", "widespread"}}), 1);
    EXPECT_EQ(f.Metric(i, "vigil_check_scope", {{"check", kCheck}, {"scope", "none"}}), 0);
    EXPECT_EQ(f.Metric(i, "vigil_check_scope", {{"check", kCheck}, {"scope", "local"}}), 0);
    EXPECT_EQ(f.Metric(i, "vigil_fleet_pods"), kPods);
    EXPECT_EQ(f.Metric(i, "vigil_fleet_check_failing_pods", {{"check", kCheck}}),
              fl.value("failing", -1));
    json fleet = f.Fleet(i);
    EXPECT_EQ(fleet["checks"][kCheck].value("scope", ""), "widespread") << fleet;
    EXPECT_EQ(fleet["checks"][kCheck]["failing_pods"].size(), fl.value("failing", 0u)) << fleet;
    EXPECT_EQ(f.FleetSelf(i)["checks"][kCheck].value("status", ""), "fail")
        << "a pod shares its local verdict";
    EXPECT_EQ(f.FleetSelf(i).value("ready", true), false)
        << "/fleet/self is the LOCAL verdict: " << f.FleetSelf(i);
  }
  EXPECT_NE(f.agent(0).Stdout().find("check_widespread"), std::string::npos);

  // Recovery: Redis back, every pod passes, scope none.
  const auto t1 = Clock::now();
  redis_->Start();
  EXPECT_TRUE(f.WaitAll(
      [&](int i) {
        json h = f.Health(i);
        return h.value("status", "") == "ok" && FleetOf(h).value("scope", "") == "none" &&
               f.Readyz(i) == 200;
      },
      kVerdictWait))
      << f.Describe();
  Timing("redis back: every pod ok, scope none", MsSince(t1), o.fleet_interval_ms);
  for (int i = 0; i < f.size(); ++i) {
    EXPECT_EQ(f.Metric(i, "vigil_check_scope", {{"check", kCheck}, {"scope", "none"}}), 1);
    EXPECT_EQ(f.Verbose(i).find("[~]"), std::string::npos) << f.Verbose(i);
  }
  EXPECT_TRUE(Eventually(
      [&] { return f.agent(0).Stdout().find("check_widespread_ended") != std::string::npos; }, 3s))
      << f.agent(0).Stdout().substr(0, 4000);
}

// Without stay_ready (the default) a widespread failure makes every pod
// unready, as before fleet awareness; the scope is still reported.
TEST_F(FleetE2E, WidespreadOutageWithoutStayReadyMakesEveryPodUnready) {
  FleetOptions o;
  o.pods = kPods;
  o.when_widespread = "";
  FleetHarness& f = Make(o);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(f, kPods));

  const auto t0 = Clock::now();
  redis_->Stop();
  EXPECT_TRUE(f.WaitAll([&](int i) { return f.Readyz(i) == 503; }, kVerdictWait)) << f.Describe();
  Timing("all redis down, default unready: every pod unready", MsSince(t0), o.fleet_interval_ms);
  EXPECT_TRUE(f.WaitAll([&](int i) { return ScopeOf(f, i) == "widespread"; }, kVerdictWait))
      << f.Describe();
  for (int i = 0; i < f.size(); ++i) {
    EXPECT_EQ(f.Readyz(i), 503) << f.pod(i).name;
    EXPECT_EQ(f.Health(i).value("status", ""), "error") << f.pod(i).name;
    EXPECT_EQ(f.Verbose(i).find("kept ready"), std::string::npos) << f.Verbose(i);
  }
}

// One pod's path to Redis breaks (refused, then black-holed): that pod alone
// goes unready with scope local; the others stay ready with scope none.
TEST_F(FleetE2E, OnePodsPathBrokenIsLocal) {
  FleetOptions o;
  o.pods = kPods;
  FleetHarness& f = Make(o);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(f, kPods));
  constexpr int kBroken = 1;

  for (auto mode : {TcpProxy::Mode::kRefuse, TcpProxy::Mode::kBlackHole}) {
    const std::string how = mode == TcpProxy::Mode::kRefuse ? "refused" : "black-holed";
    SCOPED_TRACE(how);
    const auto t0 = Clock::now();
    f.pod(kBroken).redis_proxy->SetMode(mode);
    EXPECT_TRUE(Eventually([&] { return f.Readyz(kBroken) == 503; }, kVerdictWait)) << f.Describe();
    Timing("one pod's path " + how + ": that pod unready", MsSince(t0), o.fleet_interval_ms);
    EXPECT_TRUE(Eventually([&] { return ScopeOf(f, kBroken) == "local"; }, kVerdictWait))
        << f.Describe();
    Timing("one pod's path " + how + ": that pod scope local", MsSince(t0), o.fleet_interval_ms);
    json fl = FleetOf(f.Health(kBroken));
    EXPECT_EQ(fl.value("failing", 0), 1) << fl;
    EXPECT_EQ(fl.value("pods", 0), kPods) << fl;
    EXPECT_EQ(f.Metric(kBroken, "vigil_check_scope", {{"check", kCheck}, {"scope", "local"}}), 1);
    EXPECT_EQ(f.Health(kBroken).value("status", ""), "error");
    for (int i = 0; i < f.size(); ++i) {
      if (i == kBroken) continue;
      EXPECT_EQ(f.Readyz(i), 200) << f.pod(i).name << f.Describe();
      EXPECT_EQ(ScopeOf(f, i), "none") << f.pod(i).name;
    }
    // The others see which pod fails (from their next round on).
    EXPECT_TRUE(Eventually([&] { return f.Fleet(0)["checks"][kCheck].value("failing", -1) == 1; },
                           kVerdictWait));
    json fleet = f.Fleet(0);
    EXPECT_EQ(fleet["checks"][kCheck].value("failing", -1), 1) << fleet;
    EXPECT_EQ(fleet["checks"][kCheck]["failing_pods"], json::array({f.pod(kBroken).name})) << fleet;

    f.pod(kBroken).redis_proxy->SetMode(TcpProxy::Mode::kPass);
    EXPECT_TRUE(f.WaitAll([&](int i) { return f.Readyz(i) == 200 && ScopeOf(f, i) == "none"; },
                          kVerdictWait))
        << f.Describe();
  }
}

// A lone pod whose peers list points at ports nothing listens on: the local
// verdict stands (unready), scope none, the refusals counted.
TEST_F(FleetE2E, PeersUnreachableLocalVerdictStands) {
  FleetOptions o;
  o.pods = 1;
  for (int i = 0; i < 4; ++i) {
    const std::string host = "127.0.0." + std::to_string(20 + i);
    o.extra_peers.push_back(host + ":" + std::to_string(FreePort(host)));
  }
  FleetHarness& f = Make(o);
  ASSERT_TRUE(f.StartAll()) << f.Describe();
  EXPECT_TRUE(Eventually([&] { return Dropped(f, 0, "refused") >= 4; }, 5s))
      << f.Metrics(0).substr(0, 3000);

  const auto t0 = Clock::now();
  redis_->Stop();
  EXPECT_TRUE(Eventually([&] { return f.Readyz(0) == 503; }, kVerdictWait)) << f.Describe();
  Timing("lone pod, peers unreachable: unready", MsSince(t0), o.fleet_interval_ms);
  EXPECT_EQ(ScopeOf(f, 0), "none") << f.Describe();
  EXPECT_EQ(f.Metric(0, "vigil_fleet_pods"), 1);
  EXPECT_EQ(f.Metric(0, "vigil_fleet_peers_known"), 4);
  EXPECT_EQ(f.Health(0).value("status", ""), "error");
  EXPECT_EQ(f.Verbose(0).find("kept ready"), std::string::npos) << f.Verbose(0);
}

// Widespread, then every other pod stops: their answers expire after three
// rounds, the pod is judged alone again (unready, scope none).
TEST_F(FleetE2E, OthersStoppedAnswersExpireAfterThreeRounds) {
  FleetOptions o;
  o.pods = kPods;
  FleetHarness& f = Make(o);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(f, kPods));
  redis_->Stop();
  ASSERT_TRUE(f.WaitAll([&](int i) { return ScopeOf(f, i) == "widespread"; }, kVerdictWait))
      << f.Describe();
  ASSERT_EQ(f.Readyz(0), 200);

  const auto t0 = Clock::now();
  for (int i = 1; i < f.size(); ++i) f.Stop(i);
  const long stopped_ms = MsSince(t0);
  EXPECT_TRUE(Eventually([&] { return f.Readyz(0) == 503; }, kVerdictWait)) << f.Describe();
  const long unready_ms = MsSince(t0);
  Timing("others stopped: the last pod unready (answers expired)", unready_ms, o.fleet_interval_ms);
  // Expiry is 3 rounds after the last answer: not before about 2 rounds
  // after the stop (generous: the last answers may be up to a round old).
  EXPECT_GE(unready_ms - stopped_ms, 2 * o.fleet_interval_ms - 200)
      << "answers dropped before three rounds";
  EXPECT_EQ(ScopeOf(f, 0), "none") << f.Describe();
  EXPECT_EQ(f.Metric(0, "vigil_fleet_pods"), 1);
  EXPECT_EQ(FleetPods(f, 0), 1) << f.Get(0, "/fleet").body;
}

// Pods join and leave a static list: /fleet's pods follow.
TEST_F(FleetE2E, PeersJoinAndLeaveStaticList) {
  FleetOptions o;
  o.pods = kPods;
  FleetHarness& f = Make(o);
  for (int i = 0; i < 3; ++i) f.Start(i);
  EXPECT_TRUE(f.WaitAll([&](int i) { return FleetPods(f, i) == 3; }, 10s)) << f.Describe();
  auto t0 = Clock::now();
  f.Start(3);
  f.Start(4);
  EXPECT_TRUE(f.WaitAll([&](int i) { return FleetPods(f, i) == kPods; }, kVerdictWait))
      << f.Describe();
  Timing("two pods joined (static list): every /fleet lists 5", MsSince(t0), o.fleet_interval_ms);
  json fleet = f.Fleet(0);
  ASSERT_TRUE(fleet["pods"].is_array()) << fleet;
  EXPECT_TRUE(fleet["pods"][0].value("self", false)) << "self first: " << fleet;
  EXPECT_EQ(fleet["pods"][0].value("name", ""), "pod-0");
  int others = 0;
  for (const auto& p : fleet["pods"]) {
    if (p.value("self", false)) continue;
    ++others;
    EXPECT_EQ(p.value("namespace", ""), "shop") << p;
    EXPECT_FALSE(p.value("node", "").empty()) << p;
    EXPECT_EQ(p.value("ready", false), true) << p;
    EXPECT_EQ(p.value("status", ""), "ok") << p;
    EXPECT_NE(p.value("address", json()).get<std::string>().find(":" + std::to_string(f.port())),
              std::string::npos)
        << p;
  }
  EXPECT_EQ(others, kPods - 1);
  EXPECT_EQ(fleet.value("peers_known", 0), kPods - 1) << fleet;

  t0 = Clock::now();
  f.Stop(4);
  EXPECT_TRUE(f.WaitAll([&](int i) { return FleetPods(f, i) == kPods - 1; }, kVerdictWait))
      << f.Describe();
  Timing("one pod left (static list): every /fleet lists 4", MsSince(t0), o.fleet_interval_ms);
}

// Peers from a DNS name (dnsmasq): the set follows the records.
TEST_F(FleetE2E, PeersFollowDnsRecords) {
  std::string why;
  if (!Dnsmasq::Available(&why)) GTEST_SKIP() << why;
  FleetOptions o;
  o.pods = kPods;
  o.use_dns = true;
  FleetHarness& f = Make(o);
  f.SetDnsPods({0, 1, 2});
  ASSERT_TRUE(f.StartAll()) << f.Describe();
  EXPECT_TRUE(Eventually([&] { return FleetPods(f, 0) == 3; }, 10s)) << f.Get(0, "/fleet").body;
  EXPECT_EQ(f.Metric(0, "vigil_fleet_peers_known"), 2);

  auto t0 = Clock::now();
  f.SetDnsPods({0, 1, 2, 3, 4});
  EXPECT_TRUE(f.WaitAll([&](int i) { return FleetPods(f, i) == kPods; }, kVerdictWait))
      << f.Describe();
  Timing("DNS records 3 -> 5 pods: every /fleet lists 5", MsSince(t0), o.fleet_interval_ms);
  EXPECT_EQ(f.Metric(0, "vigil_fleet_peers_known"), kPods - 1);

  t0 = Clock::now();
  f.SetDnsPods({0, 1});
  EXPECT_TRUE(
      Eventually([&] { return FleetPods(f, 0) == 2 && FleetPods(f, 1) == 2; }, kVerdictWait))
      << f.Get(0, "/fleet").body;
  Timing("DNS records 5 -> 2 pods: pod-0's /fleet lists 2", MsSince(t0), o.fleet_interval_ms);
  EXPECT_EQ(f.Metric(0, "vigil_fleet_peers_known"), 1);
  EXPECT_NE(f.agent(0).Stdout().find("fleet_peers_changed"), std::string::npos);
  EXPECT_NE(f.dns()->Log().find(std::string("query[A] ") + FleetHarness::kDnsName),
            std::string::npos);

  // Now 2 answering pods < min_pods 3: a failure everywhere is judged locally.
  redis_->Stop();
  EXPECT_TRUE(Eventually([&] { return f.Readyz(0) == 503; }, kVerdictWait)) << f.Describe();
  EXPECT_EQ(ScopeOf(f, 0), "none");
}

// A fake peer on a port of its own: answers every request on a connection
// (kept alive) in one of several bad ways.
class FakePeer {
 public:
  enum class Mode { kGarbage, kHuge, kSlow, kStatus500 };
  explicit FakePeer(Mode mode, const std::string& host = "127.0.0.1") : mode_(mode), host_(host) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    inet_pton(AF_INET, host.c_str(), &a.sin_addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0) {
      throw std::runtime_error("FakePeer: bind/listen");
    }
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }
  ~FakePeer() {
    stop_ = true;
    if (accept_thread_.joinable()) accept_thread_.join();
    for (auto& t : conns_) t.join();
    close(fd_);
  }
  std::string address() const { return host_ + ":" + std::to_string(port_); }
  int requests() const { return requests_.load(); }

 private:
  void AcceptLoop() {
    while (!stop_ && conns_.size() < 64) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      int c = accept(fd_, nullptr, nullptr);
      if (c >= 0) conns_.emplace_back([this, c] { Serve(c); });
    }
  }
  void Serve(int c) {
    std::string in;
    while (!stop_) {
      pollfd p{c, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      char buf[4096];
      ssize_t n = recv(c, buf, sizeof buf, 0);
      if (n <= 0) break;
      in.append(buf, static_cast<size_t>(n));
      size_t end;
      while ((end = in.find("\r\n\r\n")) != std::string::npos) {
        in.erase(0, end + 4);
        ++requests_;
        if (!Answer(c)) {
          close(c);
          return;
        }
      }
    }
    close(c);
  }
  // false: the connection is to be closed.
  bool Answer(int c) {
    std::string body, status = "200 OK";
    switch (mode_) {
      case Mode::kGarbage:
        body = "{\"v\":1,\"instance\":\"zz\",\"checks\":[not json at all";
        break;
      case Mode::kHuge:
        body = "{\"v\":1,\"pad\":\"" + std::string(10 << 20, 'x') + "\"}";
        break;
      case Mode::kStatus500:
        status = "500 Internal Server Error";
        body = "{}";
        break;
      case Mode::kSlow:  // never answers in time (2 s, far past the 300 ms round)
        for (int i = 0; i < 40 && !stop_; ++i) std::this_thread::sleep_for(50ms);
        body = "{}";
        break;
    }
    const std::string head =
        "HTTP/1.1 " + status +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\n\r\n";
    std::string out = head + body;
    size_t off = 0;
    while (off < out.size() && !stop_) {
      pollfd p{c, POLLOUT, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      ssize_t n = send(c, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  const Mode mode_;
  const std::string host_;
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> requests_{0};
  std::vector<std::thread> conns_;  // the accept thread's until it is joined
  std::thread accept_thread_;
};

// Peers answering garbage, 10 MiB, slowly or with a 500: dropped and counted,
// verdicts untouched, probes still fast.
TEST_F(FleetE2E, HostilePeersAreDroppedAndCounted) {
  FakePeer garbage(FakePeer::Mode::kGarbage, "127.0.0.30");
  FakePeer huge(FakePeer::Mode::kHuge, "127.0.0.31");
  FakePeer slow(FakePeer::Mode::kSlow, "127.0.0.32");
  FakePeer status(FakePeer::Mode::kStatus500, "127.0.0.33");
  FleetOptions o;
  o.pods = 3;
  o.extra_peers = {garbage.address(), huge.address(), slow.address(), status.address()};
  FleetHarness& f = Make(o);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(f, 3));

  EXPECT_TRUE(f.WaitAll(
      [&](int i) {
        return Dropped(f, i, "malformed") >= 1 && Dropped(f, i, "oversized") >= 1 &&
               Dropped(f, i, "timeout") >= 1 && Dropped(f, i, "status") >= 1;
      },
      kVerdictWait))
      << f.Metrics(0).substr(0, 4000);
  for (int i = 0; i < f.size(); ++i) {
    EXPECT_EQ(FleetPods(f, i), 3) << f.Get(i, "/fleet").body;
    EXPECT_EQ(f.Metric(i, "vigil_fleet_peers_known"), 2 + 4);
    EXPECT_EQ(f.Readyz(i), 200);
    EXPECT_EQ(ScopeOf(f, i), "none");
  }
  EXPECT_GE(garbage.requests(), 1);
  EXPECT_GE(huge.requests(), 1);

  // Verdicts still from the real pods only; probes fast throughout. (The
  // transition itself is WidespreadOutageKeepsEveryPodReadyAndDegraded's.)
  redis_->Stop();
  EXPECT_TRUE(f.WaitAll([&](int i) { return ScopeOf(f, i) == "widespread"; }, kVerdictWait))
      << f.Describe();
  ReadyzSampler sampler(f);
  std::this_thread::sleep_for(1500ms);  // three rounds with the hostile peers asked
  sampler.Stop();
  EXPECT_EQ(sampler.unready(), 0) << "of " << sampler.samples() << sampler.Report();
  EXPECT_LT(sampler.slowest(), 1s);
  for (int i = 0; i < f.size(); ++i) {
    json fl = FleetOf(f.Health(i));
    EXPECT_EQ(fl.value("pods", 0), 3) << fl;
    EXPECT_EQ(fl.value("failing", 0), 3) << fl;
  }
  std::printf("[ sampled  ] %d /readyz with hostile peers, slowest %ld us\n", sampler.samples(),
              static_cast<long>(sampler.slowest().count()));
}

// With a token, /fleet/self refuses a request without it; the pods, which
// share it, agree.
TEST_F(FleetE2E, TokenGuardsFleetSelf) {
  FleetOptions o;
  o.pods = kPods;
  o.token = "fleet-token-0123456789abcdef";
  FleetHarness& f = Make(o);
  ASSERT_NO_FATAL_FAILURE(StartAndSettle(f, kPods));
  for (int i = 0; i < f.size(); ++i) {
    EXPECT_EQ(f.Get(i, "/fleet/self", false).status, 401);
    EXPECT_EQ(HttpCall(f.pod(i).host, f.port(), "GET", "/fleet/self",
                       {{"Authorization", "Bearer wrong-token-0123456789abcdef"}})
                  .status,
              401);
    HttpReply r = f.Get(i, "/fleet/self", true);
    EXPECT_EQ(r.status, 200);
    json self = json::parse(r.body, nullptr, false);
    EXPECT_EQ(self.value("v", 0), 1) << r.body;
    EXPECT_EQ(self["pod"].value("name", ""), f.pod(i).name) << r.body;
    EXPECT_EQ(self.value("instance", "").size(), 16u) << r.body;
    EXPECT_EQ(Dropped(f, i, "unauthorized"), 0);
  }
  const auto t0 = Clock::now();
  redis_->Stop();
  EXPECT_TRUE(f.WaitAll([&](int i) { return ScopeOf(f, i) == "widespread" && f.Readyz(i) == 200; },
                        kVerdictWait))
      << f.Describe();
  Timing("token: all redis down, every pod widespread", MsSince(t0), o.fleet_interval_ms);
}

// A pod whose token differs is refused by the others (counted unauthorized)
// and does not count among them.
TEST_F(FleetE2E, WrongTokenIsNotAPeer) {
  FleetOptions o;
  o.pods = 4;
  o.token = "fleet-token-0123456789abcdef";
  FleetHarness& f = Make(o);
  for (int i = 0; i < 3; ++i) f.Start(i);
  // Pod 3 runs with another token (VIGIL_FLEET_TOKEN wins over the file).
  AgentOptions other;
  other.host = f.pod(3).host;
  other.port = f.port();
  other.env = {{"POD_NAME", "pod-3"}, {"VIGIL_FLEET_TOKEN", "another-token-0123456789abcdef"}};
  AgentProcess odd(f.pod(3).config->path(), other);
  EXPECT_TRUE(f.WaitAll([&](int i) { return i == 3 || FleetPods(f, i) == 3; }, 10s))
      << f.Describe();
  EXPECT_TRUE(Eventually(
      [&] {
        return HttpCall(odd.host(), odd.port(), "GET", "/metrics")
                   .body.find("vigil_fleet_answers_dropped_total{reason=\"unauthorized\"} 0") ==
               std::string::npos;
      },
      5s))
      << "the odd pod is refused by the others";
  EXPECT_GE(Dropped(f, 0, "unauthorized"), 1);
}

// Without a fleet section: /fleet/self still answers (a mixed rollout works),
// /fleet is this pod alone, the metrics say so.
TEST_F(FleetE2E, FleetOffStillAnswersSelfAndFleet) {
  FleetOptions o;
  o.pods = 1;
  o.fleet = false;
  FleetHarness& f = Make(o);
  ASSERT_TRUE(f.StartAll()) << f.Describe();
  HttpReply self = f.Get(0, "/fleet/self");
  EXPECT_EQ(self.status, 200);
  json s = json::parse(self.body, nullptr, false);
  EXPECT_EQ(s.value("v", 0), 1) << self.body;
  EXPECT_EQ(s["checks"][kCheck].value("status", ""), "pass") << self.body;
  json fleet = f.Fleet(0);
  EXPECT_EQ(fleet.value("enabled", true), false) << fleet;
  EXPECT_EQ(fleet["pods"].size(), 1u) << fleet;
  EXPECT_EQ(fleet["checks"][kCheck].value("scope", ""), "none") << fleet;
  EXPECT_EQ(f.Metric(0, "vigil_fleet_pods"), 1);
  EXPECT_EQ(f.Metric(0, "vigil_check_scope", {{"check", kCheck}, {"scope", "none"}}), 1);
}

}  // namespace
}  // namespace vigil::testing
