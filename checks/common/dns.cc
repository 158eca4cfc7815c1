#include "checks/common/dns.h"

#include <ares.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>

namespace vigil {
namespace {

std::atomic<int> g_pending_lookups{0};

// The run on this thread resolves through this CheckDns (set by WithCheckDns).
thread_local CheckDns* t_current = nullptr;

// A check uses one name, a Sentinel check one a sentinel plus the master's; a
// master announced by name after many failovers could add more. Past this,
// the least recently used idle name is forgotten.
constexpr size_t kMaxNames = 32;

void InitAresOnce() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

// c-ares 1.18 takes nameservers, the search list and ndots from resolv.conf
// but not glibc's `options timeout:N attempts:N` (it knows only BIND's
// retrans:/retry:), and would wait 5 s x 4 tries, doubling, per name. These
// two are read here with glibc's defaults (5 s, 2 tries) and limits (30, 5),
// so a lookup gives up when the C library's would.
struct RetryOptions {
  int timeout_ms = 5000;
  int tries = 2;
};

RetryOptions ReadRetryOptions(const char* path) {
  RetryOptions o;
  std::ifstream in(path);
  std::string line;
  for (int lines = 0; lines < 1000 && std::getline(in, line); ++lines) {
    std::istringstream words(line);
    std::string word;
    if (!(words >> word) || word != "options") continue;
    while (words >> word) {
      auto value = [&](const char* key) -> int {
        const size_t n = std::strlen(key);
        if (word.compare(0, n, key) != 0) return -1;
        return std::atoi(word.c_str() + n);
      };
      if (int v = value("timeout:"); v >= 1) o.timeout_ms = std::min(v, 30) * 1000;
      if (int v = value("attempts:"); v >= 1) o.tries = std::min(v, 5);
    }
  }
  return o;
}

void CopyWithPort(const std::vector<Endpoint>& in, int port, std::vector<Endpoint>* out) {
  *out = in;
  for (Endpoint& ep : *out) {
    if (ep.addr.ss_family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&ep.addr)->sin_port = htons(static_cast<uint16_t>(port));
    } else {
      reinterpret_cast<sockaddr_in6*>(&ep.addr)->sin6_port = htons(static_cast<uint16_t>(port));
    }
  }
}

}  // namespace

// One ares_getaddrinfo on a channel of its own: the channel reads resolv.conf
// and the hosts file when the lookup starts (so an edited resolv.conf counts
// from the next lookup on), and destroying it cancels the lookup and closes its
// sockets. Driven only by the thread of the check that owns it.
struct CheckDns::Lookup {
  ares_channel channel = nullptr;
  long run = 0;  // the run of the check that started it
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<Endpoint> endpoints;

  Lookup() { g_pending_lookups.fetch_add(1); }
  ~Lookup() {
    // Calls OnResult with ARES_EDESTRUCTION while this object still exists.
    if (channel != nullptr) ares_destroy(channel);
    g_pending_lookups.fetch_sub(1);
  }
  Lookup(const Lookup&) = delete;
  Lookup& operator=(const Lookup&) = delete;

  static void OnResult(void* arg, int status, int /*timeouts*/, ares_addrinfo* res) {
    auto* self = static_cast<Lookup*>(arg);
    self->done = true;
    self->status = status;
    if (res == nullptr) return;
    for (ares_addrinfo_node* n = res->nodes; n != nullptr; n = n->ai_next) {
      if (n->ai_addr == nullptr || n->ai_addrlen > sizeof(sockaddr_storage)) continue;
      if (n->ai_family != AF_INET && n->ai_family != AF_INET6) continue;
      Endpoint ep;
      std::memcpy(&ep.addr, n->ai_addr, n->ai_addrlen);
      ep.len = static_cast<socklen_t>(n->ai_addrlen);
      bool seen = false;
      for (const Endpoint& e : self->endpoints)
        seen = seen || (e.len == ep.len && std::memcmp(&e.addr, &ep.addr, ep.len) == 0);
      if (!seen) self->endpoints.push_back(ep);
    }
    ares_freeaddrinfo(res);
  }

  // Feeds the channel its sockets' events and timeouts until the lookup ends
  // or `until` passes; with `until` already past, one non-blocking round
  // (answers that arrived since the last run, retries that are due).
  void Drive(Deadline until) {
    for (;;) {
      if (done) return;
      ares_socket_t socks[ARES_GETSOCK_MAXNUM];
      int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
      pollfd pfds[ARES_GETSOCK_MAXNUM];
      nfds_t n = 0;
      for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
        short events = 0;
        if (ARES_GETSOCK_READABLE(bits, i)) events |= POLLIN;
        if (ARES_GETSOCK_WRITABLE(bits, i)) events |= POLLOUT;
        if (events == 0) break;
        pfds[n++] = pollfd{socks[i], events, 0};
      }
      const int left_ms = RemainingMs(until);
      timeval max_tv{left_ms / 1000, (left_ms % 1000) * 1000};
      timeval tv{};
      timeval* next = ares_timeout(channel, &max_tv, &tv);
      int wait_ms = static_cast<int>(next->tv_sec * 1000 + (next->tv_usec + 999) / 1000);
      wait_ms = std::min(wait_ms, left_ms);
      int rc = poll(pfds, n, wait_ms);
      if (rc > 0) {
        for (nfds_t i = 0; i < n; ++i) {
          if (pfds[i].revents == 0) continue;
          const bool r = (pfds[i].revents & (POLLIN | POLLERR | POLLHUP)) != 0;
          const bool w = (pfds[i].revents & POLLOUT) != 0;
          ares_process_fd(channel, r ? pfds[i].fd : ARES_SOCKET_BAD,
                          w ? pfds[i].fd : ARES_SOCKET_BAD);
        }
      } else {
        // Timeouts: retries, the next server, the next search domain.
        ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      }
      if (done || Clock::now() >= until) return;
    }
  }
};

