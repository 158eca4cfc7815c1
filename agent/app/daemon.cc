#include "agent/app/daemon.h"

#include <signal.h>
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <iostream>

#include "agent/app/version.h"
#include "agent/core/scheduler.h"
#include "agent/core/snapshot.h"
#include "agent/http/api.h"
#include "agent/http/server.h"
#include "agent/log/reporter.h"
#include "checks/common/net.h"

namespace vigil {
namespace {

// A config file as the watcher last saw it. A ConfigMap update swaps the
// `..data` symlink, so stat() (which follows links) sees a new inode.
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
  }
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
};

FileStamp Stamp(const std::string& path) {
  struct stat st {};
  FileStamp s;
  if (stat(path.c_str(), &st) != 0) return s;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return s;
}

// Has the secret file changed since it was read (or since it was found
// unreadable)? A Secret volume update swaps the `..data` symlink: stat()
// follows it to a new inode.
bool Changed(const SecretFile& f) {
  const FileStamp now = Stamp(f.path);
  return now.size != f.size || now.dev != f.dev || now.ino != f.ino || now.mtime_ns != f.mtime_ns;
}

std::vector<SecretFile> Restamped(std::vector<SecretFile> files) {
  for (SecretFile& f : files) {
    const FileStamp now = Stamp(f.path);
    f.dev = now.dev;
    f.ino = now.ino;
    f.size = now.size;
    f.mtime_ns = now.mtime_ns;
  }
  return files;
}

// The admin token (validated: LoadAdminToken); "" turns the admin routes off.
// Throws ConfigError for a weak token or an oversized file.
std::string ReadAdminToken(const Config& c, Reporter* reporter) {
  std::string token = LoadAdminToken(c, ProcessEnv());
  const char* env = std::getenv("VIGIL_ADMIN_TOKEN");
  if (token.empty() && !c.admin_token_file.empty() && (env == nullptr || *env == '\0')) {
    reporter->Report(
        {Level::kInfo,
         "admin_disabled",
         "",
         "",
         "",
         "admin token file " + c.admin_token_file + " not readable: admin routes are off",
         {}});
  }
  return token;
}

Reporter::Format FormatOf(const Config& c) {
  return c.log_format == "text" ? Reporter::Format::kText : Reporter::Format::kJson;
}

}  // namespace

void ApplyOverrides(const Overrides& o, Config* c) {
  if (o.listen) {
    ValidateListen(*o.listen, "--listen");
    c->listen = *o.listen;
  }
  if (o.drain_seconds) {
    if (*o.drain_seconds < 0 || *o.drain_seconds > 3600)
      throw ConfigError("--drain-seconds", "out of range (0..3600)");
    c->drain_seconds = *o.drain_seconds;
  }
  if (o.log_format) {
    if (*o.log_format != "json" && *o.log_format != "text")
      throw ConfigError("--log-format", "want \"json\" or \"text\"");
    c->log_format = *o.log_format;
  }
  if (o.admin_token_file) c->admin_token_file = *o.admin_token_file;
  for (const auto& [key, value] : o.server) {
    std::string flag = key == "threads" ? "--server-threads" : "--" + key;
    std::replace(flag.begin(), flag.end(), '_', '-');
    SetServerOption(key, value, flag, &c->server);
  }
}

ServerLimits LimitsOf(const ServerConfig& s) {
  ServerLimits l;
  l.threads = s.threads;
  l.max_connections = s.max_connections;
  l.read_timeout_ms = s.read_timeout_ms;
  l.write_timeout_ms = s.write_timeout_ms;
  l.keep_alive_timeout_s = s.keep_alive_timeout_s;
  l.max_header_bytes = static_cast<size_t>(s.max_header_bytes);
  return l;
}

Config LoadEffectiveConfig(const std::string& path, const Overrides& o,
                           std::vector<SecretFile>* files_seen) {
  Config c = LoadConfigFile(path, ProcessEnv(), CheckRegistry::Builtin(), files_seen);
  ApplyOverrides(o, &c);
  LoadAdminToken(c, ProcessEnv());  // a weak token is a config error too
  return c;
}

