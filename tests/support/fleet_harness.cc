#include "tests/support/fleet_harness.h"

#include <sys/stat.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/support/eventually.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"

namespace vigil::testing {
namespace {

using json = nlohmann::json;

// A port free on every one of `hosts` a moment ago; bounded tries.
int SharedFreePort(const std::vector<std::string>& hosts) {
  for (int attempt = 0; attempt < 200; ++attempt) {
    const int port = FreePort(hosts.front());
    bool free_everywhere = true;
    for (const auto& h : hosts) free_everywhere = free_everywhere && PortFree(h, port);
    if (free_everywhere) return port;
  }
  throw std::runtime_error("no port free on every pod address");
}

json ParseOrNull(const std::string& body) {
  json j = json::parse(body, nullptr, false);
  return j.is_discarded() ? json() : j;
}

}  // namespace

FleetHarness::FleetHarness(const RedisServer& redis, FleetOptions options)
    : options_(std::move(options)), redis_port_(redis.port()) {
  if (options_.pods < 1 || options_.first_host + options_.pods > 255) {
    throw std::runtime_error("FleetHarness: bad pod count");
  }
  dir_ = MakeTempDir("vigil-fleet");
  std::vector<std::string> hosts;
  for (int i = 0; i < options_.pods; ++i) {
    hosts.push_back(options_.host_base + "." + std::to_string(options_.first_host + i));
  }
  port_ = SharedFreePort(hosts);
  if (!options_.token.empty()) {
    token_file_ = dir_ + "/fleet-token";
    std::ofstream(token_file_) << options_.token;
    chmod(token_file_.c_str(), 0644);
  }
  if (options_.use_dns) dns_ = std::make_unique<Dnsmasq>();
  pods_.resize(hosts.size());
  for (int i = 0; i < size(); ++i) {
    Pod& p = pods_[static_cast<size_t>(i)];
    p.name = "pod-" + std::to_string(i);
    p.node = "node-" + std::string(1, static_cast<char>('a' + i % 3));
    p.host = hosts[static_cast<size_t>(i)];
    p.redis_proxy = std::make_unique<TcpProxy>("127.0.0.1", redis_port_);
    p.config = std::make_unique<ConfigFile>("vigil-fleet-pod");
  }
  for (int i = 0; i < size(); ++i) WriteConfig(i);  // every pod's address known
  if (dns_) {
    std::vector<int> all;
    for (int i = 0; i < size(); ++i) all.push_back(i);
    SetDnsPods(all);
  }
}

FleetHarness::~FleetHarness() {
  for (auto& p : pods_) {
    if (p.agent) p.agent->Stop(2000);
    p.agent.reset();
  }
  pods_.clear();
  dns_.reset();
  RemoveTree(dir_);
}

std::string FleetHarness::Address(int i) const {
  return pods_.at(static_cast<size_t>(i)).host + ":" + std::to_string(port_);
}

std::vector<std::string> FleetHarness::AllAddresses() const {
  std::vector<std::string> out;
  for (int i = 0; i < size(); ++i) out.push_back(Address(i));
  return out;
}

void FleetHarness::WriteConfig(int i) {
  Pod& p = pod(i);
  json session = {{"name", kCheck},
                  {"kind", "redis"},
                  {"role", "session"},
                  {"url", "redis://" + p.redis_proxy->address()}};
  if (!options_.when_widespread.empty()) session["when_widespread"] = options_.when_widespread;
  json checks = json::array({session});
  if (options_.optional_cache) {
    checks.push_back({{"name", "cache"},
                      {"kind", "redis"},
                      {"role", "cache"},
                      {"url", "redis://" + p.redis_proxy->address() + "/1"}});
  }
  json config = {{"drain_seconds", 0},
                 {"defaults",
                  {{"interval_ms", options_.check_interval_ms},
                   {"timeout_ms", options_.check_timeout_ms},
                   {"unhealthy_threshold", options_.unhealthy_threshold},
                   {"healthy_threshold", 1},
                   {"jitter_percent", 10},
                   {"breaker", {{"recovery_timeout_ms", 500}}}}},
                 {"checks", checks}};
  if (options_.fleet) {
    std::vector<std::string> peers = AllAddresses();
    peers.insert(peers.end(), options_.extra_peers.begin(), options_.extra_peers.end());
    json fleet = {{"interval_ms", options_.fleet_interval_ms},
                  {"timeout_ms", options_.fleet_timeout_ms},
                  {"sample", options_.sample},
                  {"min_pods", options_.min_pods}};
    if (options_.use_dns) {
      fleet["peers"] = kDnsName;
      fleet["port"] = port_;
    } else {
      fleet["peers"] = peers;
    }
    if (!token_file_.empty()) fleet["token_file"] = token_file_;
    config["fleet"] = fleet;
  }
  json extra = json::parse(options_.extra_config);
  for (auto it = extra.begin(); it != extra.end(); ++it) {
    if (it.key() == "fleet" && config.contains("fleet")) {
      config["fleet"].update(it.value());
    } else {
      config[it.key()] = it.value();
    }
  }
  p.config->Write(config);
}

void FleetHarness::Start(int i) {
  Pod& p = pod(i);
  if (p.agent) return;
  AgentOptions o;
  o.host = p.host;
  o.port = port_;
  o.env = {{"POD_NAME", p.name}, {"POD_NAMESPACE", "shop"}, {"NODE_NAME", p.node}};
  if (dns_) o.resolv_conf = dns_->resolv_conf();
  p.agent = std::make_unique<AgentProcess>(p.config->path(), o);
}

bool FleetHarness::StartAll(int ms) {
  for (int i = 0; i < size(); ++i) Start(i);
  return WaitAll([&](int i) { return Readyz(i) == 200; }, std::chrono::milliseconds(ms));
}

void FleetHarness::Stop(int i) {
  Pod& p = pod(i);
  if (!p.agent) return;
  p.agent->Stop(3000);
  p.agent.reset();
}

void FleetHarness::SetDnsPods(const std::vector<int>& pods) {
  if (!dns_) throw std::runtime_error("FleetHarness: no DNS (use_dns is off)");
  std::vector<std::string> ips;
  for (int i : pods) ips.push_back(pod(i).host);
  dns_->SetRecords(kDnsName, ips);
}

HttpReply FleetHarness::Get(int i, const std::string& path, bool with_token) {
  Pod& p = pod(i);
  std::map<std::string, std::string> headers;
  if (with_token && !options_.token.empty()) headers["Authorization"] = "Bearer " + options_.token;
  return HttpCall(p.host, port_, "GET", path, headers);
}

int FleetHarness::Readyz(int i) { return Get(i, "/readyz").status; }
std::string FleetHarness::Verbose(int i) { return Get(i, "/readyz?verbose").body; }
json FleetHarness::Health(int i) { return ParseOrNull(Get(i, "/health").body); }
json FleetHarness::Fleet(int i) { return ParseOrNull(Get(i, "/fleet").body); }
json FleetHarness::FleetSelf(int i) { return ParseOrNull(Get(i, "/fleet/self", true).body); }
std::string FleetHarness::Metrics(int i) { return Get(i, "/metrics").body; }

std::optional<double> FleetHarness::Metric(int i, const std::string& name,
                                           const std::map<std::string, std::string>& labels) {
  std::istringstream in(Metrics(i));
  std::string line, n;
  std::map<std::string, std::string> l;
  double v = 0;
  while (std::getline(in, line)) {
    if (!ParseMetricLine(line, &n, &l, &v) || n != name) continue;
    bool match = true;
    for (const auto& [k, want] : labels) {
      auto it = l.find(k);
      match = match && it != l.end() && it->second == want;
    }
    if (match) return v;
  }
  return std::nullopt;
}

bool FleetHarness::WaitAll(const std::function<bool(int)>& pred, std::chrono::milliseconds limit) {
  return Eventually(
      [&] {
        for (int i = 0; i < size(); ++i) {
          if (Running(i) && !pred(i)) return false;
        }
        return true;
      },
      limit);
}

std::string FleetHarness::Describe() {
  std::string out;
  for (int i = 0; i < size(); ++i) {
    if (!Running(i)) continue;
    json h = Health(i);
    std::string scope = "?";
    if (h.is_object() && h["checks"].is_object() && h["checks"][kCheck].is_object() &&
        h["checks"][kCheck].contains("fleet")) {
      scope = h["checks"][kCheck]["fleet"].dump();
    }
    out += "\n  " + pod(i).name + " (" + Address(i) + "): readyz " + std::to_string(Readyz(i)) +
           ", health " + (h.is_object() ? h.value("status", "?") : std::string("?")) + ", " +
           kCheck + " " +
           (h.is_object() && h["checks"].is_object() && h["checks"][kCheck].is_object()
                ? h["checks"][kCheck].value("status", "?")
                : std::string("?")) +
           ", fleet " + scope;
  }
  return out;
}

bool ParseMetricLine(const std::string& line, std::string* name,
                     std::map<std::string, std::string>* labels, double* value) {
  if (line.empty() || line[0] == '#') return false;
  labels->clear();
  size_t pos = line.find_first_of("{ ");
  if (pos == std::string::npos) return false;
  *name = line.substr(0, pos);
  if (line[pos] == '{') {
    ++pos;
    while (pos < line.size() && line[pos] != '}') {
      const size_t eq = line.find("=\"", pos);
      if (eq == std::string::npos) return false;
      std::string key = line.substr(pos, eq - pos);
      std::string val;
      size_t q = eq + 2;
      for (; q < line.size() && line[q] != '"'; ++q) {
        if (line[q] == '\\' && q + 1 < line.size()) ++q;
        val.push_back(line[q]);
      }
      if (q >= line.size()) return false;
      (*labels)[key] = val;
      pos = q + 1;
      if (pos < line.size() && line[pos] == ',') ++pos;
    }
    if (pos >= line.size()) return false;
    ++pos;
  }
  const char* start = line.c_str() + pos;
  char* end = nullptr;
  *value = std::strtod(start, &end);
  return end != start;
}

}  // namespace vigil::testing
