// N vigils as the pods of one app, for the fleet end-to-end tests and the
// fleet bench: pod i listens on 127.0.0.(2+i) (another base can be given),
// all on one shared port, with POD_NAME pod-i, POD_NAMESPACE shop and
// NODE_NAME node-(i % 3); each reaches the one real redis-server through a
// TcpProxy of its own, so that one pod's path can be broken alone. Peers come from a static list of
// every pod's host:port, or from a DNS name served by a real dnsmasq (tests/support/dnsmasq.h)
// whose records the test sets; each agent then runs in a mount namespace of its own with a
// resolv.conf naming that server.
//
// The check, "session": kind redis, role session (required), with
// `when_widespread` when given. Every wait is bounded.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tests/support/agent_process.h"
#include "tests/support/config_file.h"
#include "tests/support/dnsmasq.h"
#include "tests/support/tcp_proxy.h"

namespace vigil::testing {

class RedisServer;

struct FleetOptions {
  int pods = 5;
  std::string host_base = "127.0.0";  // pod i on HOST_BASE.(first_host + i)
  int first_host = 2;
  bool fleet = true;     // false: no `fleet` section (vigil as before fleet awareness)
  bool use_dns = false;  // peers: a DNS name (dnsmasq) instead of a static list
  std::string when_widespread = "stay_ready";  // "": the key left out (the default)
  int min_pods = 3;
  int check_interval_ms = 300;
  int check_timeout_ms = 200;
  int unhealthy_threshold = 1;
  int fleet_interval_ms = 500;
  int fleet_timeout_ms = 300;
  int sample = 16;
  std::string token;                     // non-empty: fleet.token_file holding it
  std::vector<std::string> extra_peers;  // more static peers (fake ones), "host:port"
  bool optional_cache = false;           // also an optional "cache" check on the same Redis
  // A JSON object whose keys are merged into every pod's config (top level;
  // a "fleet" object is merged key by key into the fleet section).
  std::string extra_config = "{}";
};

class FleetHarness {
 public:
  static constexpr const char* kDnsName = "vigil-peers.fleet.test";
  static constexpr const char* kCheck = "session";

  struct Pod {
    std::string name, node, host;
    std::unique_ptr<TcpProxy> redis_proxy;
    std::unique_ptr<ConfigFile> config;
    std::unique_ptr<AgentProcess> agent;  // null while stopped
  };

  // Proxies and configs for every pod; no agent started yet. With use_dns,
  // starts dnsmasq with every pod's address under kDnsName.
  FleetHarness(const RedisServer& redis, FleetOptions options);
  ~FleetHarness();
  FleetHarness(const FleetHarness&) = delete;
  FleetHarness& operator=(const FleetHarness&) = delete;

  int size() const { return static_cast<int>(pods_.size()); }
  int port() const { return port_; }
  const FleetOptions& options() const { return options_; }
  Pod& pod(int i) { return pods_.at(static_cast<size_t>(i)); }
  AgentProcess& agent(int i) { return *pod(i).agent; }
  std::string Address(int i) const;
  std::vector<std::string> AllAddresses() const;
  Dnsmasq* dns() { return dns_.get(); }
  const std::string& token_file() const { return token_file_; }

  // Starts pod i's agent (throws when it does not listen).
  void Start(int i);
  // Starts every stopped pod, then waits until every one is ready (bounded
  // `ms`); whether they all were.
  bool StartAll(int ms = 15000);
  void Stop(int i);  // SIGTERM, bounded
  bool Running(int i) { return pod(i).agent != nullptr; }
  // The DNS name answers these pods' addresses (use_dns only).
  void SetDnsPods(const std::vector<int>& pods);

  // One request to pod i (a new connection, 2 s timeout); the fleet token
  // is sent when `with_token` and one is configured.
  HttpReply Get(int i, const std::string& path, bool with_token = false);
  int Readyz(int i);
  std::string Verbose(int i);  // /readyz?verbose body
  nlohmann::json Health(int i);
  nlohmann::json Fleet(int i);
  nlohmann::json FleetSelf(int i);
  std::string Metrics(int i);
  // The value of the first sample on pod i's /metrics named `name` that has
  // these labels (and maybe others); nullopt when absent.
  std::optional<double> Metric(int i, const std::string& name,
                               const std::map<std::string, std::string>& labels = {});

  // Polls `pred(i)` for every running pod until all hold, up to `limit`.
  bool WaitAll(const std::function<bool(int)>& pred, std::chrono::milliseconds limit);
  // A summary of every running pod's /readyz, /health status and scope, for
  // failure messages.
  std::string Describe();

 private:
  void WriteConfig(int i);

  const FleetOptions options_;
  const int redis_port_;
  int port_ = 0;
  std::string dir_, token_file_;
  std::unique_ptr<Dnsmasq> dns_;
  std::vector<Pod> pods_;
};

// Parses one Prometheus text sample line's name, labels and value; false
// when the line is a comment or malformed.
bool ParseMetricLine(const std::string& line, std::string* name,
                     std::map<std::string, std::string>* labels, double* value);

}  // namespace vigil::testing
