#include "tests/support/netns.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/ports.h"

namespace vigil::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

constexpr const char* kNsPrefix = "vigil-bh-";
constexpr const char* kSafetyMetric = "4242";
// A namespace of a dead pid younger than this may belong to a pid namespace
// we cannot see; leave it alone.
constexpr int kStaleAfterSeconds = 30;

// Runs `command` through sh, stdout and stderr captured; *status is the exit
// status (or -1).
std::string Capture(const std::string& command, int* status) {
  std::string out;
  FILE* p = popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    *status = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  int rc = pclose(p);
  *status = rc == -1 ? -1 : WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

// Runs a bounded `ip ...` command; throws with its output on failure.
void MustRun(const std::string& command, const std::string& step) {
  int status = 0;
  std::string out = Capture("timeout 30 " + command, &status);
  if (status != 0) {
    while (!out.empty() && out.back() == '\n') out.pop_back();
    throw std::runtime_error(step + " failed (" + command + "): " + out);
  }
}

std::string Tail(const std::string& text, size_t n) {
  return text.size() <= n ? text : text.substr(text.size() - n);
}

bool PidAlive(long pid) {
  return pid > 0 && (kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH);
}

std::vector<int> ParsePids(const std::string& text) {
  std::vector<int> pids;
  std::istringstream in(text);
  int pid;
  while (in >> pid)
    if (pid > 1) pids.push_back(pid);
  return pids;
}

// An exclusive lock shared with tests/soak/netns.py while namespaces, veths
// and routes are created or cleaned up.
class CreationLock {
 public:
  CreationLock() {
    fd_ = open("/run/lock/vigil-netns.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fd_ = open("/tmp/vigil-netns.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) return;
    const auto end = steady_clock::now() + milliseconds(60000);
    while (flock(fd_, LOCK_EX | LOCK_NB) != 0 && steady_clock::now() < end) {
      std::this_thread::sleep_for(milliseconds(20));
    }
  }
  ~CreationLock() {
    if (fd_ >= 0) close(fd_);  // releases the lock
  }

 private:
  int fd_ = -1;
};

// Every X such that something on the host already uses 10.213.X.*.
std::set<int> UsedSubnets() {
  std::set<int> used;
  int status = 0;
  const std::string text =
      Capture("timeout 10 ip -4 route show table all; timeout 10 ip -4 -o addr show", &status);
  const std::string needle = "10.213.";
  for (size_t p = text.find(needle); p != std::string::npos; p = text.find(needle, p + 1)) {
    int x = std::atoi(text.c_str() + p + needle.size());
    used.insert(x);
  }
  return used;
}

// Namespaces (and safety routes) left behind by test processes that died
// without cleaning up. Called with the CreationLock held.
void RemoveStale() {
  int status = 0;
  std::istringstream list(Capture("timeout 10 ip netns list", &status));
  std::string line;
  while (std::getline(list, line)) {
    const std::string name = line.substr(0, line.find(' '));
    if (name.rfind(kNsPrefix, 0) != 0) continue;
    const long pid = std::atol(name.c_str() + std::string(kNsPrefix).size());
    if (pid <= 0 || PidAlive(pid)) continue;
    struct stat st {};
    if (stat(("/run/netns/" + name).c_str(), &st) == 0 &&
        time(nullptr) - st.st_mtime < kStaleAfterSeconds)
      continue;
    for (int p : ParsePids(Capture("timeout 10 ip netns pids " + name, &status))) {
      kill(p, SIGCONT);
      kill(p, SIGKILL);
    }
    Capture("timeout 10 ip netns del " + name, &status);
  }
  // Safety routes whose veth is gone.
  std::istringstream routes(Capture("timeout 10 ip -4 route show table main", &status));
  std::set<std::string> live, safety;
  while (std::getline(routes, line)) {
    if (line.rfind("blackhole 10.213.", 0) == 0 &&
        line.find("metric " + std::string(kSafetyMetric)) != std::string::npos) {
      std::istringstream f(line);
      std::string kw, subnet;
      f >> kw >> subnet;
      safety.insert(subnet);
    } else if (line.rfind("10.213.", 0) == 0) {
      live.insert(line.substr(0, line.find(' ')));
    }
  }
  for (const auto& s : safety) {
    if (live.count(s) == 0) {
      Capture("timeout 10 ip route del blackhole " + s + " metric " + kSafetyMetric, &status);
    }
  }
}

int g_sequence = 0;
std::mutex g_sequence_mu;

struct Permission {
  bool ok = false;
  std::string why;
};

Permission ProbePermission() {
  Permission p;
  int status = 0;
  Capture("command -v ip && command -v iptables", &status);
  if (status != 0) {
    p.why = "iproute2 or iptables is not installed (apt-get install -y iproute2 iptables)";
    return p;
  }
  try {
    NetNs ns;
    std::string out = ns.ExecOutput("iptables -S INPUT", 20);
    if (out.find("-P INPUT") == std::string::npos) {
      p.why = "iptables does not work inside a network namespace: " + Tail(out, 300);
      return p;
    }
    ns.DropTcpPort(9);
    ns.UndropTcpPort(9);
    p.ok = true;
  } catch (const std::exception& e) {
    p.why = std::string(
                "cannot create a network namespace with a veth pair here (needs root / "
                "CAP_NET_ADMIN and CAP_SYS_ADMIN): ") +
            e.what();
  }
  return p;
}

}  // namespace

