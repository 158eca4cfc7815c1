#include "agent/config/config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "agent/config/config_fields.h"
#include "agent/config/refusal.h"
#include "checks/common/json_read.h"
#include "checks/common/net.h"

namespace vigil {
namespace {

using json = nlohmann::json;

constexpr size_t kMaxConfigBytes = 1 << 20;
constexpr size_t kMaxChecks = 256;
constexpr int kMaxJsonDepth = 32;

const std::vector<std::string> kTopKeys = {
    "listen",        "drain_seconds", "admin_token_file", "log_format", "defaults",
    "checks",        "server",        "health_details",   "fleet",      "kubernetes_events",
    "kubernetes_api"};

// "line 3, column 7" from a byte offset in the text.
std::string Position(const std::string& text, size_t byte) {
  size_t line = 1, col = 1;
  for (size_t i = 0; i < byte && i < text.size(); ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return "line " + std::to_string(line) + ", column " + std::to_string(col);
}

json ParseJson(const std::string& text) {
  if (text.size() > kMaxConfigBytes) throw ConfigError("(file)", "larger than 1 MiB");
  // Refused while it is read: a document nested deeper than any config
  // needs is never built, so nothing later (a copy, a walk) recurses into it.
  const json::parser_callback_t depth_limit = [](int depth, json::parse_event_t, json&) {
    if (depth > kMaxJsonDepth) {
      throw ConfigError(
          "(file)", "nested too deeply (more than " + std::to_string(kMaxJsonDepth) + " levels)");
    }
    return true;
  };
  try {
    return json::parse(text, depth_limit);
  } catch (const json::parse_error& e) {
    throw ConfigError("(file)", "invalid JSON at " + Position(text, e.byte > 0 ? e.byte - 1 : 0));
  } catch (const json::exception&) {
    // out_of_range.406: a number like 1e400. Anything but ConfigError would
    // end the process (and a reload would take the running agent down).
    throw ConfigError("(file)", "invalid JSON: a number out of range");
  }
}

// Runs each kind's rule on its checks as written (the postgres kind refuses
// ${VAR}s that would inject into its connection string), then expands every
// value. `files_seen` gets the files met, also on failure.
FileExpansions ExpandDocument(json* doc, const EnvLookup& env, const CheckRegistry& registry,
                              std::vector<SecretFile>* files_seen) {
  FileExpansions files;
  try {
    if (auto it = doc->find("checks"); it != doc->end() && it->is_array()) {
      const ExpandReference expand = [&env](const std::string& ref, const std::string& field) {
        return ExpandVariables(ref, env, field);
      };
      for (size_t i = 0; i < it->size() && i < kMaxChecks; ++i) {
        const json& c = (*it)[i];
        if (!c.is_object() || !c.contains("kind") || !c["kind"].is_string()) continue;
        const CheckKind* kind = registry.Find(c["kind"].get<std::string>());
        if (kind == nullptr || !kind->before_expansion) continue;
        kind->before_expansion(c, "checks[" + std::to_string(i) + "]", expand);
      }
    }
    ExpandAll(doc, env, "", &files);
  } catch (const ConfigError&) {
    if (files_seen != nullptr) *files_seen = files.files;
    throw;
  }
  if (files_seen != nullptr) *files_seen = files.files;
  return files;
}

// listen, drain_seconds, admin_token_file, log_format, health_details.
void ReadTopLevel(const json& doc, Config* cfg) {
  cfg->listen = OptionalString(doc, "listen", cfg->listen, "listen");
  ValidateListen(cfg->listen, "listen");
  cfg->drain_seconds =
      OptionalInt(doc, "drain_seconds", cfg->drain_seconds, 0, 3600, "drain_seconds");
  cfg->admin_token_file = OptionalString(doc, "admin_token_file", "", "admin_token_file");
  cfg->log_format = OptionalString(doc, "log_format", cfg->log_format, "log_format");
  if (cfg->log_format != "json" && cfg->log_format != "text") {
    throw ConfigError("log_format", "want \"json\" or \"text\", got" + Echo(cfg->log_format));
  }
  cfg->health_details =
      OptionalString(doc, "health_details", cfg->health_details, "health_details");
  if (cfg->health_details != "full" && cfg->health_details != "status") {
    throw ConfigError("health_details",
                      "want \"full\" or \"status\", got" + Echo(cfg->health_details));
  }
}

// The "server" object: every key of ServerSettings(), range-checked.
void ReadServer(const json& doc, ServerConfig* server) {
  auto it = doc.find("server");
  if (it == doc.end()) return;
  RequireObject(*it, "server");
  std::vector<std::string> keys;
  for (const ServerSetting& s : ServerSettings()) keys.push_back(s.key);
  RejectUnknownKeys(*it, keys, "server");
  for (const ServerSetting& s : ServerSettings()) {
    server->*s.member =
        OptionalInt(*it, s.key, server->*s.member, s.min, s.max, Child("server", s.key));
  }
}

CheckTiming ReadDefaults(const json& doc) {
  CheckTiming defaults;
  if (auto it = doc.find("defaults"); it != doc.end()) {
    RequireObject(*it, "defaults");
    RejectUnknownKeys(*it, TimingKeys(), "defaults");
    ReadTiming(*it, "defaults", &defaults);
  }
  return defaults;
}

void ReadChecks(const json& doc, const FileExpansions& files, const CheckRegistry& registry,
                Config* cfg) {
  const CheckTiming defaults = ReadDefaults(doc);
  auto checks_it = doc.find("checks");
  if (checks_it == doc.end()) throw ConfigError("checks", "missing");
  if (!checks_it->is_array()) throw ConfigError("checks", "must be an array");
  if (checks_it->size() > kMaxChecks) {
    throw ConfigError("checks", "too many checks (at most " + std::to_string(kMaxChecks) + ")");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < checks_it->size(); ++i) {
    const std::string path = "checks[" + std::to_string(i) + "]";
    CheckConfig c = ParseCheck((*checks_it)[i], path, defaults, registry);
    if (!names.insert(c.name).second) {
      throw ConfigError(path + ".name", "duplicate name \"" + c.name + "\"");
    }
    // What the check's ${file:...} references held is its credential too.
    for (const auto& [field, contents] : files.contents) {
      if (field.rfind(path + ".", 0) == 0) c.secrets.push_back(contents);
    }
    cfg->secrets.insert(cfg->secrets.end(), c.secrets.begin(), c.secrets.end());
    cfg->checks.push_back(std::move(c));
  }
  CheckDependencies(cfg->checks);
}

}  // namespace

void ValidateListen(const std::string& listen, const std::string& field) {
  std::string host;
  int port = 0;
  std::string addr = listen;
  if (!addr.empty() && addr[0] == ':') addr = "0.0.0.0" + addr;
  if (!SplitHostPort(addr, &host, &port) || host.empty()) {
    throw ConfigError(field, "want HOST:PORT" + (listen.find("://") != std::string::npos
                                                     ? std::string(", not a URL")
                                                     : ", got" + Echo(listen)));
  }
}

Config ParseConfig(const std::string& text, const EnvLookup& env, const CheckRegistry& registry,
                   std::vector<SecretFile>* files_seen) {
  json doc = ParseJson(text);  // its errors quote nothing of the text
  const json raw = doc;
  try {
    RequireObject(doc, "(root)");
    RejectUnknownKeys(doc, kTopKeys, "");
    const FileExpansions files = ExpandDocument(&doc, env, registry, files_seen);

    Config cfg;
    cfg.secret_files = files.files;
    for (const auto& read : files.contents) cfg.secrets.push_back(read.second);
    ReadTopLevel(doc, &cfg);
    ReadServer(doc, &cfg.server);
    cfg.fleet = ReadFleet(doc);
    cfg.kubernetes = ReadKubernetes(doc);
    ReadChecks(doc, files, registry, &cfg);
    return cfg;
  } catch (const ConfigError& e) {
    // Whatever the fault, nothing of the refused config that may be a
    // credential is shown: its secrets are in no scrubber yet.
    throw ScrubRefusal(e, RefusalSecrets(raw, doc));
  }
}

Config LoadConfigFile(const std::string& path, const EnvLookup& env, const CheckRegistry& registry,
                      std::vector<SecretFile>* files_seen) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError("(file)", "cannot read " + path + ": " + std::strerror(errno));
  std::string text;
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    text.append(buf, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) throw ConfigError("(file)", "larger than 1 MiB");
  }
  return ParseConfig(text, env, registry, files_seen);
}

}  // namespace vigil
