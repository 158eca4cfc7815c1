#include "agent/app/daemon.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <iostream>

#include "agent/core/fleet.h"
#include "agent/core/scheduler.h"
#include "agent/fleet/fleet_client.h"
#include "agent/http/api.h"
#include "agent/http/server.h"
#include "agent/k8s/event_recorder.h"
#include "agent/log/reporter.h"
#include "checks/common/net.h"
#include "checks/common/version.h"

namespace vigil {
namespace {

Reporter::Format FormatOf(const Config& c) {
  return c.log_format == "text" ? Reporter::Format::kText : Reporter::Format::kJson;
}

bool AdminTokenFromEnv() {
  const char* env = std::getenv("VIGIL_ADMIN_TOKEN");
  return env != nullptr && *env != '\0';
}

// The recorder's counts for /metrics, read at scrape time.
std::function<KubernetesEventCounts()> KubernetesEventCounters(const EventRecorder* events) {
  return [events] {
    const EventRecorder::Counts c = events->counts();
    KubernetesEventCounts out;
    out.enabled = c.enabled;
    for (size_t i = 0; i < c.sent.size(); ++i) {
      out.sent.emplace_back(EventRecorder::SentName(static_cast<EventRecorder::Sent>(i)),
                            c.sent[i]);
    }
    for (size_t i = 0; i < c.dropped.size(); ++i) {
      out.dropped.emplace_back(EventRecorder::DropName(static_cast<EventRecorder::Drop>(i)),
                               c.dropped[i]);
    }
    return out;
  };
}

}  // namespace

Daemon::Daemon(std::string config_path, Overrides overrides)
    : config_path_(std::move(config_path)), overrides_(std::move(overrides)) {}

Daemon::~Daemon() = default;

int Daemon::Start() {
  // Signals are taken synchronously by this thread; every other thread
  // inherits the blocked mask.
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGTERM);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  signal(SIGPIPE, SIG_IGN);
  // Every connection is a descriptor: take the whole allowance the
  // container gives (the server fits max_connections under it).
  RaiseFileLimit();

  if (const int rc = LoadConfig(); rc != 0) return rc;
  reporter_ = std::make_unique<Reporter>(FormatOf(config_));
  reporter_->SetSecrets(config_.secrets);
  store_ = std::make_unique<SnapshotStore>();
  fleet_store_ = std::make_unique<FleetStore>();
  scheduler_ = std::make_unique<Scheduler>(store_.get(), reporter_.get());
  fleet_ = std::make_unique<FleetClient>(fleet_store_.get(), store_.get(), reporter_.get(),
                                         config_.listen);
  store_->AddListener(fleet_->Notifier());
  events_ = std::make_unique<EventRecorder>(store_.get(), reporter_.get());
  store_->AddListener(events_->Notifier());
  secret_files_ = config_.secret_files;
  token_from_env_ = AdminTokenFromEnv();
  token_stamp_ = Stamp(config_.admin_token_file);
  if (const int rc = ReadFirstAdminToken(); rc != 0) return rc;
  if (const int rc = ReadFirstFleetToken(); rc != 0) return rc;
  return StartServing();
}

int Daemon::LoadConfig() {
  try {
    config_ = LoadEffectiveConfig(config_path_, overrides_);
    ResolveKubernetes(ProcessEnv(), &config_.kubernetes);
  } catch (const ConfigError& e) {
    std::cerr << "vigil: config error: " << e.what() << "\n";
    return 2;
  }
  config_stamp_ = Stamp(config_path_);
  return 0;
}

