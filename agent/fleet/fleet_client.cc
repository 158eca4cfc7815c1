#include "agent/fleet/fleet_client.h"

#include <arpa/inet.h>
#include <poll.h>

#include <errno.h>

#include <algorithm>
#include <cstdlib>
#include <functional>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "agent/core/fleet.h"
#include "agent/core/snapshot.h"
#include "agent/core/verdict.h"
#include "agent/fleet/peer_answer.h"
#include "agent/fleet/peer_conn.h"
#include "agent/log/reporter.h"
#include "checks/common/dns.h"
#include "checks/common/thread_annotations.h"
#include "checks/common/version.h"

namespace vigil {
namespace {

// Two rounds started for failures are at least this far apart, whatever
// the checks do.
constexpr std::chrono::milliseconds kMinRoundGap{100};
// A round's jitter: interval ± 10 %.
constexpr double kJitter = 0.10;
// Addresses a peers name may resolve to; more are not asked.
constexpr size_t kMaxPeers = 4096;
// Old addresses may stand in for a failing lookup this long (as for checks).
constexpr int kDnsStaleS = 300;

bool IsWildcard(const std::string& host) {
  return host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]";
}

std::string Request(const std::string& address, const std::string& token) {
  std::string r = "GET /fleet/self HTTP/1.1\r\nHost: " + address + "\r\nUser-Agent: vigil/" +
                  kVersion + " fleet\r\nAccept: application/json\r\n";
  if (!token.empty()) r += "Authorization: Bearer " + token + "\r\n";
  return r + "\r\n";
}

// A stay_ready check that is failing, and since when.
std::map<std::string, WallClock::time_point> StayReadyFailures(const HealthSnapshot& s) {
  std::map<std::string, WallClock::time_point> out;
  for (const CheckView& c : s.checks) {
    if (c.required && c.stay_ready_when_widespread && c.status == Status::kFail)
      out[c.name] = c.since;
  }
  return out;
}

}  // namespace

struct FleetClient::Core {
  FleetStore* fleet;
  const SnapshotStore* snapshots;
  Reporter* reporter;
  std::string listen_host;
  int listen_port = 0;

  Mutex mu;
  CondVar cv;
  FleetConfig config VIGIL_GUARDED_BY(mu);
  std::string token VIGIL_GUARDED_BY(mu);
  bool notified VIGIL_GUARDED_BY(mu) = false;
  bool stop VIGIL_GUARDED_BY(mu) = false;
  bool config_changed VIGIL_GUARDED_BY(mu) = false;

  // The thread's own, below.
  std::thread thread;
  CheckDns dns{kDnsStaleS};
  std::mt19937_64 rng{std::random_device{}()};
  std::vector<Endpoint> peers;                             // the last discovery, self left out
  std::set<std::string> self;                              // addresses that answered as this pod
  std::map<std::string, std::unique_ptr<PeerConn>> conns;  // kept connections
  std::map<std::string, PeerAnswer> answers;               // newest answer of each peer
  std::array<uint64_t, kDropReasonCount> dropped{};
  uint64_t rounds = 0;
  std::optional<WallClock::time_point> last_started, last_completed;
  std::map<std::string, WallClock::time_point> failures_seen;
  std::set<std::string> widespread;  // checks in a widespread episode
  Clock::time_point last_round_at{};

  void Loop();
  bool WaitForWork(Clock::time_point next, FleetConfig* cfg, std::string* token, bool* notified);
  bool NewStayReadyFailure();
  void Round(const FleetConfig& cfg, const std::string& token);
  std::vector<Endpoint> Discover(const FleetConfig& cfg, Deadline deadline);
  bool AddPeers(const std::string& host, int port, Deadline deadline, std::vector<Endpoint>* out);
  bool IsSelf(const Endpoint& ep) const;
  std::vector<Endpoint> Sample(int n);
  void Ask(const std::vector<Endpoint>& sample, const std::string& token, Deadline deadline);
  void Collect(const std::vector<Endpoint>& sample, WallClock::time_point now);
  void Forget(const std::vector<Endpoint>& known);
  void Publish(const FleetConfig& cfg, std::optional<WallClock::time_point> in_flight);
  void ReportEpisodes();
  void TurnOff();
  Clock::duration Jittered(int interval_ms);
};

