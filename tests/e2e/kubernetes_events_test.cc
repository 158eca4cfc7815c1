// Kubernetes Events end to end (docs/kubernetes.md#events): the vigil binary
// on a real redis-server, recording Events into an HTTPS stand-in for the
// Kubernetes API (tests/k8s/events-api.js: the Events routes, every object
// validated against the events.k8s.io/v1 schema of the npm kubernetes-models
// package) made with a CA made at test time. The stand-in also answers 409,
// 429 and 500 and hangs; /readyz is probed throughout and must answer as the
// kubelet wants (within 1 s) with the verdict of the checks alone.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <thread>

#include "tests/support/agent_process.h"
#include "tests/support/config_file.h"
#include "tests/support/eventually.h"
#include "tests/support/launcher.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"
#include "tests/support/tls_certs.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

const std::string kK8sDir = std::string(VIGIL_SOURCE_DIR) + "/tests/k8s";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes a file as the kubelet updates a projected volume: a new file
// renamed over the old.
void WriteAtomically(const std::string& path, const std::string& text) {
  std::ofstream(path + ".tmp") << text;
  ASSERT_EQ(rename((path + ".tmp").c_str(), path.c_str()), 0);
}

// The stand-in API server (node), in a temp dir of its own.
class EventsApi {
 public:
  EventsApi(const CertFiles& leaf, const std::string& token_file)
      : dir_(MakeTempDir("vigil-events-api")) {
    pid_ = Launcher().Spawn({"node", kK8sDir + "/events-api.js", "--cert", leaf.cert, "--key",
                             leaf.key, "--token-file", token_file, "--dir", dir_},
                            dir_ + "/log");
    Eventually([&] { return !ReadAll(dir_ + "/port").empty(); }, 10s);
    port_ = std::atoi(ReadAll(dir_ + "/port").c_str());
  }
  ~EventsApi() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    RemoveTree(dir_);
  }
  int port() const { return port_; }
  std::string log() const { return ReadAll(dir_ + "/log"); }
  void SetMode(const std::string& mode) { WriteAtomically(dir_ + "/mode", mode); }
  std::vector<json> Requests() const {
    std::vector<json> out;
    std::istringstream in(ReadAll(dir_ + "/requests.jsonl"));
    for (std::string line; std::getline(in, line);) {
      if (!line.empty()) out.push_back(json::parse(line));
    }
    return out;
  }
  // The first request after the first `skip` that `pred` accepts, waiting up to `limit`.
  std::optional<json> WaitFor(const std::function<bool(const json&)>& pred, size_t skip,
                              std::chrono::milliseconds limit = 15s) {
    std::optional<json> found;
    Eventually(
        [&] {
          const auto rs = Requests();
          for (size_t i = skip; i < rs.size(); ++i) {
            if (pred(rs[i])) {
              found = rs[i];
              return true;
            }
          }
          return false;
        },
        limit);
    return found;
  }

 private:
  std::string dir_;
  pid_t pid_ = -1;
  int port_ = 0;
};

bool IsCreate(const json& r, const std::string& reason) {
  return r["method"] == "POST" && r["body"].is_object() && r["body"].value("reason", "") == reason;
}

// /readyz probed every 50 ms on a thread of its own, as the kubelet would:
// the slowest answer and any probe left unanswered.
class Prober {
 public:
  explicit Prober(AgentProcess& agent) : agent_(agent) {
    thread_ = std::thread([this] {
      while (!stop_) {
        const HttpReply r = agent_.Get("/readyz");
        if (r.status == 0) ++unanswered_;
        slowest_ms_ = std::max<long>(slowest_ms_, r.took.count() / 1000);
        std::this_thread::sleep_for(50ms);
      }
    });
  }
  ~Prober() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  long slowest_ms() const { return slowest_ms_; }
  int unanswered() const { return unanswered_; }

 private:
  AgentProcess& agent_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<long> slowest_ms_{0};
  std::atomic<int> unanswered_{0};
};

double Metric(AgentProcess& a, const std::string& sample) {
  const std::string body = a.Get("/metrics").body;
  const size_t at = body.find("\n" + sample + " ");
  return at == std::string::npos ? -1 : std::atof(body.c_str() + at + sample.size() + 2);
}

class KubernetesEventsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (system("command -v node >/dev/null 2>&1") != 0) GTEST_SKIP() << "node is not installed";
    struct stat st {};
    if (stat((kK8sDir + "/node_modules/kubernetes-models").c_str(), &st) != 0) {
      GTEST_SKIP() << "run `npm ci` in tests/k8s (the kubernetes-models package)";
    }
    ca_ = std::make_unique<TestCa>();
    leaf_ = ca_->Issue("kube-apiserver", "DNS:localhost,IP:127.0.0.1");
    token_file_ = ca_->dir() + "/token";
    WriteAtomically(token_file_, "first-token-0001\n");
    api_ = std::make_unique<EventsApi>(leaf_, token_file_);
    redis_ = std::make_unique<RedisServer>();
  }

  json Config() const {
    return {{"kubernetes_events", true},
            {"kubernetes_api",
             {{"url", "https://127.0.0.1:" + std::to_string(api_->port())},
              {"token_file", token_file_},
              {"ca_file", ca_->cert()}}},
            {"drain_seconds", 0},
            {"defaults",
             {{"interval_ms", 200},
              {"timeout_ms", 500},
              {"jitter_percent", 0},
              {"unhealthy_threshold", 1},
              {"healthy_threshold", 1},
              {"breaker", {{"failure_threshold", 1000}}}}},
            {"checks",
             {{{"name", "redis-session"},
               {"kind", "redis"},
               {"role", "session"},
               {"url", "redis://127.0.0.1:" + std::to_string(redis_->port())}}}}};
  }

  std::unique_ptr<AgentProcess> StartAgent() {
    config_.Write(Config());
    auto a = std::make_unique<AgentProcess>(
        config_.path(), std::vector<std::string>{},
        std::map<std::string, std::string>{
            {"POD_NAME", "shop-7d9f-abcde"}, {"POD_NAMESPACE", "shop"}, {"POD_UID", "0b1c-uid"}});
    EXPECT_TRUE(a->WaitFor("/readyz", 200, "", 10000)) << a->Stderr();
    return a;
  }

  std::unique_ptr<TestCa> ca_;
  CertFiles leaf_;
  std::string token_file_;
  std::unique_ptr<EventsApi> api_;
  std::unique_ptr<RedisServer> redis_;
  ConfigFile config_{"vigil-events"};
};

TEST_F(KubernetesEventsTest, DownRecoveredSeriesAndARotatedToken) {
  auto agent = StartAgent();
  redis_->Stop();
  auto down = api_->WaitFor([](const json& r) { return IsCreate(r, "DependencyDown"); }, 0);
  ASSERT_TRUE(down) << api_->log() << agent->Stdout();
  EXPECT_EQ((*down)["status"], 201) << down->dump();
  EXPECT_EQ((*down)["errors"], json::array());
  EXPECT_EQ((*down)["path"], "/apis/events.k8s.io/v1/namespaces/shop/events");
  EXPECT_EQ((*down)["token"], "first-token-0001");
  const json& e = (*down)["body"];
  EXPECT_EQ(e["regarding"], json({{"apiVersion", "v1"},
                                  {"kind", "Pod"},
                                  {"name", "shop-7d9f-abcde"},
                                  {"namespace", "shop"},
                                  {"uid", "0b1c-uid"}}));
  EXPECT_EQ(e["type"], "Warning");
  EXPECT_EQ(e["reportingInstance"], "shop-7d9f-abcde");
  EXPECT_TRUE(
      std::regex_search(e["note"].get<std::string>(),
                        std::regex("^redis-session \\(required\\) failed after \\d+s passing: .+")))
      << e["note"];
  EXPECT_TRUE(agent->WaitFor("/readyz", 503, "", 5000));

  redis_->Start();
  auto up = api_->WaitFor([](const json& r) { return IsCreate(r, "DependencyRecovered"); }, 0);
  ASSERT_TRUE(up) << api_->log();
  EXPECT_EQ((*up)["status"], 201);
  EXPECT_EQ((*up)["body"]["type"], "Normal");
  EXPECT_TRUE(std::regex_match((*up)["body"]["note"].get<std::string>(),
                               std::regex("redis-session recovered after \\d+s")))
      << (*up)["body"]["note"];

  // The token rotates; the same change again is the first Event's series.
  WriteAtomically(token_file_, "second-token-0002\n");
  const size_t seen = api_->Requests().size();
  redis_->Stop();
  auto patch = api_->WaitFor([](const json& r) { return r["method"] == "PATCH"; }, seen);
  ASSERT_TRUE(patch) << api_->log();
  EXPECT_EQ((*patch)["status"], 200) << patch->dump();
  EXPECT_EQ((*patch)["errors"], json::array());
  EXPECT_EQ((*patch)["token"], "second-token-0002");
  EXPECT_EQ((*patch)["contentType"], "application/merge-patch+json");
  EXPECT_EQ((*patch)["path"], "/apis/events.k8s.io/v1/namespaces/shop/events/" +
                                  e["metadata"]["name"].get<std::string>());
  EXPECT_EQ((*patch)["result"]["series"]["count"], 2);
  EXPECT_EQ((*patch)["result"]["reason"], "DependencyDown");
  EXPECT_TRUE(Eventually(
      [&] { return Metric(*agent, "vigil_kubernetes_events_sent_total{result=\"updated\"}") == 1; },
      5s));
  EXPECT_EQ(Metric(*agent, "vigil_kubernetes_events_sent_total{result=\"created\"}"), 2);
  for (const json& r : api_->Requests()) EXPECT_EQ(r["errors"], json::array()) << r.dump();
}