int Daemon::ReadFirstAdminToken() {
  try {
    admin_token_ = ReadAdminToken(config_);
  } catch (const ConfigError& e) {
    std::cerr << "vigil: config error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

int Daemon::ReadFirstFleetToken() {
  fleet_token_stamp_ = Stamp(config_.fleet.token_file);
  try {
    fleet_token_ = LoadFleetToken(config_.fleet);
  } catch (const ConfigError& e) {
    std::cerr << "vigil: config error: " << e.what() << "\n";
    return 2;
  }
  return 0;
}

// The fleet token file changed: peers are asked for the new token at once,
// and this pod presents it.
void Daemon::RotateFleetToken() {
  std::string token;
  try {
    token = LoadFleetToken(config_.fleet);
  } catch (const ConfigError& e) {
    reporter_->Report(
        Event::Agent(Level::kWarn, "fleet_token_refused",
                     std::string("fleet token refused, keeping the old one: ") + e.what())
            .WithReason(e.what()));
    return;
  }
  if (token.empty() && !fleet_token_.empty()) {
    // A token file gone or emptied must not open the peers' route.
    reporter_->Warn("fleet_token_refused", "fleet token file " + config_.fleet.token_file +
                                               " is unreadable or empty: keeping the old token");
    return;
  }
  if (token != fleet_token_) {
    reporter_->Info("fleet_token_rotated", "fleet token file " + config_.fleet.token_file +
                                               " changed: the new token is in use");
  }
  fleet_token_ = token;
  api_->SetFleetToken(token);
  fleet_->SetToken(token);
}

int Daemon::StartServing() {
  Reporter* reporter = reporter_.get();
  Scheduler* scheduler = scheduler_.get();
  Api::Options api_options;
  api_options.pod = PodInfo::FromEnv();
  api_options.admin_token = admin_token_;
  api_options.health_details_full = config_.health_details == "full";
  api_options.on_admin_lockout = [reporter](int seconds, const std::string& client) {
    reporter->Warn("admin_locked_out",
                   "too many wrong admin tokens from " + (client.empty() ? "?" : client) +
                       ": its admin requests answered 429 for " + std::to_string(seconds) + " s",
                   {{"retry_after_s", std::to_string(seconds)}, {"client", client}});
  };
  api_options.reset_breaker = [scheduler](const std::string& name) {
    return scheduler->ResetBreaker(name);
  };
  api_options.counters.log_events_dropped = [reporter] { return reporter->dropped(); };
  api_options.counters.kubernetes_events = KubernetesEventCounters(events_.get());
  api_options.fleet = fleet_store_.get();
  api_options.fleet_token = fleet_token_;
  api_ = std::make_unique<Api>(store_.get(), api_options);

  std::string host;
  int port = 0;
  SplitHostPort(config_.listen[0] == ':' ? "0.0.0.0" + config_.listen : config_.listen, &host,
                &port);
  server_ = std::make_unique<HttpServer>(
      api_.get(), LimitsOf(config_.server),
      [reporter](const std::string& line) { reporter->Warn("http_server", line); });
  try {
    server_->Bind(host, port);
  } catch (const std::exception& e) {
    std::cerr << "vigil: " << e.what() << "\n";
    return 1;
  }
  scheduler_->Start(config_);
  fleet_->Start(config_.fleet, fleet_token_);
  events_->Start(config_.kubernetes);
  server_->Start();
  const std::string address = host + ":" + std::to_string(server_->port());
  reporter_->Info("started",
                  "vigil " + std::string(kVersion) + " listening on " + address + " with " +
                      std::to_string(config_.checks.size()) + " checks",
                  {{"listen", address}, {"version", kVersion}});
  return 0;
}

// The admin token (validated: LoadAdminToken); "" turns the admin routes off.
// Throws ConfigError for a weak token or an oversized file.
std::string Daemon::ReadAdminToken(const Config& c) {
  std::string token = LoadAdminToken(c, ProcessEnv());
  if (token.empty() && !c.admin_token_file.empty() && !AdminTokenFromEnv()) {
    reporter_->Info("admin_disabled", "admin token file " + c.admin_token_file +
                                          " not readable: admin routes are off");
  }
  return token;
}

void Daemon::Reload(const char* why) {
  std::vector<SecretFile> seen;
  try {
    Config next = LoadEffectiveConfig(config_path_, overrides_, &seen);
    ResolveKubernetes(ProcessEnv(), &next.kubernetes);
    KeepRestartOnlySettings(&next);
    ApplyReload(std::move(next), why);
  } catch (const ConfigError& e) {
    RefuseReload(e, std::move(seen), why);
  }
}

// `listen` and the "server" settings need a restart: the running ones stay.
void Daemon::KeepRestartOnlySettings(Config* next) {
  if (next->listen != config_.listen) {
    reporter_->Warn("config_listen_unchanged",
                    "listen address changes need a restart; still on " + config_.listen);
    next->listen = config_.listen;
  }
  if (next->server != config_.server) {
    reporter_->Warn("config_server_unchanged",
                    "changes to the \"server\" settings need a restart; keeping the old ones");
    next->server = config_.server;
  }
}

void Daemon::ApplyReload(Config next, const char* why) {
  // Read before anything is applied: a weak token refuses the reload.
  const FileStamp next_token_stamp = Stamp(next.admin_token_file);
  std::string next_token = ReadAdminToken(next);
  const FileStamp next_fleet_stamp = Stamp(next.fleet.token_file);
  std::string next_fleet_token = LoadFleetToken(next.fleet);
  // The scheduler keeps the scrubber's secrets: the new checks' and those of
  // removed checks whose late results are still to come.
  scheduler_->Apply(next);
  fleet_->Apply(next.fleet);
  events_->Apply(next.kubernetes);
  reporter_->SetFormat(FormatOf(next));
  token_stamp_ = next_token_stamp;
  admin_token_ = std::move(next_token);
  api_->SetAdminToken(admin_token_);
  fleet_token_stamp_ = next_fleet_stamp;
  fleet_token_ = std::move(next_fleet_token);
  api_->SetFleetToken(fleet_token_);
  fleet_->SetToken(fleet_token_);
  api_->SetHealthDetails(next.health_details == "full");
  secret_files_ = next.secret_files;
  daemon_state_.CountReload(true, WallClock::now());
  scheduler_->SetDaemonState(daemon_state_);
  reporter_->Info("config_reloaded",
                  std::string("configuration reloaded (") + why +
                      "): " + std::to_string(next.checks.size()) + " checks",
                  {{"trigger", why}});
  config_ = std::move(next);
}

void Daemon::RefuseReload(const ConfigError& e, std::vector<SecretFile> seen, const char* why) {
  // Watch what this attempt read (an unreadable file as found, so its return
  // is seen) and the running config's other files as they are now (so an
  // unchanged refusal is not retried every poll).
  std::vector<SecretFile> others;
  for (const SecretFile& f : config_.secret_files) {
    if (std::none_of(seen.begin(), seen.end(),
                     [&](const SecretFile& s) { return s.path == f.path; }))
      others.push_back(f);
  }
  secret_files_ = std::move(seen);
  for (SecretFile& f : Restamped(std::move(others))) secret_files_.push_back(std::move(f));
  daemon_state_.CountReload(false, WallClock::now());
  scheduler_->SetDaemonState(daemon_state_);
  reporter_->Report(
      Event::Agent(Level::kError, "config_rejected",
                   std::string("new configuration refused, keeping the old one: ") + e.what(),
                   {{"field", e.field()}, {"trigger", why}})
          .WithReason(e.what()));
}

// The admin token file changed: the new token replaces the old at once; an
// unreadable or empty file turns the admin routes off (keeping the old token
// would defeat the rotation).
void Daemon::RotateAdminToken() {
  std::string token;
  try {
    token = ReadAdminToken(config_);
  } catch (const ConfigError& e) {
    // A weak or oversized token: refused like an unreadable file.
    reporter_->Report(
        Event::Agent(Level::kWarn, "admin_disabled",
                     std::string("admin token refused: ") + e.what() + ": admin routes are off")
            .WithReason(e.what()));
    admin_token_.clear();
    api_->SetAdminToken("");
    return;
  }
  if (token.empty()) {
    if (Stamp(config_.admin_token_file).size >= 0) {
      reporter_->Warn("admin_disabled", "admin token file " + config_.admin_token_file +
                                            " is empty: admin routes are off");
    }
  } else if (token != admin_token_) {
    reporter_->Info("admin_token_rotated",
                    "admin token file " + config_.admin_token_file +
                        " changed: the new token is in use, the old one refused");
  }
  admin_token_ = token;
  api_->SetAdminToken(token);
}

void Daemon::Drain(int sig) {
  draining_ = true;
  drain_until_ = Clock::now() + std::chrono::seconds(config_.drain_seconds);
  daemon_state_.draining = true;
  scheduler_->SetDaemonState(daemon_state_);
  reporter_->Info("draining",
                  "received " + std::string(sig == SIGTERM ? "SIGTERM" : "SIGINT") +
                      ": /readyz now 503, exiting in " + std::to_string(config_.drain_seconds) +
                      " s",
                  {{"drain_seconds", std::to_string(config_.drain_seconds)}});
}

// The config file once a second; the secret files and the admin token file
// every 500 ms (a rotated admin token must be refused within 2 s).
void Daemon::PollFiles(Clock::time_point now) {
  if (now >= next_config_poll_) {
    next_config_poll_ = now + std::chrono::seconds(1);
    const FileStamp current = Stamp(config_path_);
    if (current != config_stamp_ && current.size >= 0) {
      config_stamp_ = current;
      Reload("file changed");
    }
  }
  if (now < next_secret_poll_) return;
  next_secret_poll_ = now + std::chrono::milliseconds(500);
  if (std::any_of(secret_files_.begin(), secret_files_.end(), Changed)) {
    Reload("secret file changed");
  }
  if (!token_from_env_ && !config_.admin_token_file.empty()) {
    const FileStamp current = Stamp(config_.admin_token_file);
    if (current != token_stamp_) {
      token_stamp_ = current;
      RotateAdminToken();
    }
  }
  if (!config_.fleet.token_file.empty() && std::getenv("VIGIL_FLEET_TOKEN") == nullptr) {
    const FileStamp current = Stamp(config_.fleet.token_file);
    if (current != fleet_token_stamp_) {
      fleet_token_stamp_ = current;
      RotateFleetToken();
    }
  }
}

int Daemon::Run() {
  next_config_poll_ = Clock::now() + std::chrono::seconds(1);
  next_secret_poll_ = Clock::now() + std::chrono::milliseconds(500);
  for (;;) {
    timespec wait{0, 200 * 1000 * 1000};
    siginfo_t info{};
    const int sig = sigtimedwait(&signals_, &info, &wait);
    if (sig == SIGTERM || sig == SIGINT) {
      if (draining_) break;  // a second signal: stop now
      Drain(sig);
    } else if (sig == SIGHUP) {
      config_stamp_ = Stamp(config_path_);
      Reload("SIGHUP");
    }
    const auto now = Clock::now();
    if (draining_ && now >= drain_until_) break;
    if (!draining_) PollFiles(now);
  }
  Stop();
  return 0;
}

void Daemon::Stop() {
  reporter_->Info("stopped", "vigil stopped");
  server_->Stop();
  events_->Stop();
  fleet_->Stop();
  scheduler_->Stop();
  reporter_->Flush(1000);
}

int RunDaemon(const std::string& config_path, const Overrides& overrides) {
  Daemon daemon(config_path, overrides);
  if (const int rc = daemon.Start(); rc != 0) return rc;
  return daemon.Run();
}

}  // namespace vigil
