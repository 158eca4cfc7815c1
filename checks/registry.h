// Check kinds register here by name; the agent builds every check from its
// JSON config through this one factory.
#pragma once

#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "checks/check.h"

namespace vigil {

// A refused config value. `field` is the jq-style place ("checks[1].url"),
// `message` the fault. what() is "field: message". Never carries a secret.
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string field, std::string message)
      : std::runtime_error(field + ": " + message),
        field_(std::move(field)),
        message_(std::move(message)) {}
  const std::string& field() const { return field_; }
  const std::string& message() const { return message_; }

 private:
  std::string field_;
  std::string message_;
};

// What a kind's factory gets: the check's JSON object (variables already
// expanded), its place in the config for error messages, and where to put any
// credential it finds so the agent can scrub it from every text it prints.
struct CheckSpec {
  const nlohmann::json& json;
  std::string path;  // "checks[2]"
  std::vector<std::string>* secrets;
  // Seconds a check may go on with addresses it resolved before while DNS
  // fails (checks/common/dns.h); the agent sets it from "dns_stale_s".
  int dns_stale_s = 300;

  // Helpers for kind factories: typed reads that throw ConfigError naming
  // the field ("checks[2].url: must be a string").
  std::string RequireString(const char* key) const;
  std::string OptionalString(const char* key, const std::string& fallback) const;
  bool OptionalBool(const char* key, bool fallback) const;
  double OptionalNumber(const char* key, double fallback, double min, double max) const;
  std::string Field(const char* key) const { return path + "." + key; }
};

// Expands one ${...} reference as the config parser would ("${DB_PASSWORD}",
// "${file:/path}"), for a kind's before_expansion rule; throws ConfigError
// naming `field`.
using ExpandReference =
    std::function<std::string(const std::string& reference, const std::string& field)>;

// Everything the agent knows of a kind comes from here: a new kind is a
// folder under checks/ and one Register line in registry.cc
// (docs/adding-a-check.md).
struct CheckKind {
  std::string name;  // "redis"
  // Keys a check of this kind may carry besides the common ones.
  std::vector<std::string> keys;
  // The role a check of this kind gets when the config names none.
  std::string default_role;
  // Builds the check without touching the network; throws ConfigError.
  // Register wraps it: every check built resolves names through its own
  // CheckDns (checks/common/dns.h) and has its run timed
  // (CheckResult::latency).
  std::function<std::unique_ptr<Check>(const CheckSpec&)> create;
  // (Last and defaulted, so that CheckKind{name, keys, role, create}
  // still reads.)
  // How log messages name the kind: "[db] PostgreSQL error: ...".
  std::string display_name{};  // "PostgreSQL"
  // The health+json componentType of /health?full: "datastore" for a
  // server that holds data (Redis, PostgreSQL), "component" otherwise.
  std::string component_type{};
  // Optional: checks the check's JSON object as written, before ${VAR}
  // expansion (`path` is "checks[2]"); throws ConfigError. The postgres kind
  // refuses a variable whose value would add a keyword to its connection
  // string (checks/postgres/pg_dsn_guard.h).
  std::function<void(const nlohmann::json& raw_check, const std::string& path,
                     const ExpandReference& expand)>
      before_expansion{};
};

class CheckRegistry {
 public:
  // The built-in kinds: redis, postgres, tcp, http.
  static const CheckRegistry& Builtin();

  void Register(CheckKind kind);
  const CheckKind* Find(const std::string& name) const;
  std::vector<std::string> Names() const;

 private:
  std::vector<CheckKind> kinds_;
};

}  // namespace vigil
