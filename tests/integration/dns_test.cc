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
// The host's files and network are untouched. Without the privilege to do
// that the tests skip and say why.
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

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "checks/check.h"
#include "checks/net.h"
#include "tests/support/check_builder.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;
using testing::BuildCheck;
using testing::RunFor;
using testing::Timed;

constexpr milliseconds kShortTimeout{300};
constexpr milliseconds kMargin{700};
constexpr milliseconds kLongTimeout{5000};
// checks/net.cc kMaxStuckResolutions.
constexpr int kMaxStuckResolutions = 8;

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

void SetUpChildWorld(Resolver resolver) {
  int udp53 = -1;
  int step = EnterNamespaces(MakeIdMaps(), &udp53, resolver != Resolver::kAbsent);
  if (step != 0) ChildDie(std::string(StepName(step)) + ": " + std::strerror(errno));
  // udp53 stays open and unread for the life of the child.
  const char* options = resolver == Resolver::kRecovering ? "options timeout:1 attempts:1\n"
                                                          : "options timeout:30 attempts:5\n";
  Overlay("/etc/resolv.conf", std::string("nameserver 127.0.0.1\n") + options);
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

[[noreturn]] void RunStuckResolverChild() {
  SetUpChildWorld(Resolver::kStuck);
  int listen_fd = -1;
  int port = ListenLoopback(&listen_fd);
  ExpectStaticNamePasses(port);
  int timeouts = 0;

  {  // tcp check: fails at its deadline, says it was resolving.
    auto check =
        BuildCheck("tcp", {{"address", "vigil-stuck-a.test:" + std::to_string(port)}}).check;
    Timed t = RunFor(*check, kShortTimeout);
    CHILD_EXPECT(t.result.outcome == Outcome::kFail && t.result.timed_out, "tcp: " + Describe(t));
    CHILD_EXPECT(t.result.reason == "timeout while resolving vigil-stuck-a.test",
                 "tcp: " + Describe(t));
    CHILD_EXPECT(WithinDeadline(t, kShortTimeout), "tcp: " + Describe(t));
    timeouts += t.result.timed_out;
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
    timeouts += t.result.timed_out;
  }
  {  // Resolve itself, without any check or scheduler around it.
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
    timeouts += r.status == NetStatus::kTimeout;
  }
  {  // Stuck lookups are capped: after 8, Resolve fails at once instead of
     // starting a ninth thread.
    NetResult capped;
    milliseconds capped_elapsed{0};
    bool hit_cap = false;
    for (int i = 0; i < 2 * kMaxStuckResolutions && !hit_cap; ++i) {
      std::vector<Endpoint> eps;
      auto start = Clock::now();
      NetResult r = Resolve("vigil-stuck-loop-" + std::to_string(i) + ".test", 80,
                            start + milliseconds(100), &eps);
      auto elapsed = std::chrono::duration_cast<milliseconds>(Clock::now() - start);
      if (r.status == NetStatus::kTimeout) {
        ++timeouts;
        CHILD_EXPECT(elapsed < milliseconds(100) + kMargin,
                     "loop lookup " + std::to_string(i) + " took " +
                         std::to_string(elapsed.count()) + " ms");
      } else {
        hit_cap = true;
        capped = r;
        capped_elapsed = elapsed;
      }
    }
    CHILD_EXPECT(hit_cap, "no cap on stuck lookups after " + std::to_string(timeouts));
    CHILD_EXPECT(timeouts == kMaxStuckResolutions, "capped after " + std::to_string(timeouts) +
                                                       " stuck lookups, want " +
                                                       std::to_string(kMaxStuckResolutions));
    CHILD_EXPECT(capped.status == NetStatus::kError, "capped: " + capped.error);
    CHILD_EXPECT(capped.error.find("resolver not answering") != std::string::npos,
                 "capped: " + capped.error);
    CHILD_EXPECT(capped_elapsed < milliseconds(100),
                 "capped lookup took " + std::to_string(capped_elapsed.count()) + " ms");

    // A check meanwhile fails fast with that reason instead of hanging.
    auto check = BuildCheck("tcp", {{"address", "vigil-stuck-d.test:80"}}).check;
    Timed t = RunFor(*check, kShortTimeout);
    CHILD_EXPECT(t.result.outcome == Outcome::kFail && !t.result.timed_out,
                 "capped tcp: " + Describe(t));
    CHILD_EXPECT(t.result.reason.find("resolver not answering") != std::string::npos,
                 "capped tcp: " + Describe(t));
    CHILD_EXPECT(t.elapsed < milliseconds(100), "capped tcp: " + Describe(t));

    // Numeric addresses never need the resolver.
    auto numeric = BuildCheck("tcp", {{"address", "127.0.0.1:" + std::to_string(port)}}).check;
    Timed n = RunFor(*numeric, kLongTimeout);
    CHILD_EXPECT(n.result.outcome == Outcome::kPass, "numeric while capped: " + Describe(n));
  }
  close(listen_fd);
  ChildExit();
}

// With a resolver that gives up after ~1 s, the stuck lookups finish on their
// own, the cap lifts and names resolve again.
[[noreturn]] void RunRecoveringResolverChild() {
  SetUpChildWorld(Resolver::kRecovering);
  int listen_fd = -1;
  int port = ListenLoopback(&listen_fd);
  ExpectStaticNamePasses(port);

  int timeouts = 0;
  bool hit_cap = false;
  for (int i = 0; i < 2 * kMaxStuckResolutions && !hit_cap; ++i) {
    std::vector<Endpoint> eps;
    NetResult r = Resolve("vigil-slow-" + std::to_string(i) + ".test", 80,
                          Clock::now() + milliseconds(50), &eps);
    if (r.status == NetStatus::kTimeout) {
      ++timeouts;
    } else {
      hit_cap = r.error.find("resolver not answering") != std::string::npos;
      CHILD_EXPECT(hit_cap, "lookup " + std::to_string(i) + " ended with: " + r.error);
      if (!hit_cap) break;
    }
  }
  CHILD_EXPECT(hit_cap, "cap not reached after " + std::to_string(timeouts) + " timeouts");

  // glibc gives up after timeout:1 x attempts:1 (A and AAAA in parallel, a
  // little more with search domains); allow 20 s on a loaded machine.
  bool recovered = false;
  std::string last;
  auto give_up = Clock::now() + std::chrono::seconds(20);
  while (!recovered && Clock::now() < give_up) {
    std::vector<Endpoint> eps;
    NetResult r = Resolve(kStaticName, port, Clock::now() + milliseconds(1000), &eps);
    recovered = r.status == NetStatus::kOk;
    last = r.error;
    if (!recovered) usleep(100 * 1000);
  }
  CHILD_EXPECT(recovered, "cap never lifted; last: " + last);
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

TEST_F(DnsNamespaceTest, StuckResolverTimesOutAtDeadlineAndIsBounded) {
  EXPECT_EXIT(RunStuckResolverChild(), ::testing::ExitedWithCode(0), "dns-child: ok");
}

TEST_F(DnsNamespaceTest, StuckLookupsFinishAndCapLifts) {
  EXPECT_EXIT(RunRecoveringResolverChild(), ::testing::ExitedWithCode(0), "dns-child: ok");
}

TEST_F(DnsNamespaceTest, ResolverPortClosedFailsFast) {
  EXPECT_EXIT(RunAbsentResolverChild(), ::testing::ExitedWithCode(0), "dns-child: ok");
}

}  // namespace
}  // namespace vigil
