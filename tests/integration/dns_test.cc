// Name resolution under the check's deadline (checks/net.h Resolve).
//
// The resolver cases that need a resolver which never answers run in a child
// process (a gtest "threadsafe" death test: fork + exec of this binary, so the
// child starts single-threaded) that builds its own world first:
//   unshare(CLONE_NEWNS | CLONE_NEWNET)   private mounts, private network
//   lo up                                  only 127.0.0.0/8 exists
//   UDP 127.0.0.1:53 bound, never read     the DNS server that never answers
//   bind-mount /etc/resolv.conf            "nameserver 127.0.0.1", 30 s x 5 tries
//   bind-mount /etc/hosts, nsswitch.conf   "hosts: files dns", one static name
//   or: the test's own DnsResponder        answers, goes silent, SERVFAILs
// The host's files and network are untouched. Without the privilege to do
// that the tests skip and say why.
//
// What they show: a lookup that does not answer costs only its own check (one
// pending lookup a check, no thread, nothing shared), and a check that
// resolved its name before goes on with those addresses for dns_stale_s
// (a `warn`), in the check objects and through the vigil binary.
#include <dirent.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include "checks/check.h"
#include "checks/common/dns.h"
#include "checks/common/net.h"
#include "tests/support/agent_process.h"
#include "tests/support/check_builder.h"
#include "tests/support/dns_responder.h"
#include "tests/support/redis_server.h"
#include "tests/support/tcp_listener.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;
using testing::BuildCheck;
using testing::RunFor;
using testing::Timed;

constexpr milliseconds kShortTimeout{300};
constexpr milliseconds kMargin{700};
constexpr milliseconds kLongTimeout{5000};

constexpr const char* kStaticName = "vigil-dns-static.test";

// ---------------------------------------------------------------------------
// In the host's own environment.

// `.invalid` never resolves (RFC 6761). Whether the host has a resolver or
// none at all, the answer must come from the resolver, well before the deadline.
TEST(DnsTest, NonexistentNameFailsFastWithResolverReason) {
  auto check = BuildCheck("tcp", {{"address", "nonexistent.invalid:80"}}).check;
  Timed t = RunFor(*check, kLongTimeout);
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_FALSE(t.result.timed_out) << "the resolver did not answer within " << kLongTimeout.count()
                                   << " ms: " << t.result.reason;
  EXPECT_EQ(t.result.reason.rfind("cannot resolve nonexistent.invalid: ", 0), 0u)
      << t.result.reason;
  EXPECT_LT(t.elapsed, kLongTimeout / 2);

  std::vector<Endpoint> eps;
  NetResult r = Resolve("nonexistent.invalid", 80, Clock::now() + kLongTimeout, &eps);
  EXPECT_EQ(r.status, NetStatus::kError) << r.error;
  EXPECT_TRUE(eps.empty());

  auto http = BuildCheck("http", {{"url", "http://nonexistent.invalid:8080/healthz"}}).check;
  Timed h = RunFor(*http, kLongTimeout);
  EXPECT_EQ(h.result.outcome, Outcome::kFail);
  EXPECT_FALSE(h.result.timed_out) << h.result.reason;
  EXPECT_NE(h.result.reason.find("cannot resolve nonexistent.invalid"), std::string::npos)
      << h.result.reason;
}

TEST(DnsTest, ExpiredDeadlineDoesNotStartLookup) {
  std::vector<Endpoint> eps;
  auto start = Clock::now();
  NetResult r = Resolve("localhost", 80, start - milliseconds(1), &eps);
  EXPECT_EQ(r.status, NetStatus::kTimeout);
  EXPECT_EQ(r.error, "resolving localhost");
  EXPECT_LT(Clock::now() - start, milliseconds(100));
}

// ---------------------------------------------------------------------------
// In a private mount + network namespace.

enum class Resolver {
  kStuck,       // UDP :53 bound and never read: queries vanish
  kRecovering,  // same, but 1 s x 1 try: lookups give up on their own
  kAbsent,      // nothing on :53: ICMP port unreachable, the resolver fails fast
  kResponder,   // the test's own DnsResponder on :53, Kubernetes search list, ndots:5
};

bool NeedUserNamespace() { return geteuid() != 0; }

// Writes "0 <id> 1" to /proc/self/<file>; async-signal-safe.
bool WriteIdMap(const char* file, const char* line) {
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0) return false;
  bool ok = write(fd, line, std::strlen(line)) == static_cast<ssize_t>(std::strlen(line));
  close(fd);
  return ok;
}

struct IdMaps {
  char uid[64];
  char gid[64];
};