void FleetClient::Core::Loop() {
  Clock::time_point next = Clock::now();
  for (;;) {
    FleetConfig cfg;
    std::string tok;
    bool notified_now = false;
    if (!WaitForWork(next, &cfg, &tok, &notified_now)) return;
    if (!cfg.enabled) {
      TurnOff();
      next = Clock::time_point::max();
      continue;
    }
    const Clock::time_point now = Clock::now();
    // A stay_ready check started failing: its round now, or as soon as the
    // last one is kMinRoundGap old.
    if (notified_now && NewStayReadyFailure()) {
      next = std::min(next, std::max(now, last_round_at + kMinRoundGap));
    }
    if (now < next) continue;
    Round(cfg, tok);
    next = last_round_at + Jittered(cfg.interval_ms);
  }
}

// Waits for the next round, a new snapshot or a new config; false on stop.
bool FleetClient::Core::WaitForWork(Clock::time_point next, FleetConfig* cfg, std::string* tok,
                                    bool* notified_now) {
  MutexLock lock(mu);
  auto woken = [this]()
                   VIGIL_NO_THREAD_SAFETY_ANALYSIS { return stop || notified || config_changed; };
  if (next == Clock::time_point::max()) {
    cv.Wait(lock, woken);
  } else {
    cv.WaitUntil(lock, next, woken);
  }
  if (stop) return false;
  *notified_now = notified;
  notified = false;
  if (config_changed) {
    config_changed = false;
    *notified_now = true;  // a new config is worth a look at the failures too
  }
  *cfg = config;
  *tok = token;
  return true;
}

bool FleetClient::Core::NewStayReadyFailure() {
  const auto now_failing = StayReadyFailures(*snapshots->Get());
  bool fresh = false;
  for (const auto& [name, since] : now_failing) {
    auto it = failures_seen.find(name);
    if (it == failures_seen.end() || it->second != since) fresh = true;
  }
  failures_seen = now_failing;
  return fresh;
}

Clock::duration FleetClient::Core::Jittered(int interval_ms) {
  std::uniform_real_distribution<double> d(1.0 - kJitter, 1.0 + kJitter);
  return std::chrono::microseconds(static_cast<int64_t>(interval_ms * 1000.0 * d(rng)));
}

void FleetClient::Core::Round(const FleetConfig& cfg, const std::string& token) {
  const WallClock::time_point started = WallClock::now();
  last_round_at = Clock::now();
  const Deadline deadline = last_round_at + std::chrono::milliseconds(cfg.timeout_ms);
  Publish(cfg, started);
  // DNS gets half the round at most; old addresses stand in meanwhile.
  const std::vector<Endpoint> known =
      Discover(cfg, last_round_at + std::chrono::milliseconds(cfg.timeout_ms / 2));
  const std::vector<Endpoint> sample = Sample(cfg.sample);
  Ask(sample, token, deadline);
  Collect(sample, WallClock::now());
  Forget(known);
  ++rounds;
  last_started = started;
  last_completed = WallClock::now();
  Publish(cfg, std::nullopt);
  ReportEpisodes();
}

std::vector<Endpoint> FleetClient::Core::Discover(const FleetConfig& cfg, Deadline deadline) {
  std::vector<Endpoint> found;
  bool ok = true;
  if (!cfg.peers_dns.empty()) {
    ok = AddPeers(cfg.peers_dns, cfg.port > 0 ? cfg.port : listen_port, deadline, &found);
  } else {
    for (const std::string& p : cfg.peers_static) {
      std::string host;
      int port = 0;
      if (SplitHostPort(p, &host, &port)) AddPeers(host, port, deadline, &found);
    }
  }
  // A peers name that does not resolve (nor from old addresses) keeps the
  // peers last seen: they expire by their answers' age, not by DNS.
  if (!ok) return peers;
  std::vector<Endpoint> out;
  std::set<std::string> seen;
  for (const Endpoint& ep : found) {
    if (out.size() >= kMaxPeers) break;
    if (IsSelf(ep) || !seen.insert(ep.ToString()).second) continue;
    out.push_back(ep);
  }
  if (out.size() != peers.size()) {
    reporter->Info("fleet_peers_changed",
                   "fleet: " + std::to_string(out.size()) + " peers (was " +
                       std::to_string(peers.size()) + ")",
                   {{"peers", std::to_string(out.size())}});
  }
  peers = out;
  return out;
}

