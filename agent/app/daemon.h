// `vigil run`: the daemon's life: start, serve, reload on SIGHUP or a change
// of the config file, drain on SIGTERM, exit (docs/design.md, "Threads").
#pragma once

#include <signal.h>

#include <memory>
#include <string>
#include <vector>

#include "agent/app/effective_config.h"
#include "agent/app/file_watch.h"
#include "agent/core/snapshot.h"
#include "checks/check.h"

namespace vigil {

class Api;
class EventRecorder;
class FleetClient;
class FleetStore;
class HttpServer;
class Reporter;
class Scheduler;
class SnapshotStore;

// The running agent. Start() then Run(), on the main thread; every method
// runs on that thread. Threads it starts: the reporter's writer, the
// scheduler's timer and check workers, the server's listener and event
// loops.
class Daemon {
 public:
  Daemon(std::string config_path, Overrides overrides);
  // Stops what Start() started, in the members' reverse order (below).
  ~Daemon();
  Daemon(const Daemon&) = delete;
  Daemon& operator=(const Daemon&) = delete;

  // Blocks the signals, loads the config, starts the checks and the server.
  // 0 when serving; else the exit code: 2 for a bad config, 1 when the
  // port cannot be bound.
  int Start();
  // Takes signals and polls the watched files until the drain ends (or a
  // second SIGTERM/SIGINT), then stops; returns the exit code (0).
  int Run();
  // Loads the config again and applies it, or refuses it (logged, counted)
  // and keeps the running one. `why` is the log's "trigger".
  void Reload(const char* why);
  // SIGTERM/SIGINT: /readyz answers 503 from now; Run() returns after
  // drain_seconds.
  void Drain(int sig);

 private:
  int LoadConfig();
  int ReadFirstAdminToken();
  int StartServing();
  std::string ReadAdminToken(const Config& c);
  void KeepRestartOnlySettings(Config* next);
  void ApplyReload(Config next, const char* why);
  void RefuseReload(const ConfigError& e, std::vector<SecretFile> seen, const char* why);
  void RotateAdminToken();
  int ReadFirstFleetToken();
  void RotateFleetToken();
  void PollFiles(Clock::time_point now);
  void Stop();

  const std::string config_path_;
  const Overrides overrides_;
  sigset_t signals_{};
  Config config_;

  // Watch, reload and drain state: the main thread's alone.
  // The config file as last seen.
  FileStamp config_stamp_;
  // The secret files of the running config (or of the last attempt to load
  // one), as read: a change to any of them reloads the config.
  std::vector<SecretFile> secret_files_;
  // VIGIL_ADMIN_TOKEN is set: it wins, and the token file is not watched.
  bool token_from_env_ = false;
  // The admin token file as it was before it was last read: a change turns
  // the old token off at once.
  FileStamp token_stamp_;
  std::string admin_token_;
  // The fleet token file as last read (VIGIL_FLEET_TOKEN wins, unwatched).
  FileStamp fleet_token_stamp_;
  std::string fleet_token_;
  Clock::time_point next_config_poll_{};
  Clock::time_point next_secret_poll_{};
  bool draining_ = false;
  Clock::time_point drain_until_{};
  // Draining and the reload counters, shown in every snapshot.
  DaemonState daemon_state_;

  // The parts, in the order they are built; members are destroyed in reverse:
  // the server first (its event loops call the Api), then the Api (its
  // callbacks use the scheduler and the reporter; it reads both stores),
  // then the Kubernetes event recorder (its thread reads the snapshot store
  // and reports), then the fleet client (its thread reads the snapshot store, writes the
  // fleet store and reports), then the scheduler (its
  // check workers are detached and hold only weak pointers to its core, so
  // a worker still stuck in a dependency touches nothing freed; it publishes
  // into the store and reports into the reporter), then the store, and the
  // reporter last (everything above reports into it; it flushes on the way
  // out). Do not reorder.
  std::unique_ptr<Reporter> reporter_;
  std::unique_ptr<SnapshotStore> store_;
  std::unique_ptr<FleetStore> fleet_store_;
  std::unique_ptr<Scheduler> scheduler_;
  std::unique_ptr<FleetClient> fleet_;
  // Kubernetes Events (its thread reads the snapshot store and reports).
  std::unique_ptr<EventRecorder> events_;
  std::unique_ptr<Api> api_;
  std::unique_ptr<HttpServer> server_;
};

// Runs the daemon until SIGTERM/SIGINT and the drain; returns the exit code.
int RunDaemon(const std::string& config_path, const Overrides& overrides);

}  // namespace vigil