int RunDaemon(const std::string& config_path, const Overrides& overrides) {
  // Signals are taken synchronously by this thread; every other thread
  // inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Every connection is a descriptor: take the whole allowance the
  // container gives (the server fits max_connections under it).
  RaiseFileLimit();

  Config config;
  try {
    config = LoadEffectiveConfig(config_path, overrides);
  } catch (const ConfigError& e) {
    std::cerr << "vigil: config error: " << e.what() << "\n";
    return 2;
  }
  FileStamp stamp = Stamp(config_path);

  Reporter reporter(FormatOf(config));
  reporter.SetSecrets(config.secrets);
  SnapshotStore store;
  Scheduler scheduler(&store, &reporter);
  // Draining and the reload counters: kept here, shown in every snapshot.
  DaemonState daemon_state;

  // The secret files of the running config (or of the last attempt to load
  // one), as read: a change to any of them reloads the config.
  std::vector<SecretFile> secret_files = config.secret_files;
  // The admin token file as it was before it was last read: a change turns
  // the old token off at once (VIGIL_ADMIN_TOKEN, when set, wins and is not
  // watched).
  const bool token_from_env = [] {
    const char* env = std::getenv("VIGIL_ADMIN_TOKEN");
    return env != nullptr && *env != '\0';
  }();
  FileStamp token_stamp = Stamp(config.admin_token_file);

  std::string admin_token;
  try {
    admin_token = ReadAdminToken(config, &reporter);
  } catch (const ConfigError& e) {
    std::cerr << "vigil: config error: " << e.what() << "\n";
    return 2;
  }

  Api::Options api_options;
  api_options.pod = PodInfo::FromEnv();
  api_options.admin_token = admin_token;
  api_options.health_details_full = config.health_details == "full";
  api_options.on_admin_lockout = [&reporter](int seconds) {
    reporter.Report({Level::kWarn,
                     "admin_locked_out",
                     "",
                     "",
                     "",
                     "too many wrong admin tokens: admin requests answered 429 for " +
                         std::to_string(seconds) + " s",
                     {{"retry_after_s", std::to_string(seconds)}}});
  };
  api_options.reset_breaker = [&scheduler](const std::string& name) {
    return scheduler.ResetBreaker(name);
  };
  api_options.counters.log_events_dropped = [&reporter] { return reporter.dropped(); };
  Api api(&store, api_options);

  std::string host;
  int port = 0;
  std::string listen = config.listen[0] == ':' ? "0.0.0.0" + config.listen : config.listen;
  SplitHostPort(listen, &host, &port);
  HttpServer server(&api, LimitsOf(config.server), [&reporter](const std::string& line) {
    reporter.Report({Level::kWarn, "http_server", "", "", "", line, {}});
  });
  try {
    server.Bind(host, port);
  } catch (const std::exception& e) {
    std::cerr << "vigil: " << e.what() << "\n";
    return 1;
  }
  scheduler.Start(config);
  server.Start();
  reporter.Report(
      {Level::kInfo,
       "started",
       "",
       "",
       "",
       "vigil " + std::string(kVersion) + " listening on " + host + ":" +
           std::to_string(server.port()) + " with " + std::to_string(config.checks.size()) +
           " checks",
       {{"listen", host + ":" + std::to_string(server.port())}, {"version", kVersion}}});

  auto reload = [&](const char* why) {
    std::vector<SecretFile> seen;
    try {
      Config next = LoadEffectiveConfig(config_path, overrides, &seen);
      if (next.listen != config.listen) {
        reporter.Report({Level::kWarn,
                         "config_listen_unchanged",
                         "",
                         "",
                         "",
                         "listen address changes need a restart; still on " + config.listen,
                         {}});
        next.listen = config.listen;
      }
      if (next.server != config.server) {
        reporter.Report({Level::kWarn,
                         "config_server_unchanged",
                         "",
                         "",
                         "",
                         "changes to the \"server\" settings need a restart; keeping the old ones",
                         {}});
        next.server = config.server;
      }
      // Read before anything is applied: a weak token refuses the reload.
      const FileStamp next_token_stamp = Stamp(next.admin_token_file);
      std::string next_token = ReadAdminToken(next, &reporter);
      // The scheduler keeps the scrubber's secrets: the new checks' and
      // those of removed checks whose late results are still to come.
      scheduler.Apply(next);
      reporter.SetFormat(FormatOf(next));
      token_stamp = next_token_stamp;
      admin_token = std::move(next_token);
      api.SetAdminToken(admin_token);
      api.SetHealthDetails(next.health_details == "full");
      secret_files = next.secret_files;
      daemon_state.CountReload(true, WallClock::now());
      scheduler.SetDaemonState(daemon_state);
      reporter.Report({Level::kInfo,
                       "config_reloaded",
                       "",
                       "",
                       "",
                       std::string("configuration reloaded (") + why +
                           "): " + std::to_string(next.checks.size()) + " checks",
                       {{"trigger", why}}});
      config = std::move(next);
    } catch (const ConfigError& e) {
      // Watch what this attempt read (an unreadable file as found, so its
      // return is seen) and the running config's other files as they are
      // now (so an unchanged refusal is not retried every poll).
      std::vector<SecretFile> others;
      for (const SecretFile& f : config.secret_files) {
        if (std::none_of(seen.begin(), seen.end(),
                         [&](const SecretFile& s) { return s.path == f.path; }))
          others.push_back(f);
      }
      secret_files = std::move(seen);
      for (SecretFile& f : Restamped(std::move(others))) secret_files.push_back(std::move(f));
      daemon_state.CountReload(false, WallClock::now());
      scheduler.SetDaemonState(daemon_state);
      reporter.Report({Level::kError,
                       "config_rejected",
                       "",
                       "",
                       e.what(),
                       std::string("new configuration refused, keeping the old one: ") + e.what(),
                       {{"field", e.field()}, {"trigger", why}}});
    }
  };

  // The admin token file changed: the new token replaces the old at once; an
  // unreadable or empty file turns the admin routes off (keeping the old
  // token would defeat the rotation).
  auto rotate_token = [&] {
    std::string token;
    try {
      token = ReadAdminToken(config, &reporter);
    } catch (const ConfigError& e) {
      // A weak or oversized token: refused like an unreadable file.
      reporter.Report({Level::kWarn,
                       "admin_disabled",
                       "",
                       "",
                       e.what(),
                       std::string("admin token refused: ") + e.what() + ": admin routes are off",
                       {}});
      admin_token.clear();
      api.SetAdminToken("");
      return;
    }
    if (token.empty()) {
      if (Stamp(config.admin_token_file).size >= 0) {
        reporter.Report(
            {Level::kWarn,
             "admin_disabled",
             "",
             "",
             "",
             "admin token file " + config.admin_token_file + " is empty: admin routes are off",
             {}});
      }
    } else if (token != admin_token) {
      reporter.Report({Level::kInfo,
                       "admin_token_rotated",
                       "",
                       "",
                       "",
                       "admin token file " + config.admin_token_file +
                           " changed: the new token is in use, the old one refused",
                       {}});
    }
    admin_token = token;
    api.SetAdminToken(token);
  };

  bool draining = false;
  Clock::time_point drain_until{};
  auto next_watch = Clock::now() + std::chrono::seconds(1);
  // Secret files and the admin token file are polled more often than the
  // config: a rotated admin token must be refused within 2 s.
  auto next_secret_watch = Clock::now() + std::chrono::milliseconds(500);
  for (;;) {
    timespec wait{0, 200 * 1000 * 1000};
    siginfo_t info{};
    int sig = sigtimedwait(&signals, &info, &wait);
    if (sig == SIGTERM || sig == SIGINT) {
      if (draining) break;  // a second signal: stop now
      draining = true;
      drain_until = Clock::now() + std::chrono::seconds(config.drain_seconds);
      daemon_state.draining = true;
      scheduler.SetDaemonState(daemon_state);
      reporter.Report({Level::kInfo,
                       "draining",
                       "",
                       "",
                       "",
                       "received " + std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                           ": /readyz now 503, exiting in " + std::to_string(config.drain_seconds) +
                           " s",
                       {{"drain_seconds", std::to_string(config.drain_seconds)}}});
    } else if (sig == SIGHUP) {
      stamp = Stamp(config_path);
      reload("SIGHUP");
    }
    const auto now = Clock::now();
    if (draining && now >= drain_until) break;
    if (!draining && now >= next_watch) {
      next_watch = now + std::chrono::seconds(1);
      FileStamp current = Stamp(config_path);
      if (current != stamp && current.size >= 0) {
        stamp = current;
        reload("file changed");
      }
    }
    if (!draining && now >= next_secret_watch) {
      next_secret_watch = now + std::chrono::milliseconds(500);
      if (std::any_of(secret_files.begin(), secret_files.end(), Changed)) {
        reload("secret file changed");
      }
      if (!token_from_env && !config.admin_token_file.empty()) {
        const FileStamp current = Stamp(config.admin_token_file);
        if (current != token_stamp) {
          token_stamp = current;
          rotate_token();
        }
      }
    }
  }
  reporter.Report({Level::kInfo, "stopped", "", "", "", "vigil stopped", {}});
  server.Stop();
  scheduler.Stop();
  reporter.Flush(1000);
  return 0;
}

}  // namespace vigil
