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

struct CommandResult {
  int exit_code = -1;
  std::string out, err;
};

// Runs the vigil binary to completion with `args` (and extra environment).
CommandResult RunVigil(const std::vector<std::string>& args,
                       const std::map<std::string, std::string>& env = {}, int timeout_ms = 30000);

class AgentProcess {
 public:
  // Starts `vigil run --config CONFIG --listen 127.0.0.1:PORT` plus `extra`.
  AgentProcess(const std::string& config_path, std::vector<std::string> extra = {},
               std::map<std::string, std::string> env = {});
  ~AgentProcess();

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  HttpReply Get(const std::string& path, const std::map<std::string, std::string>& headers = {}) {
    return HttpCall(port_, "GET", path, headers);
  }
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
  int port_ = 0;
  pid_t pid_ = -1;
  std::string dir_;
};

}  // namespace vigil::testing