CheckDns::CheckDns(int stale_s) : stale_s_(stale_s) {}
CheckDns::~CheckDns() = default;

void CheckDns::BeginRun() {
  ++run_;
  stale_age_s_.reset();
}

int CheckDns::PendingLookups() const {
  int n = 0;
  for (const auto& kv : names_) n += kv.second.pending != nullptr;
  return n;
}

CheckDns::Name& CheckDns::Entry(const std::string& host) {
  auto it = names_.find(host);
  if (it != names_.end()) return it->second;
  if (names_.size() >= kMaxNames) {
    auto victim = names_.end();
    for (auto i = names_.begin(); i != names_.end(); ++i) {
      if (i->second.pending) continue;
      if (victim == names_.end() || i->second.used_at < victim->second.used_at) victim = i;
    }
    if (victim != names_.end()) names_.erase(victim);
  }
  return names_[host];
}

NetResult CheckDns::Resolve(const std::string& host, int port, Deadline deadline,
                            std::vector<Endpoint>* out) {
  out->clear();
  Name& name = Entry(host);
  const Clock::time_point now = Clock::now();
  name.used_at = now;
  const bool have_old = stale_s_ > 0 && !name.last_good.empty() &&
                        now - name.resolved_at <= std::chrono::seconds(stale_s_);

  std::string error;
  if (name.pending == nullptr && now < deadline) {
    InitAresOnce();
    auto lookup = std::make_unique<Lookup>();
    lookup->run = run_;
    const RetryOptions retry = ReadRetryOptions("/etc/resolv.conf");
    ares_options options{};
    options.timeout = retry.timeout_ms;
    options.tries = retry.tries;
    int rc = ares_init_options(&lookup->channel, &options, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc != ARES_SUCCESS) {
      lookup->channel = nullptr;
      error = "cannot resolve " + host + ": resolver set-up: " + ares_strerror(rc);
    } else {
      ares_addrinfo_hints hints{};
      hints.ai_family = AF_UNSPEC;
      hints.ai_socktype = SOCK_STREAM;
      // May answer at once (hosts file, a malformed name): OnResult runs here.
      ares_getaddrinfo(lookup->channel, host.c_str(), nullptr, &hints, &Lookup::OnResult,
                       lookup.get());
      name.pending = std::move(lookup);
    }
  }

  bool timed_out = error.empty();
  if (name.pending != nullptr) {
    Deadline until = deadline;
    if (have_old) {
      // Old addresses are at hand: keep time to connect to them.
      until = name.pending->run != run_ ? now : now + (deadline - now) / 2;
    }
    name.pending->Drive(until);
    if (name.pending->done) {
      std::unique_ptr<Lookup> done = std::move(name.pending);
      if (done->status == ARES_SUCCESS && !done->endpoints.empty()) {
        name.last_good = std::move(done->endpoints);
        name.resolved_at = Clock::now();
        CopyWithPort(name.last_good, port, out);
        return {NetStatus::kOk, {}};
      }
      timed_out = false;
      error = done->status == ARES_SUCCESS
                  ? "no address for " + host
                  : "cannot resolve " + host + ": " + ares_strerror(done->status);
    }
  }

  if (have_old) {
    const long age = static_cast<long>(
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - name.resolved_at).count());
    stale_age_s_ = std::max(stale_age_s_.value_or(0), age);
    CopyWithPort(name.last_good, port, out);
    return {NetStatus::kOk, {}};
  }
  if (timed_out) return {NetStatus::kTimeout, "resolving " + host};
  return {NetStatus::kError, error, FailureKind::kDns};
}

int DnsPendingLookupsTotal() { return g_pending_lookups.load(); }

CheckDns* CurrentCheckDns() { return t_current; }

namespace {

class CheckWithDns final : public Check {
 public:
  CheckWithDns(std::unique_ptr<Check> inner, int stale_s)
      : inner_(std::move(inner)), dns_(stale_s) {}

  CheckResult Run(Deadline deadline) override {
    dns_.BeginRun();
    CheckResult r;
    {
      struct Scope {
        CheckDns* saved;
        explicit Scope(CheckDns* d) : saved(t_current) { t_current = d; }
        ~Scope() { t_current = saved; }
      } scope(&dns_);
      r = inner_->Run(deadline);
    }
    if (auto age = dns_.StaleAgeS()) {
      const std::string why =
          "DNS failing; using addresses from " + std::to_string(*age) + " s ago";
      if (r.outcome == Outcome::kPass) {
        r.outcome = Outcome::kWarn;
        r.reason = why;
      } else {
        r.reason = r.reason.empty() ? why : r.reason + "; " + why;
      }
    }
    return r;
  }

  std::string Target() const override { return inner_->Target(); }
  void Close() override { inner_->Close(); }
  int IdleFd() const override { return inner_->IdleFd(); }
  bool IdleConnectionLost() override { return inner_->IdleConnectionLost(); }

 private:
  const std::unique_ptr<Check> inner_;
  CheckDns dns_;  // Used only by the thread running Run.
};

}  // namespace

std::unique_ptr<Check> WithCheckDns(std::unique_ptr<Check> inner, int stale_s) {
  return std::make_unique<CheckWithDns>(std::move(inner), stale_s);
}

}  // namespace vigil
