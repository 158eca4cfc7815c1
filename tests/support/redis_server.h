// Real redis-server and redis-sentinel processes for integration tests, on
// 127.0.0.1 and a free port (or, for redis-server, inside a network namespace
// through a Launcher), in a temp dir removed afterwards. Every wait is
// bounded; the destructor always resumes, kills and cleans up.
#pragma once

#include <sys/types.h>

#include <mutex>
#include <string>
#include <vector>

#include "tests/support/launcher.h"

struct redisContext;

namespace vigil::testing {

// One server process (redis-server or redis-sentinel) and a helper
// connection to send it commands.
class RedisProcess {
 public:
  virtual ~RedisProcess();
  RedisProcess(const RedisProcess&) = delete;
  RedisProcess& operator=(const RedisProcess&) = delete;

  // (Re)starts on the same port; throws std::runtime_error when the server
  // does not answer PING within 10 s.
  void Start();
  // SIGTERM, bounded wait, then SIGKILL. The port is free afterwards.
  void Stop();
  void Pause();   // SIGSTOP: accepts connections (the kernel does), answers nothing
  void Resume();  // SIGCONT

  int port() const { return port_; }
  pid_t pid() const { return pid_; }
  // HOST:PORT as clients dial it (127.0.0.1, or the namespace's address).
  std::string address() const { return launcher_.address() + ":" + std::to_string(port_); }
  const std::string& dir() const { return dir_; }
  bool running() const { return pid_ > 0; }

  // Runs a command on a kept helper connection (AUTHed with the server's
  // requirepass, if any); reconnects as needed; 5 s timeout. The reply as
  // text: status and strings as they are, integers in decimal, nil as
  // "(nil)", errors as "(error) MESSAGE", arrays one element a line.
  std::string Command(const std::vector<std::string>& argv);
  // The same on a connection of its own, closed afterwards: safe from
  // another thread (e.g. DEBUG SLEEP while a check runs).
  std::string CommandOnNewConnection(const std::vector<std::string>& argv, int timeout_ms = 5000);
  // One field of INFO (e.g. "role", "total_connections_received"); "" when absent.
  std::string InfoField(const std::string& field);
  // Polls InfoField(field) every 50 ms until it equals `value`, up to `ms`.
  bool WaitForInfo(const std::string& field, const std::string& value, int ms);

 protected:
  RedisProcess(std::string binary, std::string dir_prefix, std::string password,
               Launcher launcher = Launcher());
  // The arguments after the binary's name.
  virtual std::vector<std::string> Args() const = 0;

  const Launcher launcher_;
  std::string dir_;
  int port_ = 0;

 private:
  bool Spawn();  // false when the process died at once (e.g. port taken)
  void Kill();
  std::string LogTail() const;

  const std::string binary_;
  const std::string password_;
  pid_t pid_ = -1;
  bool paused_ = false;
  std::mutex mu_;
  redisContext* helper_ = nullptr;  // Guarded by mu_.
};

class RedisServer : public RedisProcess {
 public:
  // Extra redis-server arguments, e.g. {"--requirepass", "pw"}, {"--replicaof",
  // "127.0.0.1", "6380"}. A --requirepass is also used by Command(). Starts.
  explicit RedisServer(std::vector<std::string> extra_args = {});
  // The same where `launcher` says, on `port` (0: a free one). In a network
  // namespace protected mode is off: only the veth reaches the server.
  RedisServer(const Launcher& launcher, int port, std::vector<std::string> extra_args = {});
  ~RedisServer() override;

 protected:
  std::vector<std::string> Args() const override;

 private:
  const std::vector<std::string> extra_args_;
};

// A Sentinel watching one master (quorum 1, down-after 1 s, failover-timeout
// 5 s). `extra_conf`: more sentinel.conf lines ("requirepass PW", whose
// password Command() then uses; "sentinel auth-pass mymaster PW";
// "tls-port 26380"). Starts.
class SentinelServer : public RedisProcess {
 public:
  SentinelServer(int master_port, std::string master_name = "mymaster",
                 std::vector<std::string> extra_conf = {});
  ~SentinelServer() override;

 protected:
  std::vector<std::string> Args() const override;
};

}  // namespace vigil::testing
