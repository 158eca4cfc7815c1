#include "tests/support/agent_process.h"

#include <fcntl.h>
#include <httplib.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "tests/support/ports.h"

namespace vigil::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

const char* VigilBinary() {
  // VIGIL_TEST_BINARY runs the suites against another build (an older
  // one, to show that a new test fails there).
  const char* binary = std::getenv("VIGIL_TEST_BINARY");
  if (binary == nullptr || *binary == '\0') binary = VIGIL_BINARY;
  return binary;
}

// Spawns the vigil binary with `args`; with a `resolv_conf`, behind
// `unshare --mount` and a bind mount of it over /etc/resolv.conf (the same
// pid: unshare and sh exec).
pid_t Spawn(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
            const std::string& out, const std::string& err, const std::string& resolv_conf = "") {
  std::vector<std::string> full;
  if (!resolv_conf.empty()) {
    full = {"/usr/bin/unshare",
            "--mount",
            "--propagation",
            "private",
            "--",
            "/bin/sh",
            "-c",
            "mount --bind \"$1\" /etc/resolv.conf || exit 126; shift; exec \"$@\"",
            "vigil-ns",
            resolv_conf};
  }
  full.push_back(VigilBinary());
  full.insert(full.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : full) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(o, 1);
    dup2(e, 2);
    int devnull = open("/dev/null", O_RDONLY);
    dup2(devnull, 0);
    for (const auto& [k, v] : env) setenv(k.c_str(), v.c_str(), 1);
    // The test binary may have signals blocked or ignored: reset them.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    signal(SIGPIPE, SIG_DFL);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

std::optional<int> Wait(pid_t pid, int timeout_ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    int status = 0;
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      return 128 + WTERMSIG(status);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::nullopt;
}

}  // namespace

HttpReply HttpCall(int port, const std::string& method, const std::string& path,
                   const std::map<std::string, std::string>& headers) {
  return HttpCall("127.0.0.1", port, method, path, headers);
}

HttpReply HttpCall(const std::string& host, int port, const std::string& method,
                   const std::string& path, const std::map<std::string, std::string>& headers) {
  HttpReply reply;
  httplib::Client cli(host, port);
  cli.set_connection_timeout(std::chrono::seconds(2));
  cli.set_read_timeout(std::chrono::seconds(2));
  cli.set_keep_alive(false);
  httplib::Headers h;
  for (const auto& [k, v] : headers) h.emplace(k, v);
  const auto t0 = std::chrono::steady_clock::now();
  httplib::Result res = method == "POST"   ? cli.Post(path.c_str(), h, "", "text/plain")
                        : method == "HEAD" ? cli.Head(path.c_str(), h)
                                           : cli.Get(path.c_str(), h);
  reply.took =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0);
  if (!res) return reply;
  reply.status = res->status;
  reply.body = res->body;
  for (const auto& [k, v] : res->headers) reply.headers[k] = v;
  return reply;
}

CommandResult RunVigil(const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env, int timeout_ms) {
  std::string dir = MakeTempDir("vigil-cmd");
  pid_t pid = Spawn(args, env, dir + "/out", dir + "/err");
  CommandResult r;
  auto code = Wait(pid, timeout_ms);
  if (!code) {
    kill(pid, SIGKILL);
    Wait(pid, 5000);
  }
  r.exit_code = code.value_or(-1);
  r.out = Slurp(dir + "/out");
  r.err = Slurp(dir + "/err");
  RemoveTree(dir);
  return r;
}

AgentProcess::AgentProcess(const std::string& config_path, std::vector<std::string> extra,
                           std::map<std::string, std::string> env)
    : AgentProcess(config_path, [&] {
        AgentOptions o;
        o.extra = std::move(extra);
        o.env = std::move(env);
        return o;
      }()) {}

AgentProcess::AgentProcess(const std::string& config_path, const AgentOptions& options)
    : host_(options.host) {
  dir_ = MakeTempDir("vigil-agent");
  port_ = options.port != 0 ? options.port : FreePort(host_);
  std::vector<std::string> args = {"run", "--config", config_path, "--listen", address()};
  args.insert(args.end(), options.extra.begin(), options.extra.end());
  pid_ = Spawn(args, options.env, dir_ + "/out", dir_ + "/err", options.resolv_conf);
  // Until it listens, or exits (a config error), or the time is up.
  bool listening = false;
  const auto end =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options.start_timeout_ms);
  while (!listening && std::chrono::steady_clock::now() < end) {
    listening = WaitForPort(host_, port_, 100);
    int status = 0;
    if (!listening && waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      break;
    }
  }
  if (!listening) {
    std::string err = Stderr();
    Stop(0);
    RemoveTree(dir_);
    throw std::runtime_error("vigil did not listen on " + address() + "; stderr: " + err);
  }
}

AgentProcess::~AgentProcess() {
  if (pid_ > 0 && !Wait(pid_, 0)) {
    kill(pid_, SIGKILL);
    Wait(pid_, 5000);
  }
  RemoveTree(dir_);
}

void AgentProcess::Signal(int sig) {
  if (pid_ > 0) kill(pid_, sig);
}

void AgentProcess::Stop(int grace_ms) {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  if (!Wait(pid_, grace_ms)) {
    kill(pid_, SIGKILL);
    Wait(pid_, 5000);
  }
  pid_ = -1;
}

std::optional<int> AgentProcess::WaitExit(int timeout_ms) {
  auto code = Wait(pid_, timeout_ms);
  if (code) pid_ = -1;
  return code;
}

std::string AgentProcess::Stdout() const { return Slurp(dir_ + "/out"); }
std::string AgentProcess::Stderr() const { return Slurp(dir_ + "/err"); }

bool AgentProcess::WaitFor(const std::string& path, int status, const std::string& needle, int ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  while (std::chrono::steady_clock::now() < end) {
    HttpReply r = Get(path);
    if (r.status == status && r.body.find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return false;
}

}  // namespace vigil::testing
