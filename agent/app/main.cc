// vigil: a health and readiness agent that runs beside an application.
// Subcommands: run, check, validate, probe (docs/configuration.md).
#include <CLI/CLI.hpp>

#include <sys/prctl.h>

#include <iostream>

#include "agent/app/daemon.h"
#include "agent/app/oneshot.h"
#include "checks/common/version.h"

namespace {

void AddConfigOptions(CLI::App* cmd, std::string* config_path, vigil::Overrides* o) {
  cmd->add_option("-c,--config", *config_path, "Config file (JSON)")
      ->envname("VIGIL_CONFIG")
      ->capture_default_str();
  cmd->add_option("--listen", o->listen, "HOST:PORT to serve on (overrides `listen`)")
      ->envname("VIGIL_LISTEN");
  cmd->add_option("--drain-seconds", o->drain_seconds, "Seconds to keep serving after SIGTERM")
      ->envname("VIGIL_DRAIN_SECONDS");
  cmd->add_option("--log-format", o->log_format, "json (default) or text")
      ->envname("VIGIL_LOG_FORMAT");
  cmd->add_option("--admin-token-file", o->admin_token_file,
                  "File holding the admin bearer token (or set VIGIL_ADMIN_TOKEN)")
      ->envname("VIGIL_ADMIN_TOKEN_FILE");
  // The "server" settings (docs/http.md); range-checked with the config.
  for (const vigil::ServerSetting& setting : vigil::ServerSettings()) {
    const std::string key = setting.key;
    cmd->add_option_function<int>(
           setting.flag, [o, key](const int& v) { o->server[key] = v; }, "Overrides server." + key)
        ->envname(setting.env);
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vigil: dependency health and readiness agent for Kubernetes pods"};
  app.set_version_flag("--version", std::string("vigil ") + vigil::kVersion);
  app.require_subcommand(1);

  std::string config_path = "/etc/vigil/config.json";
  vigil::Overrides overrides;

  CLI::App* run = app.add_subcommand("run", "Run the agent (the daemon)");
  AddConfigOptions(run, &config_path, &overrides);

  CLI::App* check = app.add_subcommand("check",
                                       "Run every check once, print a table; exit 0 if "
                                       "ready, 1 if not, 2 on a bad config");
  AddConfigOptions(check, &config_path, &overrides);

  CLI::App* validate = app.add_subcommand("validate", "Validate the config; exit 0 or 2");
  AddConfigOptions(validate, &config_path, &overrides);

  CLI::App* probe = app.add_subcommand(
      "probe",
      "GET a URL (an exec probe for images without curl): exit 0 on 2xx/3xx, 1 on another "
      "status, 2 on a bad URL, 3 when nothing answers in time");
  std::string probe_url;
  int probe_timeout_ms = 1000;
  probe->add_option("url", probe_url, "e.g. http://127.0.0.1:8086/livez")->required();
  probe->add_option("--timeout-ms", probe_timeout_ms, "Whole-request timeout")
      ->check(CLI::Range(1, 60000))
      ->capture_default_str();

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Usage errors exit 2 like config errors; --help and --version exit 0.
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  if (*probe) return vigil::Probe(probe_url, probe_timeout_ms);
  // The config holds passwords: no core dump, no ptrace by another process
  // of the same user, /proc/PID/mem and environ closed to them.
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
    std::cerr << "vigil: warning: cannot make the process non-dumpable\n";
  }
  if (*run) return vigil::RunDaemon(config_path, overrides);

  vigil::Config config;
  try {
    config = vigil::LoadEffectiveConfig(config_path, overrides);
  } catch (const vigil::ConfigError& e) {
    std::cerr << "vigil: config error: " << e.what() << "\n";
    return 2;
  }
  if (*validate) {
    std::cout << "config ok: " << config.checks.size() << " checks, listen " << config.listen
              << "\n";
    return 0;
  }
  return vigil::RunChecksOnce(config);
}
