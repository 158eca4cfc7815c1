// A throwaway PostgreSQL 15 cluster for integration tests: initdb into a
// fresh dir (on /dev/shm when roomy, else /tmp), pg_ctl on 127.0.0.1 and a
// free port (or inside a network namespace, through a Launcher), and the faults the tests need
// (stop, hang every process, a streaming replica, promotion). As root the server commands run as
// the `postgres` user through runuser.
//
// Every wait is bounded; the destructor always resumes, stops (immediate) and
// removes the directory. initdb costs about a second: share one cluster per
// suite where the tests do not conflict.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "tests/support/launcher.h"

namespace vigil::testing {

// The postmaster's pid from DATA/postmaster.pid (0 when not running), and the
// postmaster with all its children: what a hang test must SIGSTOP.
int PostmasterPidIn(const std::string& data_dir);
std::vector<int> ClusterPidsIn(const std::string& data_dir);

struct PgServerOptions {
  // Non-empty: TCP connections must authenticate with this password (SCRAM);
  // the Unix socket (used by Psql) stays trust. Empty: trust everywhere.
  std::string password;
  // Extra server settings, as "name=value" (passed as -c name=value).
  std::vector<std::string> settings;
};

class PgServer {
 public:
  // initdb + start. Throws std::runtime_error (with the log's tail) on failure.
  explicit PgServer(PgServerOptions options = {});
  // The same where `launcher` says, on `port` (0: a free one). In a network
  // namespace TCP from the host's side of the veth is let in too.
  PgServer(const Launcher& launcher, int port, PgServerOptions options = {});
  ~PgServer();
  PgServer(const PgServer&) = delete;
  PgServer& operator=(const PgServer&) = delete;

  // A streaming replica of this cluster (pg_basebackup -R), started on a
  // free port of its own, in the same place, with the same password and
  // settings.
  std::unique_ptr<PgServer> StartReplica() const;

  int port() const { return port_; }
  const std::string& dir() const { return dir_; }
  const std::string& password() const { return options_.password; }
  // postgresql://postgres[:PASSWORD]@ADDRESS:PORT/DB, ADDRESS the launcher's
  // (127.0.0.1 by default)
  std::string Url(const std::string& db = "postgres") const;
  std::string UrlWithPassword(const std::string& password,
                              const std::string& db = "postgres") const;

  // The postmaster's pid (postmaster.pid), or 0 when not running.
  int PostmasterPid() const;
  // The postmaster and all its children.
  std::vector<int> ClusterPids() const;

  // pg_ctl stop -m fast / start (on the same port). Start returns false if the
  // server did not come up.
  void Stop();
  bool Start();
  bool running() const { return running_; }

  // SIGSTOP every process of the cluster (the postmaster first, so that it
  // forks nothing new), SIGCONT them all. A stopped postmaster alone would
  // leave existing backends answering.
  void Pause();
  void Resume();
  bool paused() const { return !paused_pids_.empty(); }

  // pg_ctl promote -w on a replica.
  bool Promote();

  // Runs SQL with psql over the Unix socket as postgres (trust), database
  // `db`; returns the unaligned, tuples-only output, trimmed. Throws
  // std::runtime_error on failure. Bounded to 30 s.
  std::string Psql(const std::string& sql, const std::string& db = "postgres") const;

  // The server log so far, and how often `needle` occurs in it.
  std::string LogText() const;
  int CountInLog(const std::string& needle) const;

 private:
  struct ReplicaTag {};
  PgServer(ReplicaTag, const PgServer& primary);

  void Init();
  bool StartOnce();
  std::string AsPostgres(const std::string& command) const;
  void ChownToPostgres(const std::string& path) const;

  PgServerOptions options_;
  Launcher launcher_;
  int fixed_port_ = 0;  // 0: a free one at every start attempt
  std::string dir_;     // /dev/shm (or /tmp)/vigil-pg-XXXXXX, owned by postgres
  std::string data_;    // dir_/data
  std::string log_;     // dir_/server.log
  int port_ = 0;
  bool running_ = false;
  std::vector<int> paused_pids_;
  mutable int psql_seq_ = 0;
};

}  // namespace vigil::testing
