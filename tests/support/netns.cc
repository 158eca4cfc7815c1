#include "tests/support/netns.h"

#include "tests/support/pg_server.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
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

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
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

// Clusters live on tmpfs when there is room (initdb takes seconds on a busy
// disk, a fraction of one on /dev/shm).
std::string MakeClusterDir() {
  struct statvfs st {};
  if (statvfs("/dev/shm", &st) == 0 &&
      static_cast<unsigned long long>(st.f_bavail) * st.f_frsize > (1ULL << 30) &&
      access("/dev/shm", W_OK) == 0) {
    std::string tmpl = "/dev/shm/vigil-nspg-XXXXXX";
    if (mkdtemp(tmpl.data()) != nullptr) {
      chmod(tmpl.c_str(), 0777);
      return tmpl;
    }
  }
  return MakeTempDir("vigil-nspg");
}

void RemoveClusterDir(const std::string& dir) {
  if (dir.rfind("/dev/shm/vigil-nspg-", 0) == 0) {
    Shell("rm -rf '" + dir + "'");
  } else {
    RemoveTree(dir);
  }
}

timeval Tv(int ms) {
  timeval tv{};
  tv.tv_sec = ms / 1000;
  tv.tv_usec = (ms % 1000) * 1000;
  return tv;
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

pid_t NetNs::Spawn(const std::vector<std::string>& argv_in, const std::string& log_path) const {
  if (argv_in.empty()) throw std::runtime_error("Spawn: empty argv");
  // Everything the child needs is prepared before fork: after it, only
  // system calls.
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string ns_path = "/run/netns/" + name_;
  int ns_fd = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (ns_fd < 0) throw std::runtime_error("cannot open " + ns_path);
  int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  pid_t pid = fork();
  if (pid < 0) {
    close(ns_fd);
    if (log_fd >= 0) close(log_fd);
    throw std::runtime_error("fork failed");
  }
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (setns(ns_fd, CLONE_NEWNET) != 0) _exit(126);
    if (log_fd >= 0) {
      dup2(log_fd, 1);
      dup2(log_fd, 2);
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execvp(argv[0], argv.data());
    _exit(127);
  }
  close(ns_fd);
  if (log_fd >= 0) close(log_fd);
  return pid;
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

// ---------------------------------------------------------------------------
// NsRedis

NsRedis::NsRedis(const NetNs& ns, int port, std::vector<std::string> extra_args)
    : ns_(ns), port_(port), extra_args_(std::move(extra_args)) {
  for (size_t i = 0; i + 1 < extra_args_.size(); ++i)
    if (extra_args_[i] == "--requirepass") password_ = extra_args_[i + 1];
  dir_ = MakeTempDir("vigil-nsredis");
  try {
    Start();
  } catch (...) {
    RemoveTree(dir_);
    throw;
  }
}

NsRedis::~NsRedis() {
  if (pid_ > 0) {
    kill(pid_, SIGCONT);
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }
  RemoveTree(dir_);
}

std::string NsRedis::address() const { return ns_.address() + ":" + std::to_string(port_); }

bool NsRedis::Ping(int timeout_ms) const {
  redisContext* c = redisConnectWithTimeout(ns_.address().c_str(), port_, Tv(timeout_ms));
  if (c == nullptr) return false;
  bool ok = c->err == 0 && redisSetTimeout(c, Tv(timeout_ms)) == REDIS_OK;
  if (ok && !password_.empty()) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "AUTH %s", password_.c_str()));
    ok = r != nullptr && r->type != REDIS_REPLY_ERROR;
    if (r != nullptr) freeReplyObject(r);
  }
  if (ok) {
    auto* r = static_cast<redisReply*>(redisCommand(c, "PING"));
    ok = r != nullptr && r->type == REDIS_REPLY_STATUS && std::string(r->str, r->len) == "PONG";
    if (r != nullptr) freeReplyObject(r);
  }
  redisFree(c);
  return ok;
}

