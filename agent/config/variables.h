// ${VAR}, ${VAR:-fallback} and ${file:/path} in config values
// (docs/configuration.md "Variables", docs/secrets.md).
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "agent/config/secret_files.h"

namespace vigil {

// Looks a variable up in the environment; nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup ProcessEnv();

// What ExpandVariables read from files: each file (once) and its contents.
struct FileExpansions {
  std::vector<SecretFile> files;  // each path once, in the order met
  // Per reference: its config place ("checks[1].url") and what the file held
  // (a credential: scrubbed from all output).
  std::vector<std::pair<std::string, std::string>> contents;
};

// Replaces ${VAR} and ${VAR:-default} in `in`; "$$" is a literal "$".
// Throws ConfigError(field, "unresolved variable ${NAME}") for an unset one.
// ${file:/path} is replaced by the file's contents with one trailing "\n" or
// "\r\n" cut off; the path must be absolute, the file regular and at most
// kMaxSecretFileBytes; otherwise ConfigError(field, "cannot read secret file
// /path: ..."). Files read are added to `files` when given.
std::string ExpandVariables(const std::string& in, const EnvLookup& env, const std::string& field,
                            FileExpansions* files = nullptr);

// Expands variables in every string value of the document, in place; the
// field of a value is its place under `path`.
void ExpandAll(nlohmann::json* j, const EnvLookup& env, const std::string& path,
               FileExpansions* files, int depth = 0);

}  // namespace vigil