bool FleetClient::Core::AddPeers(const std::string& host, int port, Deadline deadline,
                                 std::vector<Endpoint>* out) {
  std::vector<Endpoint> eps;
  in6_addr scratch{};
  const bool numeric = inet_pton(AF_INET, host.c_str(), &scratch) == 1 ||
                       inet_pton(AF_INET6, host.c_str(), &scratch) == 1;
  const NetResult r =
      numeric ? Resolve(host, port, deadline, &eps) : dns.Resolve(host, port, deadline, &eps);
  if (r.status != NetStatus::kOk) return false;
  out->insert(out->end(), eps.begin(), eps.end());
  return true;
}

bool FleetClient::Core::IsSelf(const Endpoint& ep) const {
  const std::string address = ep.ToString();
  if (self.count(address)) return true;
  if (!IsWildcard(listen_host) &&
      (address == listen_host + ":" + std::to_string(listen_port) ||
       address == "[" + listen_host + "]:" + std::to_string(listen_port))) {
    return true;
  }
  const char* pod_ip = std::getenv("POD_IP");
  return pod_ip != nullptr && *pod_ip != '\0' &&
         (address == std::string(pod_ip) + ":" + std::to_string(listen_port) ||
          address == "[" + std::string(pod_ip) + "]:" + std::to_string(listen_port));
}

// Up to n of the peers, picked at random (a partial Fisher-Yates shuffle).
std::vector<Endpoint> FleetClient::Core::Sample(int n) {
  std::vector<Endpoint> pool = peers;
  const size_t take = std::min(pool.size(), static_cast<size_t>(std::max(0, n)));
  for (size_t i = 0; i < take; ++i) {
    std::uniform_int_distribution<size_t> pick(i, pool.size() - 1);
    std::swap(pool[i], pool[pick(rng)]);
  }
  pool.resize(take);
  return pool;
}

void FleetClient::Core::Ask(const std::vector<Endpoint>& sample, const std::string& token,
                            Deadline deadline) {
  std::vector<PeerConn*> live;
  for (const Endpoint& ep : sample) {
    const std::string address = ep.ToString();
    auto& conn = conns[address];
    if (!conn) conn = std::make_unique<PeerConn>(ep);
    conn->Start(Request(address, token));
    live.push_back(conn.get());
  }
  std::vector<pollfd> fds;
  std::vector<PeerConn*> owners;
  for (;;) {
    fds.clear();
    owners.clear();
    for (PeerConn* c : live) {
      if (c->fd() < 0) continue;
      fds.push_back({c->fd(), c->events(), 0});
      owners.push_back(c);
    }
    const int ms = RemainingMs(deadline);
    if (fds.empty() || ms <= 0) break;
    if (poll(fds.data(), fds.size(), ms) < 0 && errno != EINTR) break;
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].revents != 0) owners[i]->OnReady(fds[i].revents);
    }
  }
  for (PeerConn* c : live) c->Abort();
}

void FleetClient::Core::Collect(const std::vector<Endpoint>& sample, WallClock::time_point now) {
  for (const Endpoint& ep : sample) {
    const std::string address = ep.ToString();
    PeerConn& conn = *conns[address];
    if (conn.state() == PeerConn::State::kFailed) {
      ++dropped[static_cast<size_t>(conn.failure())];
      continue;
    }
    if (conn.state() != PeerConn::State::kDone) continue;
    PeerAnswer a;
    a.address = address;
    a.received = now;
    if (!ParsePeerAnswer(conn.body(), &a)) {
      ++dropped[static_cast<size_t>(DropReason::kMalformed)];
      continue;
    }
    if (a.instance == InstanceId()) {
      // This pod, under an address it did not know was its own.
      self.insert(address);
      conns.erase(address);
      answers.erase(address);
      peers.erase(std::remove_if(peers.begin(), peers.end(),
                                 [&](const Endpoint& p) { return p.ToString() == address; }),
                  peers.end());
      continue;
    }
    answers[address] = std::move(a);
  }
}

// Peers no longer found lose their answers and connections.
void FleetClient::Core::Forget(const std::vector<Endpoint>& known) {
  std::set<std::string> keep;
  for (const Endpoint& ep : known) keep.insert(ep.ToString());
  for (auto it = answers.begin(); it != answers.end();)
    it = keep.count(it->first) ? std::next(it) : answers.erase(it);
  for (auto it = conns.begin(); it != conns.end();)
    it = keep.count(it->first) ? std::next(it) : conns.erase(it);
}

