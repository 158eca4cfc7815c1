#include "tests/support/launcher.h"

#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <stdexcept>

#include "tests/support/netns.h"

namespace vigil::testing {
namespace {

constexpr const char* kLoopback = "127.0.0.1";

// In the child, between fork and exec: system calls only.
[[noreturn]] void ExecChild(char* const* argv, int ns_fd, int log_fd) {
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (ns_fd >= 0 && setns(ns_fd, CLONE_NEWNET) != 0) _exit(126);
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
  execvp(argv[0], argv);
  _exit(127);
}

}  // namespace

Launcher::Launcher() : address_(kLoopback), peer_address_(kLoopback) {}

Launcher::Launcher(const NetNs& ns)
    : netns_(ns.name()), address_(ns.address()), peer_address_(ns.host_address()) {}

std::string Launcher::where() const {
  return in_namespace() ? "namespace " + netns_ : std::string("the host");
}

pid_t Launcher::Spawn(const std::vector<std::string>& argv_in, const std::string& log_path) const {
  if (argv_in.empty()) throw std::runtime_error("Spawn: empty argv");
  // Everything the child needs is prepared before fork.
  std::vector<std::string> args = argv_in;
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int ns_fd = -1;
  if (in_namespace()) {
    const std::string ns_path = "/run/netns/" + netns_;
    ns_fd = open(ns_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (ns_fd < 0) throw std::runtime_error("cannot open " + ns_path);
  }
  const int log_fd = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  const pid_t pid = fork();
  if (pid == 0) ExecChild(argv.data(), ns_fd, log_fd);
  if (ns_fd >= 0) close(ns_fd);
  if (log_fd >= 0) close(log_fd);
  if (pid < 0) throw std::runtime_error("fork failed");
  return pid;
}

std::string Launcher::Wrap(const std::string& command) const {
  return in_namespace() ? "ip netns exec " + netns_ + " " + command : command;
}

}  // namespace vigil::testing