void NsRedis::Start() {
  if (pid_ > 0) return;
  std::vector<std::string> argv = {"redis-server",
                                   "--bind",
                                   ns_.address(),
                                   "--port",
                                   std::to_string(port_),
                                   "--protected-mode",
                                   "no",
                                   "--save",
                                   "",
                                   "--appendonly",
                                   "no",
                                   "--dir",
                                   dir_,
                                   "--logfile",
                                   dir_ + "/server.log"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  pid_ = ns_.Spawn(argv, dir_ + "/stdout.log");
  const auto end = steady_clock::now() + milliseconds(10000);
  while (steady_clock::now() < end) {
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
    if (Ping(500)) return;
    std::this_thread::sleep_for(milliseconds(20));
  }
  const std::string log =
      Tail(ReadFile(dir_ + "/stdout.log") + ReadFile(dir_ + "/server.log"), 1500);
  if (pid_ > 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }
  throw std::runtime_error("redis-server in " + ns_.name() + " did not answer PING: " + log);
}

void NsRedis::Stop() {
  if (pid_ <= 0) return;
  kill(pid_, SIGCONT);
  kill(pid_, SIGTERM);
  const auto end = steady_clock::now() + milliseconds(5000);
  while (steady_clock::now() < end) {
    if (waitpid(pid_, nullptr, WNOHANG) == pid_) {
      pid_ = -1;
      return;
    }
    std::this_thread::sleep_for(milliseconds(10));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void NsRedis::Pause() {
  if (pid_ > 0) kill(pid_, SIGSTOP);
}

void NsRedis::Resume() {
  if (pid_ > 0) kill(pid_, SIGCONT);
}

// ---------------------------------------------------------------------------
// NsPostgres

namespace {
std::string PgBin(const std::string& tool) {
  const char* env = std::getenv("VIGIL_PG_BINDIR");
  std::string dir = env != nullptr && *env != '\0' ? env : "/usr/lib/postgresql/15/bin";
  return dir + "/" + tool;
}

void ChownToPostgres(const std::string& path) {
  if (geteuid() != 0) return;
  passwd* pw = getpwnam("postgres");
  if (pw == nullptr) throw std::runtime_error("no postgres user");
  if (chown(path.c_str(), pw->pw_uid, pw->pw_gid) != 0) {
    throw std::runtime_error("chown " + path + " failed");
  }
}
}  // namespace

NsPostgres::NsPostgres(const NetNs& ns, int port, std::string password)
    : ns_(ns), port_(port), password_(std::move(password)) {
  dir_ = MakeClusterDir();
  data_ = dir_ + "/data";
  log_ = dir_ + "/server.log";
  try {
    ChownToPostgres(dir_);
    std::string auth = "--auth-local=trust --auth-host=trust";
    std::string method = "trust";
    if (!password_.empty()) {
      const std::string pwfile = dir_ + "/pwfile";
      std::ofstream(pwfile) << password_ << "\n";
      ChownToPostgres(pwfile);
      chmod(pwfile.c_str(), 0600);
      auth = "--auth-local=trust --auth-host=scram-sha-256 --pwfile=" + pwfile;
      method = "scram-sha-256";
    }
    const std::string initdb =
        AsPostgres(PgBin("initdb") + " -D " + data_ +
                       " -U postgres -E UTF8 --locale=C --no-sync --no-instructions " + auth,
                   false) +
        " >" + dir_ + "/initdb.log 2>&1";
    if (Shell(initdb) != 0) {
      throw std::runtime_error("initdb failed: " + Tail(ReadFile(dir_ + "/initdb.log"), 2000));
    }
    // The host reaches the server from 10.213.X.1.
    std::ofstream(data_ + "/pg_hba.conf", std::ios::app)
        << "host all all 10.213.0.0/16 " << method << "\n";
    if (!Start()) {
      throw std::runtime_error("postgres did not start in " + ns_.name() + ": " +
                               Tail(LogText() + ReadFile(dir_ + "/ctl.log"), 2000));
    }
  } catch (...) {
    RemoveClusterDir(dir_);
    throw;
  }
}

NsPostgres::~NsPostgres() {
  Resume();
  std::vector<int> pids = ClusterPids();
  if (running_ || !pids.empty()) {
    Shell(AsPostgres(PgBin("pg_ctl") + " -D " + data_ + " -m immediate -w -t 30 stop", false) +
          " >>" + dir_ + "/ctl.log 2>&1");
    for (int pid : pids) kill(pid, SIGKILL);
  }
  RemoveClusterDir(dir_);
}

std::string NsPostgres::AsPostgres(const std::string& command, bool in_namespace) const {
  std::string cmd = "timeout 60 ";
  if (in_namespace) cmd += "ip netns exec " + ns_.name() + " ";
  if (geteuid() == 0) cmd += "runuser -u postgres -- ";
  return cmd + command;
}

bool NsPostgres::Start() {
  const std::string settings = "-c listen_addresses=" + ns_.address() + " -p " +
                               std::to_string(port_) + " -k " + dir_ +
                               " -c fsync=off -c full_page_writes=off";
  running_ = Shell(AsPostgres(PgBin("pg_ctl") + " -D " + data_ + " -l " + log_ + " -w -t 30 -o \"" +
                                  settings + "\" start",
                              true) +
                   " >>" + dir_ + "/ctl.log 2>&1") == 0;
  return running_;
}

void NsPostgres::Stop() {
  Resume();
  Shell(AsPostgres(PgBin("pg_ctl") + " -D " + data_ + " -m fast -w -t 30 stop", false) + " >>" +
        dir_ + "/ctl.log 2>&1");
  running_ = false;
}

int NsPostgres::PostmasterPid() const { return PostmasterPidIn(data_); }

std::vector<int> NsPostgres::ClusterPids() const { return ClusterPidsIn(data_); }

void NsPostgres::Pause() {
  const int pm = PostmasterPid();
  if (pm == 0) return;
  kill(pm, SIGSTOP);  // first: a stopped postmaster forks nothing we would miss
  paused_ = ClusterPids();
  for (int pid : paused_)
    if (pid != pm) kill(pid, SIGSTOP);
}

void NsPostgres::Resume() {
  std::vector<int> pids = paused_;
  for (int pid : ClusterPids()) pids.push_back(pid);
  for (int pid : pids) kill(pid, SIGCONT);
  paused_.clear();
}

std::string NsPostgres::Url(const std::string& db) const {
  return "postgresql://postgres" + (password_.empty() ? "" : ":" + password_) + "@" +
         ns_.address() + ":" + std::to_string(port_) + "/" + db;
}

std::string NsPostgres::LogText() const { return ReadFile(log_); }

}  // namespace vigil::testing
