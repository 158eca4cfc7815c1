// The vigil binary as a child process, for end-to-end tests.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace vigil::testing {

struct HttpReply {
  int status = 0;  // 0: no answer
  std::string body;
  std::map<std::string, std::string> headers;
  std::chrono::microseconds took{0};
};

// GET (or another method) on 127.0.0.1:port with a new connection, as the
// kubelet does; 2 s timeout.
HttpReply HttpCall(int port, const std::string& method, const std::string& path,
                   const std::map<std::string, std::string>& headers = {});
// The same on host:port (another loopback address, e.g. 127.0.0.2).
HttpReply HttpCall(const std::string& host, int port, const std::string& method,
                   const std::string& path, const std::map<std::string, std::string>& headers = {});

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs the vigil binary to completion with `args` (and extra environment).
CommandResult RunVigil(const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {}, int timeout_ms = 30000);

// Where and how an agent runs.
struct AgentOptions {
  std::string host = "127.0.0.1";          // the listen address: any 127.0.0.0/8 address
  int port = 0;                            // 0: a free port on host
  std::vector<std::string> extra;          // more `vigil run` arguments
  std::map<std::string, std::string> env;  // more environment (POD_NAME, ...)
  // Non-empty: the agent runs in a private mount namespace of its own where
  // this file is bind-mounted over /etc/resolv.conf (a test resolver for it
  // alone; needs root or the right to unshare mounts). The file must outlive
  // the agent's start.
  std::string resolv_conf;
  int start_timeout_ms = 10000;  // until it listens
};

class AgentProcess {
 public:
  // Starts `vigil run --config CONFIG --listen 127.0.0.1:PORT` plus `extra`.
  AgentProcess(const std::string& config_path, std::vector<std::string> extra = {},
               std::map<std::string, std::string> env = {});
  // Starts `vigil run --config CONFIG --listen HOST:PORT` as `options` say.
  AgentProcess(const std::string& config_path, const AgentOptions& options);
  ~AgentProcess();
  AgentProcess(const AgentProcess&) = delete;
  AgentProcess& operator=(const AgentProcess&) = delete;

  const std::string& host() const { return host_; }
  int port() const { return port_; }
  std::string address() const { return host_ + ":" + std::to_string(port_); }
  pid_t pid() const { return pid_; }
  bool running() const { return pid_ > 0; }
  HttpReply Get(const std::string& path, const std::map<std::string, std::string>& headers = {}) {
    return HttpCall(host_, port_, "GET", path, headers);
  }
  // SIGTERM, then SIGKILL after `grace_ms`; reaped. Idempotent.
  void Stop(int grace_ms = 3000);
  void Signal(int sig);
  // Waits for exit; the exit code, or nullopt on timeout.
  std::optional<int> WaitExit(int timeout_ms);
  // Everything the agent wrote to stdout / stderr so far.
  std::string Stdout() const;
  std::string Stderr() const;
  // Polls `path` until its status is `status` (and the body contains
  // `needle`), up to `ms`. Bounded.
  bool WaitFor(const std::string& path, int status, const std::string& needle, int ms);

 private:
  std::string host_ = "127.0.0.1";
  int port_ = 0;
  pid_t pid_ = -1;
  std::string dir_;
};

}  // namespace vigil::testing