TEST_F(KubernetesEventsTest, AnApiThatFailsOrHangsNeverTouchesAProbeOrAVerdict) {
  auto agent = StartAgent();
  Prober prober(*agent);

  // 500: retried a bounded number of times, then dropped and counted.
  api_->SetMode("500");
  redis_->Stop();
  EXPECT_TRUE(agent->WaitFor("/readyz", 503, "", 5000));
  EXPECT_TRUE(Eventually(
      [&] {
        return Metric(*agent, "vigil_kubernetes_events_dropped_total{reason=\"unavailable\"}") == 1;
      },
      15s));
  size_t posts = 0;
  for (const json& r : api_->Requests()) posts += r["method"] == "POST";
  EXPECT_EQ(posts, 3u);  // max_attempts

  // Hanging: the request ends at its deadline, the probe never waits.
  api_->SetMode("hang");
  redis_->Start();
  EXPECT_TRUE(agent->WaitFor("/readyz", 200, "", 5000));
  EXPECT_TRUE(Eventually(
      [&] {
        return Metric(*agent, "vigil_kubernetes_events_dropped_total{reason=\"timeout\"}") == 1;
      },
      15s));

  // 409 on create: the Event exists; counted as such.
  api_->SetMode("409");
  redis_->Stop();
  EXPECT_TRUE(Eventually(
      [&] { return Metric(*agent, "vigil_kubernetes_events_sent_total{result=\"exists\"}") == 1; },
      15s));
  EXPECT_EQ(agent->Get("/readyz").status, 503);

  // A request hanging at shutdown does not hold the exit.
  api_->SetMode("hang");
  redis_->Start();
  EXPECT_TRUE(agent->WaitFor("/readyz", 200, "", 5000));
  prober.Stop();
  EXPECT_LT(prober.slowest_ms(), 1000);
  EXPECT_EQ(prober.unanswered(), 0);
  std::this_thread::sleep_for(300ms);
  agent->Signal(SIGTERM);
  EXPECT_EQ(agent->WaitExit(3000), std::optional<int>(0));
  EXPECT_NE(agent->Stdout().find("kubernetes_events_failing"), std::string::npos);
}

TEST_F(KubernetesEventsTest, BadSettingsExitTwoNamingTheField) {
  json c = Config();
  c["kubernetes_api"]["ca_file"] = "/nonexistent/ca.crt";
  config_.Write(c);
  // `vigil run` checks what only the pod has at start; `vigil validate`
  // checks the keys, so it works outside the pod (CI, a laptop).
  const CommandResult r =
      RunVigil({"run", "--config", config_.path()}, {{"POD_NAME", "p"}, {"POD_NAMESPACE", "ns"}});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("kubernetes_api.ca_file"), std::string::npos) << r.err;
  EXPECT_EQ(RunVigil({"validate", "--config", config_.path()}, {}).exit_code, 0);
  config_.Write(Config());
  const CommandResult no_pod = RunVigil({"run", "--config", config_.path()}, {});
  EXPECT_EQ(no_pod.exit_code, 2);
  EXPECT_NE(no_pod.err.find("kubernetes_events: POD_NAME"), std::string::npos) << no_pod.err;
  EXPECT_EQ(RunVigil({"validate", "--config", config_.path()}, {}).exit_code, 0);
}

}  // namespace
}  // namespace vigil::testing