// `in_flight`: a round has started at that moment (a pending stay_ready
// check waits for it).
void FleetClient::Core::Publish(const FleetConfig& cfg,
                                std::optional<WallClock::time_point> in_flight) {
  auto v = std::make_shared<FleetView>();
  v->round_in_flight = in_flight;
  v->enabled = true;
  v->min_pods = cfg.min_pods;
  v->interval_ms = cfg.interval_ms;
  v->timeout_ms = cfg.timeout_ms;
  v->peers_known = static_cast<int>(peers.size());
  v->rounds = rounds;
  v->last_round_started = last_started;
  v->last_round_completed = last_completed;
  v->dropped = dropped;
  v->answers.reserve(answers.size());
  for (const auto& [address, a] : answers) v->answers.push_back(a);
  fleet->Set(std::move(v));
}

// check_widespread once an episode begins, check_widespread_ended when it ends.
void FleetClient::Core::ReportEpisodes() {
  const auto snap = snapshots->Get();
  const auto view = fleet->Get();
  const Scopes scopes = ScopesOf(*snap, view.get(), WallClock::now());
  std::set<std::string> now_widespread;
  for (size_t i = 0; i < snap->checks.size(); ++i) {
    const CheckView& c = snap->checks[i];
    const CheckScope& sc = scopes[i];
    if (sc.scope != Scope::kWidespread) continue;
    now_widespread.insert(c.name);
    if (widespread.count(c.name)) continue;
    Event e;
    e.level = Level::kWarn;
    e.event = "check_widespread";
    e.check = c.name;
    e.kind = c.kind;
    e.message = "[" + c.name + "] failing on " + std::to_string(sc.failing) + " of " +
                std::to_string(sc.pods) + " pods (widespread)" +
                (KeptReadyByFleet(c, sc) ? ", kept ready" : "");
    e.fields = {{"failing", std::to_string(sc.failing)}, {"pods", std::to_string(sc.pods)}};
    reporter->Report(std::move(e));
  }
  for (const std::string& name : widespread) {
    if (now_widespread.count(name)) continue;
    Event e;
    e.level = Level::kInfo;
    e.event = "check_widespread_ended";
    e.check = name;
    e.message = "[" + name + "] no longer failing on most pods";
    reporter->Report(std::move(e));
  }
  widespread = std::move(now_widespread);
}

// The fleet was turned off by a reload: every verdict is local again.
void FleetClient::Core::TurnOff() {
  if (!fleet->Get()->enabled) return;
  conns.clear();
  answers.clear();
  peers.clear();
  widespread.clear();
  fleet->Set(std::make_shared<FleetView>());
}

FleetClient::FleetClient(FleetStore* fleet, const SnapshotStore* snapshots, Reporter* reporter,
                         std::string listen)
    : core_(std::make_shared<Core>()) {
  core_->fleet = fleet;
  core_->snapshots = snapshots;
  core_->reporter = reporter;
  std::string a = listen;
  if (!a.empty() && a[0] == ':') a = "0.0.0.0" + a;
  SplitHostPort(a, &core_->listen_host, &core_->listen_port);
}

FleetClient::~FleetClient() { Stop(); }

void FleetClient::Start(const FleetConfig& config, std::string token) {
  {
    MutexLock lock(core_->mu);
    core_->config = config;
    core_->token = std::move(token);
  }
  Core* core = core_.get();
  core_->thread = std::thread([core] { core->Loop(); });
}

void FleetClient::Apply(const FleetConfig& config) {
  MutexLock lock(core_->mu);
  if (config == core_->config) return;
  core_->config = config;
  core_->config_changed = true;
  core_->cv.NotifyOne();
}

void FleetClient::SetToken(std::string token) {
  MutexLock lock(core_->mu);
  core_->token = std::move(token);
}

std::function<void()> FleetClient::Notifier() const {
  std::weak_ptr<Core> weak = core_;
  return [weak] {
    if (auto core = weak.lock()) {
      MutexLock lock(core->mu);
      core->notified = true;
      core->cv.NotifyOne();
    }
  };
}

void FleetClient::Stop() {
  {
    MutexLock lock(core_->mu);
    core_->stop = true;
    core_->cv.NotifyOne();
  }
  if (core_->thread.joinable()) core_->thread.join();
}

}  // namespace vigil