IdMaps MakeIdMaps() {
  IdMaps m;
  std::snprintf(m.uid, sizeof m.uid, "0 %u 1\n", static_cast<unsigned>(geteuid()));
  std::snprintf(m.gid, sizeof m.gid, "0 %u 1\n", static_cast<unsigned>(getegid()));
  return m;
}

// Steps of entering the namespace, shared by the probe and the child. Only
// system calls: the probe runs it in a fork of a multi-threaded process.
// Returns 0 or the number of the step that failed.
int EnterNamespaces(const IdMaps& maps, int* udp53_fd, bool bind_dns) {
  int flags = CLONE_NEWNS | CLONE_NEWNET;
  if (NeedUserNamespace()) flags |= CLONE_NEWUSER;
  if (unshare(flags) != 0) return 1;
  if (NeedUserNamespace()) {
    WriteIdMap("/proc/self/setgroups", "deny\n");
    if (!WriteIdMap("/proc/self/uid_map", maps.uid) || !WriteIdMap("/proc/self/gid_map", maps.gid))
      return 2;
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) return 3;
  // lo up.
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return 4;
  ifreq ifr{};
  std::strncpy(ifr.ifr_name, "lo", IFNAMSIZ - 1);
  if (ioctl(s, SIOCGIFFLAGS, &ifr) != 0) {
    close(s);
    return 4;
  }
  ifr.ifr_flags = static_cast<short>(ifr.ifr_flags | IFF_UP);
  int rc = ioctl(s, SIOCSIFFLAGS, &ifr);
  close(s);
  if (rc != 0) return 4;
  if (bind_dns) {
    int u = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(53);
    if (u < 0 || bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) return 5;
    *udp53_fd = u;
  }
  return 0;
}

const char* const kOverlaidFiles[] = {"/etc/resolv.conf", "/etc/hosts", "/etc/nsswitch.conf"};

const char* StepName(int step) {
  switch (step) {
    case 1:
      return NeedUserNamespace() ? "unshare(CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWNET)"
                                 : "unshare(CLONE_NEWNS|CLONE_NEWNET)";
    case 2:
      return "writing uid_map/gid_map";
    case 3:
      return "making mounts private";
    case 4:
      return "bringing lo up";
    case 5:
      return "binding UDP 127.0.0.1:53";
    case 6:
      return "bind-mounting over /etc files";
    default:
      return "unknown step";
  }
}

// Tries the whole set-up in a throw-away child; "" when it works.
std::string ProbeNamespaces() {
  for (const char* f : kOverlaidFiles) {
    if (access(f, F_OK) != 0)
      return std::string(f) + " does not exist (nothing to bind-mount over)";
  }
  IdMaps maps = MakeIdMaps();
  pid_t pid = fork();
  if (pid < 0) return std::string("fork: ") + std::strerror(errno);
  if (pid == 0) {
    int fd = -1;
    int step = EnterNamespaces(maps, &fd, true);
    if (step != 0) _exit(10 + step);
    for (const char* f : kOverlaidFiles) {
      if (mount(f, f, nullptr, MS_BIND, nullptr) != 0) _exit(10 + 6);
    }
    _exit(0);
  }
  int status = 0;
  // Bounded: the child only makes a handful of system calls.
  for (int i = 0; i < 500; ++i) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (i == 499) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return "namespace probe hung";
    }
    usleep(10000);
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return "";
  if (WIFEXITED(status) && WEXITSTATUS(status) > 10) {
    return std::string(StepName(WEXITSTATUS(status) - 10)) + " not permitted here";
  }
  return "namespace probe died (status " + std::to_string(status) + ")";
}

// ---- The child side: plain checks, results on stderr, exit code for gtest.

std::vector<std::string>& ChildFailures() {
  static std::vector<std::string> failures;
  return failures;
}

#define CHILD_EXPECT(cond, what)                                                              \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      ChildFailures().push_back(std::string(__FILE__ ":") + std::to_string(__LINE__) + ": " + \
                                #cond + " -- " + (what));                                     \
    }                                                                                         \
  } while (0)

[[noreturn]] void ChildExit() {
  if (ChildFailures().empty()) {
    std::fprintf(stderr, "dns-child: ok\n");
    _exit(0);  // not exit(): resolver threads are still stuck in getaddrinfo
  }
  for (const std::string& f : ChildFailures())
    std::fprintf(stderr, "dns-child: FAIL %s\n", f.c_str());
  _exit(1);
}