// ---------------------------------------------------------------------------
// NetNs

NetNs::NetNs() {
  int seq;
  {
    std::lock_guard<std::mutex> lock(g_sequence_mu);
    seq = g_sequence++;
  }
  const std::string id = std::to_string(getpid()) + "s" + std::to_string(seq);
  name_ = kNsPrefix + std::to_string(getpid()) + "-" + std::to_string(seq);
  host_if_ = "vh" + id;
  inner_if_ = "vn" + id;

  CreationLock lock;
  RemoveStale();
  const std::set<int> used = UsedSubnets();
  int x = -1;
  for (int i = 0; i < 254; ++i) {
    int candidate = static_cast<int>((getpid() + seq * 37 + i) % 254) + 1;
    if (used.count(candidate) == 0) {
      x = candidate;
      break;
    }
  }
  if (x < 0) throw std::runtime_error("no free /24 in 10.213.0.0/16");
  const std::string prefix = "10.213." + std::to_string(x) + ".";
  host_address_ = prefix + "1";
  ns_address_ = prefix + "2";
  subnet_ = prefix + "0/24";

  try {
    MustRun("ip netns add " + name_, "creating the namespace");
    MustRun("ip link add " + host_if_ + " type veth peer name " + inner_if_ + " netns " + name_,
            "creating the veth pair");
    Shell("sysctl -q -w net.ipv6.conf." + host_if_ + ".disable_ipv6=1 >/dev/null 2>&1");
    MustRun("ip addr add " + host_address_ + "/24 dev " + host_if_, "addressing the host side");
    MustRun("ip link set " + host_if_ + " up", "bringing the host side up");
    MustRun("ip route add blackhole " + subnet_ + " metric " + kSafetyMetric,
            "adding the safety route");
    route_added_ = true;
    MustRun("ip -n " + name_ + " link set lo up", "bringing lo up inside");
    MustRun("ip -n " + name_ + " addr add " + ns_address_ + "/24 dev " + inner_if_,
            "addressing the namespace side");
    MustRun("ip -n " + name_ + " link set " + inner_if_ + " up", "bringing the namespace side up");
  } catch (...) {
    Destroy();
    throw;
  }
}

NetNs::~NetNs() {
  CreationLock lock;
  Destroy();
}

void NetNs::Destroy() {
  int status = 0;
  if (!name_.empty()) {
    for (int p : ParsePids(Capture("timeout 10 ip netns pids " + name_, &status))) {
      kill(p, SIGCONT);
      kill(p, SIGKILL);
    }
    Capture("timeout 10 ip netns del " + name_, &status);
    // Deleting the namespace destroys the pair; make sure of it.
    Capture("timeout 10 ip link del " + host_if_ + " 2>/dev/null", &status);
  }
  if (route_added_) {
    Capture("timeout 10 ip route del blackhole " + subnet_ + " metric " + kSafetyMetric, &status);
    route_added_ = false;
  }
}

bool NetNs::IsPermitted(std::string* why) {
  static const Permission permission = ProbePermission();
  if (why != nullptr) *why = permission.why;
  return permission.ok;
}

namespace {
std::string InNamespace(const std::string& ns, const std::string& command, int timeout_s) {
  std::string quoted = "'";
  for (char c : command) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  quoted += "'";
  return "timeout " + std::to_string(timeout_s) + " ip netns exec " + ns + " sh -c " + quoted;
}
}  // namespace

int NetNs::Exec(const std::string& command, int timeout_s) const {
  int status = 0;
  Capture(InNamespace(name_, command, timeout_s), &status);
  return status;
}

std::string NetNs::ExecOutput(const std::string& command, int timeout_s) const {
  int status = 0;
  return Capture(InNamespace(name_, command, timeout_s), &status);
}

void NetNs::DropTcpPort(int port) {
  MustRun("ip netns exec " + name_ + " iptables -w 10 -A INPUT -p tcp --dport " +
              std::to_string(port) + " -j DROP",
          "dropping tcp port " + std::to_string(port));
  dropped_.push_back(port);
}

void NetNs::UndropTcpPort(int port) {
  auto it = std::find(dropped_.begin(), dropped_.end(), port);
  if (it == dropped_.end()) return;
  MustRun("ip netns exec " + name_ + " iptables -w 10 -D INPUT -p tcp --dport " +
              std::to_string(port) + " -j DROP",
          "undropping tcp port " + std::to_string(port));
  dropped_.erase(it);
}

void NetNs::UndropAll() {
  while (!dropped_.empty()) UndropTcpPort(dropped_.back());
}

void NetNs::LinkDownInside() {
  MustRun("ip -n " + name_ + " link set " + inner_if_ + " down", "taking the namespace side down");
}

void NetNs::LinkUpInside() {
  MustRun("ip -n " + name_ + " link set " + inner_if_ + " up", "bringing the namespace side up");
}

}  // namespace vigil::testing