[[noreturn]] void ChildDie(const std::string& why) {
  std::fprintf(stderr, "dns-child: SETUP FAILED %s\n", why.c_str());
  _exit(2);
}

// Writes `content` to a temp file and bind-mounts it over `target` (in the
// private mount namespace); the temp file is unlinked at once.
void Overlay(const char* target, const std::string& content) {
  char path[] = "/tmp/vigil-dns-test-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0) ChildDie(std::string("mkstemp: ") + std::strerror(errno));
  if (write(fd, content.data(), content.size()) != static_cast<ssize_t>(content.size())) {
    ChildDie("write temp file");
  }
  fchmod(fd, 0644);
  close(fd);
  if (mount(path, target, nullptr, MS_BIND, nullptr) != 0) {
    std::string err = std::strerror(errno);
    unlink(path);
    ChildDie(std::string("bind-mount over ") + target + ": " + err);
  }
  unlink(path);
}

// A listener on 127.0.0.1 inside the namespace; returns its port.
int ListenLoopback(int* fd) {
  *fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(*fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(*fd, 16) != 0) {
    ChildDie("listen on 127.0.0.1");
  }
  socklen_t len = sizeof a;
  getsockname(*fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

std::string Describe(const Timed& t) {
  return std::string(OutcomeName(t.result.outcome)) +
         " timed_out=" + (t.result.timed_out ? "1" : "0") + " reason=\"" + t.result.reason +
         "\" elapsed=" + std::to_string(t.elapsed.count()) + "ms";
}

bool WithinDeadline(const Timed& t, milliseconds budget) {
  return t.elapsed >= budget && t.elapsed < budget + kMargin;
}

// A pod's resolv.conf: the namespace's search list and ndots:5, so that
// "vigil-app" is asked as vigil-app.ns1.svc.cluster.local first.
constexpr const char* kSearchDomain = "ns1.svc.cluster.local";

void SetUpChildWorld(Resolver resolver) {
  int udp53 = -1;
  const bool bind_dns = resolver == Resolver::kStuck || resolver == Resolver::kRecovering;
  int step = EnterNamespaces(MakeIdMaps(), &udp53, bind_dns);
  if (step != 0) ChildDie(std::string(StepName(step)) + ": " + std::strerror(errno));
  // udp53 stays open and unread for the life of the child.
  std::string conf = "nameserver 127.0.0.1\n";
  switch (resolver) {
    case Resolver::kRecovering:
      conf += "options timeout:1 attempts:1\n";
      break;
    case Resolver::kResponder:
      conf += std::string("search ") + kSearchDomain + " svc.cluster.local cluster.local\n" +
              "options ndots:5 timeout:1 attempts:2\n";
      break;
    case Resolver::kAbsent:
      // A pod's defaults (5 s, 2 tries). With an odd number of tries c-ares
      // 1.18 may wait out one timeout on a refused port (docs/dns.md).
      break;
    default:
      conf += "options timeout:30 attempts:5\n";
  }
  Overlay("/etc/resolv.conf", conf);
  Overlay("/etc/hosts", std::string("127.0.0.1 localhost\n127.0.0.1 ") + kStaticName + "\n");
  Overlay("/etc/nsswitch.conf", "hosts: files dns\n");
}

// A name from /etc/hosts resolves at once though DNS is dead: the
// overlay is in effect, and "files" comes first.
void ExpectStaticNamePasses(int port) {
  auto check =
      BuildCheck("tcp", {{"address", std::string(kStaticName) + ":" + std::to_string(port)}}).check;
  Timed t = RunFor(*check, kLongTimeout);
  CHILD_EXPECT(t.result.outcome == Outcome::kPass, "static name: " + Describe(t));
  CHILD_EXPECT(t.elapsed < milliseconds(1000), "static name slow: " + Describe(t));
}

int CountDir(const char* path) {
  int n = 0;
  if (DIR* d = opendir(path)) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

bool StaleReason(const std::string& reason) {
  static const std::regex kStale("DNS failing; using addresses from [0-9]+ s ago");
  return std::regex_match(reason, kStale);
}

[[noreturn]] void RunStuckResolverChild() {
  SetUpChildWorld(Resolver::kStuck);
  int listen_fd = -1;
  int port = ListenLoopback(&listen_fd);
  ExpectStaticNamePasses(port);

  {  // tcp check: fails at its deadline, says it was resolving.
    auto check =
        BuildCheck("tcp", {{"address", "vigil-stuck-a.test:" + std::to_string(port)}}).check;
    Timed t = RunFor(*check, kShortTimeout);
    CHILD_EXPECT(t.result.outcome == Outcome::kFail && t.result.timed_out, "tcp: " + Describe(t));
    CHILD_EXPECT(t.result.reason == "timeout while resolving vigil-stuck-a.test",
                 "tcp: " + Describe(t));
    CHILD_EXPECT(WithinDeadline(t, kShortTimeout), "tcp: " + Describe(t));
  }
  {  // http check: the same.
    auto check =
        BuildCheck("http", {{"url", "http://vigil-stuck-b.test:" + std::to_string(port) + "/"}})
            .check;
    Timed t = RunFor(*check, kShortTimeout);
    CHILD_EXPECT(t.result.outcome == Outcome::kFail && t.result.timed_out, "http: " + Describe(t));
    CHILD_EXPECT(t.result.reason == "timeout while resolving vigil-stuck-b.test",
                 "http: " + Describe(t));
    CHILD_EXPECT(WithinDeadline(t, kShortTimeout), "http: " + Describe(t));
  }
  CHILD_EXPECT(DnsPendingLookupsTotal() == 0, "lookups of destroyed checks still pending: " +
                                                  std::to_string(DnsPendingLookupsTotal()));
  {  // Resolve itself, outside any check: its lookup ends with the call.
    std::vector<Endpoint> eps;
    const milliseconds budget(200);
    auto start = Clock::now();
    NetResult r = Resolve("vigil-stuck-c.test", 80, start + budget, &eps);
    auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
    CHILD_EXPECT(r.status == NetStatus::kTimeout, "Resolve: " + r.error);
    CHILD_EXPECT(r.error == "resolving vigil-stuck-c.test", "Resolve: " + r.error);
    CHILD_EXPECT(elapsed >= budget && elapsed < budget + kMargin,
                 "Resolve took " + std::to_string(elapsed.count()) + " ms");
    CHILD_EXPECT(eps.empty(), "endpoints from a timed-out lookup");
    CHILD_EXPECT(DnsPendingLookupsTotal() == 0, "Resolve left a lookup pending");
  }
  {  // One pending lookup a check, however many runs; no thread for it.
    const int threads0 = CountDir("/proc/self/task");
    const int fds0 = CountDir("/proc/self/fd");
    auto check =
        BuildCheck("tcp", {{"address", "vigil-stuck-loop.test:" + std::to_string(port)}}).check;
    for (int i = 0; i < 20; ++i) {
      Timed t = RunFor(*check, milliseconds(100));
      CHILD_EXPECT(t.result.timed_out && t.elapsed < milliseconds(100) + kMargin,
                   "run " + std::to_string(i) + ": " + Describe(t));
      CHILD_EXPECT(DnsPendingLookupsTotal() == 1, "after run " + std::to_string(i) + ": " +
                                                      std::to_string(DnsPendingLookupsTotal()) +
                                                      " lookups pending");
    }
    CHILD_EXPECT(CountDir("/proc/self/task") == threads0,
                 "threads " + std::to_string(threads0) + " -> " +
                     std::to_string(CountDir("/proc/self/task")));

    // Ten more stuck checks: one pending lookup each, and still no thread.
    std::vector<std::unique_ptr<Check>> others;
    for (int j = 0; j < 10; ++j) {
      others.push_back(
          BuildCheck("tcp", {{"address", "vigil-stuck-" + std::to_string(j) + ".test:80"}}).check);
      for (int i = 0; i < 3; ++i) RunFor(*others.back(), milliseconds(30));
    }
    CHILD_EXPECT(DnsPendingLookupsTotal() == 11,
                 std::to_string(DnsPendingLookupsTotal()) + " lookups pending, want 11");
    CHILD_EXPECT(CountDir("/proc/self/task") == threads0, "threads grew with stuck checks");

    // Meanwhile every other check resolves as if nothing were stuck.
    ExpectStaticNamePasses(port);
    auto numeric = BuildCheck("tcp", {{"address", "127.0.0.1:" + std::to_string(port)}}).check;
    Timed n = RunFor(*numeric, kLongTimeout);
    CHILD_EXPECT(n.result.outcome == Outcome::kPass, "numeric: " + Describe(n));

    // A check that goes (reload) takes its lookup and sockets with it.
    check.reset();
    others.clear();
    CHILD_EXPECT(DnsPendingLookupsTotal() == 0,
                 std::to_string(DnsPendingLookupsTotal()) + " lookups left pending");
    CHILD_EXPECT(CountDir("/proc/self/fd") == fds0, "descriptors " + std::to_string(fds0) + " -> " +
                                                        std::to_string(CountDir("/proc/self/fd")));
  }
  close(listen_fd);
  ChildExit();
}

// With a resolver that gives up after ~1 s, a stuck lookup ends on its own:
// the check says the resolver's words and its next run starts afresh.
[[noreturn]] void RunRecoveringResolverChild() {
  SetUpChildWorld(Resolver::kRecovering);
  int listen_fd = -1;
  int port = ListenLoopback(&listen_fd);
  ExpectStaticNamePasses(port);

  auto check = BuildCheck("tcp", {{"address", "vigil-slow.test:" + std::to_string(port)}}).check;
  Timed first = RunFor(*check, milliseconds(100));
  CHILD_EXPECT(first.result.timed_out, "first run: " + Describe(first));
  CHILD_EXPECT(DnsPendingLookupsTotal() == 1, "no pending lookup after a timed-out run");

  // timeout:1 x attempts:1 (A and AAAA together); allow 20 s on a loaded machine.
  Timed last = first;
  auto give_up = Clock::now() + std::chrono::seconds(20);
  while (last.result.timed_out && Clock::now() < give_up) last = RunFor(*check, milliseconds(500));
  CHILD_EXPECT(last.result.outcome == Outcome::kFail && !last.result.timed_out,
               "the lookup never gave up: " + Describe(last));
  CHILD_EXPECT(last.result.reason.rfind("cannot resolve vigil-slow.test: ", 0) == 0,
               Describe(last));
  CHILD_EXPECT(DnsPendingLookupsTotal() == 0, "a finished lookup still pending");
  ExpectStaticNamePasses(port);
  close(listen_fd);
  ChildExit();
}

// Nothing listens on the resolver's port: the lookup fails on its own, fast,
// and the check says the resolver's words.
[[noreturn]] void RunAbsentResolverChild() {
  SetUpChildWorld(Resolver::kAbsent);
  auto check = BuildCheck("tcp", {{"address", "vigil-nx.test:80"}}).check;
  Timed t = RunFor(*check, kLongTimeout);
  CHILD_EXPECT(t.result.outcome == Outcome::kFail && !t.result.timed_out, Describe(t));
  CHILD_EXPECT(t.result.reason.rfind("cannot resolve vigil-nx.test: ", 0) == 0, Describe(t));
  CHILD_EXPECT(t.elapsed < kLongTimeout / 2, Describe(t));
  auto http = BuildCheck("http", {{"url", "http://vigil-nx.test/healthz"}}).check;
  Timed h = RunFor(*http, kLongTimeout);
  CHILD_EXPECT(h.result.outcome == Outcome::kFail && !h.result.timed_out, Describe(h));
  CHILD_EXPECT(h.result.reason.rfind("cannot resolve vigil-nx.test: ", 0) == 0, Describe(h));
  ChildExit();
}

std::string InSearchDomain(const std::string& name) { return name + "." + kSearchDomain; }

// As in a pod: a short name goes through the search list (ndots:5), a name in
// /etc/hosts never reaches DNS, an unknown name fails fast.
[[noreturn]] void RunSearchDomainsChild() {
  SetUpChildWorld(Resolver::kResponder);
  testing::DnsResponder dns;
  dns.Set(InSearchDomain("vigil-app"), "127.0.0.1");
  int listen_fd = -1;
  int port = ListenLoopback(&listen_fd);
  const std::string p = ":" + std::to_string(port);

  auto short_name = BuildCheck("tcp", {{"address", "vigil-app" + p}}).check;
  Timed t = RunFor(*short_name, kLongTimeout);
  CHILD_EXPECT(t.result.outcome == Outcome::kPass, "short name: " + Describe(t));
  CHILD_EXPECT(dns.Queries(InSearchDomain("vigil-app")) >= 1, "search domain never asked");

  auto fqdn = BuildCheck("tcp", {{"address", InSearchDomain("vigil-app") + "." + p}}).check;
  t = RunFor(*fqdn, kLongTimeout);
  CHILD_EXPECT(t.result.outcome == Outcome::kPass, "fqdn: " + Describe(t));

  auto missing = BuildCheck("tcp", {{"address", "vigil-missing" + p}}).check;
  t = RunFor(*missing, kLongTimeout);
  CHILD_EXPECT(t.result.outcome == Outcome::kFail && !t.result.timed_out,
               "missing: " + Describe(t));
  CHILD_EXPECT(t.result.reason.rfind("cannot resolve vigil-missing: ", 0) == 0,
               "missing: " + Describe(t));

  const int before = dns.Queries();
  ExpectStaticNamePasses(port);
  CHILD_EXPECT(dns.Queries() == before, "a name from /etc/hosts was asked of DNS");
  close(listen_fd);
  ChildExit();
}

// A name that resolved, then DNS stops answering (or answers SERVFAIL): the
// check goes on with the old addresses and warns, until dns_stale_s runs out.
void StaleAddressesScenario() {
  SetUpChildWorld(Resolver::kResponder);
  testing::DnsResponder dns;
  dns.Set(InSearchDomain("vigil-app"), "127.0.0.1");
  dns.Set(InSearchDomain("vigil-redis"), "127.0.0.1");
  int listen_fd = -1;
  int port = ListenLoopback(&listen_fd);
  const std::string address = "vigil-app:" + std::to_string(port);
  constexpr int kStaleS = 10;

  auto tcp = BuildCheck("tcp", {{"address", address}, {"dns_stale_s", kStaleS}}).check;
  auto strict = BuildCheck("tcp", {{"address", address}, {"dns_stale_s", 0}}).check;
  testing::RedisServer redis;
  auto rc =
      BuildCheck("redis", {{"url", "redis://vigil-redis:" + std::to_string(redis.port())}}).check;
  for (Check* c : {tcp.get(), strict.get(), rc.get()}) {
    Timed t = RunFor(*c, kLongTimeout);
    CHILD_EXPECT(t.result.outcome == Outcome::kPass, "while DNS answers: " + Describe(t));
  }
  const auto resolved_at = Clock::now();

  dns.SetMode(testing::DnsResponder::Mode::kSilent);
  Timed t = RunFor(*tcp, milliseconds(1000));
  CHILD_EXPECT(t.result.outcome == Outcome::kWarn && StaleReason(t.result.reason),
               "silent DNS: " + Describe(t));
  CHILD_EXPECT(t.elapsed < milliseconds(1000), "silent DNS: " + Describe(t));
  // The lookup is still pending: the next run does not wait for it again.
  t = RunFor(*tcp, milliseconds(1000));
  CHILD_EXPECT(t.result.outcome == Outcome::kWarn && StaleReason(t.result.reason),
               "silent DNS, again: " + Describe(t));
  CHILD_EXPECT(t.elapsed < milliseconds(300), "second run waited: " + Describe(t));
  // dns_stale_s 0: no fallback, the deadline as before.
  t = RunFor(*strict, kShortTimeout);
  CHILD_EXPECT(t.result.outcome == Outcome::kFail && t.result.timed_out,
               "dns_stale_s 0: " + Describe(t));

  // SERVFAIL answers: the same fallback.
  dns.SetMode(testing::DnsResponder::Mode::kServfail);
  usleep(1500 * 1000);
  t = RunFor(*tcp, milliseconds(1000));
  CHILD_EXPECT(t.result.outcome == Outcome::kWarn && StaleReason(t.result.reason),
               "SERVFAIL: " + Describe(t));
  CHILD_EXPECT(t.result.reason != "DNS failing; using addresses from 0 s ago",
               "age not counted: " + Describe(t));

  // Redis restarts: the check reconnects to the address it knew, and warns.
  redis.Stop();
  redis.Start();
  Timed r = RunFor(*rc, kLongTimeout);
  for (int i = 0; i < 3 && r.result.outcome == Outcome::kFail; ++i) r = RunFor(*rc, kLongTimeout);
  CHILD_EXPECT(r.result.outcome == Outcome::kWarn && StaleReason(r.result.reason),
               "redis reconnect: " + Describe(r));
  // Kept open, the connection needs no name: the next run passes.
  r = RunFor(*rc, kLongTimeout);
  CHILD_EXPECT(r.result.outcome == Outcome::kPass, "redis kept open: " + Describe(r));

  // Past dns_stale_s the old addresses are no longer used.
  auto expired = resolved_at + std::chrono::seconds(kStaleS) + milliseconds(500);
  std::this_thread::sleep_until(expired);
  t = RunFor(*tcp, milliseconds(1000));
  CHILD_EXPECT(t.result.outcome == Outcome::kFail, "past dns_stale_s: " + Describe(t));

  // DNS back: fresh addresses, a plain pass.
  dns.SetMode(testing::DnsResponder::Mode::kAnswer);
  bool passed = false;
  for (int i = 0; i < 30 && !passed; ++i) {
    t = RunFor(*tcp, milliseconds(1000));
    passed = t.result.outcome == Outcome::kPass;
  }
  CHILD_EXPECT(passed, "DNS back: " + Describe(t));
  close(listen_fd);
}

// Scoped so that the servers and the agent are stopped before the child exits.
[[noreturn]] void RunStaleAddressesChild() {
  StaleAddressesScenario();
  ChildExit();
}

// A required Redis reconnects (by name) while an optional one's name is stuck
// in a resolver that never answers it.
void RequiredReconnectsScenario() {
  SetUpChildWorld(Resolver::kResponder);
  testing::DnsResponder dns;
  dns.NeverAnswer("stuck");
  dns.Set(InSearchDomain("vigil-session"), "127.0.0.1");
  testing::RedisServer session;

  auto cache = BuildCheck("redis", {{"url", "redis://vigil-stuck-cache:6379"}}).check;
  auto required =
      BuildCheck("redis", {{"url", "redis://vigil-session:" + std::to_string(session.port())}})
          .check;
  Timed t = RunFor(*required, kLongTimeout);
  CHILD_EXPECT(t.result.outcome == Outcome::kPass, "session: " + Describe(t));
  for (int i = 0; i < 20; ++i) {
    Timed c = RunFor(*cache, milliseconds(100));
    CHILD_EXPECT(c.result.timed_out, "cache run " + std::to_string(i) + ": " + Describe(c));
  }
  CHILD_EXPECT(DnsPendingLookupsTotal() == 1,
               std::to_string(DnsPendingLookupsTotal()) + " lookups pending, want 1");
  session.Stop();
  session.Start();
  for (int i = 0; i < 3; ++i) {
    t = RunFor(*required, kLongTimeout);
    if (t.result.outcome == Outcome::kPass) break;
  }
  CHILD_EXPECT(t.result.outcome == Outcome::kPass, "session after restart: " + Describe(t));
}

// Scoped so that the servers and the agent are stopped before the child exits.
[[noreturn]] void RunRequiredReconnectsChild() {
  RequiredReconnectsScenario();
  ChildExit();
}

// The vigil binary through a DNS outage:
//  - an optional Redis whose name never resolves: the pod is degraded, ready;
//  - a required Redis restarted meanwhile: it reconnects, the pod stays ready;
//  - DNS goes silent: a required tcp check by name goes on with its old
//    addresses (warn, degraded, ready), and fails once dns_stale_s is over.
void AgentScenario() {
  SetUpChildWorld(Resolver::kResponder);
  testing::DnsResponder dns;
  dns.NeverAnswer("stuck");
  dns.Set(InSearchDomain("vigil-session"), "127.0.0.1");
  dns.Set(InSearchDomain("vigil-app"), "127.0.0.1");
  testing::RedisServer session;
  testing::TcpListener app;  // accepts and closes: a backlog never fills
  const int port = app.port();
  constexpr int kStaleS = 6;

  nlohmann::json config = {
      {"defaults", {{"interval_ms", 200}, {"timeout_ms", 400}, {"jitter_percent", 0}}},
      {"checks",
       {{{"name", "cache"},
         {"kind", "redis"},
         {"role", "cache"},
         {"url", "redis://vigil-stuck-cache:6379"}},
        {{"name", "session"},
         {"kind", "redis"},
         {"role", "session"},
         {"url", "redis://vigil-session:" + std::to_string(session.port())}},
        {{"name", "app"},
         {"kind", "tcp"},
         {"role", "app"},
         {"address", "vigil-app:" + std::to_string(port)},
         {"dns_stale_s", kStaleS}}}}};
  char path[] = "/tmp/vigil-dns-config-XXXXXX";
  int fd = mkstemp(path);
  const std::string text = config.dump();
  if (fd < 0 || write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    ChildDie("write config");
  }
  close(fd);
  struct Unlink {
    const char* p;
    ~Unlink() { unlink(p); }
  } unlink_config{path};

  testing::AgentProcess agent(path);
  auto health = [&] { return nlohmann::json::parse(agent.Get("/health").body, nullptr, false); };
  CHILD_EXPECT(agent.WaitFor("/readyz", 200, "", 15000), "never ready: " + agent.Stdout());
  CHILD_EXPECT(agent.WaitFor("/health", 200, "\"degraded\"", 5000), agent.Get("/health").body);
  const std::string task_dir = "/proc/" + std::to_string(agent.pid()) + "/task";
  const int threads0 = CountDir(task_dir.c_str());

  // The required Redis restarts while the cache's lookups hang.
  session.Stop();
  session.Start();
  bool back = false;
  for (int i = 0; i < 100 && !back; ++i) {
    usleep(100 * 1000);
    auto h = health();
    // vigil's own connection to the new server, besides the helper's.
    const std::string clients = session.Command({"CLIENT", "LIST"});
    const bool reconnected = clients.find("id=") != clients.rfind("id=");
    back = reconnected && !h.is_discarded() && h["checks"]["session"]["status"] == "pass" &&
           h["checks"]["session"]["consecutive_failures"] == 0 &&
           agent.Get("/readyz").status == 200;
  }
  CHILD_EXPECT(back, "session did not come back: " + agent.Get("/health").body);
  usleep(2000 * 1000);  // ten more runs of the stuck cache check
  auto h = health();
  CHILD_EXPECT(
      !h.is_discarded() && h["status"] == "degraded" && h["checks"]["cache"]["status"] == "fail" &&
          h["checks"]["session"]["status"] == "pass" && h["checks"]["app"]["status"] == "pass",
      "with a stuck optional name: " + agent.Get("/health").body);
  CHILD_EXPECT(agent.Get("/readyz").status == 200, "unready with a stuck optional name");
  CHILD_EXPECT(CountDir(task_dir.c_str()) <= threads0,
               "agent threads " + std::to_string(threads0) + " -> " +
                   std::to_string(CountDir(task_dir.c_str())));

  // DNS goes silent: app warns on its old addresses; the pod stays ready.
  const auto silent_at = Clock::now();
  dns.SetMode(testing::DnsResponder::Mode::kSilent);
  bool warned = false;
  for (int i = 0; i < 50 && !warned; ++i) {
    usleep(100 * 1000);
    h = health();
    warned = !h.is_discarded() && h["checks"]["app"]["status"] == "warn" &&
             StaleReason(h["checks"]["app"].value("reason", ""));
  }
  CHILD_EXPECT(warned, "app did not warn: " + agent.Get("/health").body);
  CHILD_EXPECT(!h.is_discarded() && h["status"] == "degraded", agent.Get("/health").body);
  CHILD_EXPECT(agent.Get("/readyz").status == 200, "unready while DNS is silent");

  // Past dns_stale_s the required app check fails: unready.
  std::this_thread::sleep_until(silent_at + std::chrono::seconds(kStaleS));
  CHILD_EXPECT(agent.WaitFor("/readyz", 503, "", 10000),
               "still ready past dns_stale_s: " + agent.Get("/health").body);

  // DNS answers again: ready.
  dns.SetMode(testing::DnsResponder::Mode::kAnswer);
  CHILD_EXPECT(agent.WaitFor("/readyz", 200, "", 20000),
               "not ready after DNS came back: " + agent.Get("/health").body);
}

// Scoped so that the servers and the agent are stopped before the child exits.
[[noreturn]] void RunAgentChild() {
  AgentScenario();
  ChildExit();
}

class DnsNamespaceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    std::string why = ProbeNamespaces();
    if (!why.empty()) {
      GTEST_SKIP() << "cannot build a private mount+network namespace with a fake resolver (" << why
                   << "); needs root or unprivileged user namespaces";
    }
  }
};

TEST_F(DnsNamespaceTest, StuckLookupCostsOnlyItsCheckOnePendingEach) {
  EXPECT_EXIT(RunStuckResolverChild(), ::testing::ExitedWithCode(0), "dns-child: ok");
}

TEST_F(DnsNamespaceTest, StuckLookupEndsOnItsOwn) {
  EXPECT_EXIT(RunRecoveringResolverChild(), ::testing::ExitedWithCode(0), "dns-child: ok");
}

TEST_F(DnsNamespaceTest, ResolverPortClosedFailsFast) {
  EXPECT_EXIT(RunAbsentResolverChild(), ::testing::ExitedWithCode(0), "dns-child: ok");
}

TEST_F(DnsNamespaceTest, SearchDomainsNdotsAndHostsFile) {
  EXPECT_EXIT(RunSearchDomainsChild(), ::testing::ExitedWithCode(0), "dns-child: ok");
}

TEST_F(DnsNamespaceTest, StaleAddressesWarnUntilDnsStaleS) {
  EXPECT_EXIT(RunStaleAddressesChild(), ::testing::ExitedWithCode(0), "dns-child: ok");
}

TEST_F(DnsNamespaceTest, RequiredCheckReconnectsWhileOptionalNameIsStuck) {
  EXPECT_EXIT(RunRequiredReconnectsChild(), ::testing::ExitedWithCode(0), "dns-child: ok");
}

TEST_F(DnsNamespaceTest, AgentStaysReadyThroughDnsFaults) {
  EXPECT_EXIT(RunAgentChild(), ::testing::ExitedWithCode(0), "dns-child: ok");
}

}  // namespace
}  // namespace vigil
