#include "agent/config/variables.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "agent/config/config_fields.h"
#include "checks/registry.h"

namespace vigil {
namespace {

using json = nlohmann::json;

// A config is a few levels deep; [[[[...]]]] a hundred thousand deep would
// overflow the stack of every recursive walk (this one, json copies).
constexpr int kMaxDepth = 32;

// ${file:/path}: the body after "file:" is the path, to the closing brace.
std::string ExpandFile(const std::string& path, const std::string& field, FileExpansions* files) {
  if (path.empty() || path[0] != '/') {
    // Relative to what? The agent's working directory is an accident of how
    // it was started; a mounted Secret always has an absolute path.
    throw ConfigError(field, "a ${file:...} path must be absolute (${file:/path})");
  }
  SecretFile stamp;
  stamp.path = path;
  const bool known =
      files != nullptr && std::any_of(files->files.begin(), files->files.end(),
                                      [&](const SecretFile& f) { return f.path == path; });
  try {
    std::string contents = ReadSecretFile(path, field, &stamp);
    if (files != nullptr) {
      if (!known) files->files.push_back(stamp);
      files->contents.emplace_back(field, contents);
    }
    return contents;
  } catch (const ConfigError&) {
    // Still watched: the file may appear later (stamp.size stays -1).
    if (files != nullptr && !known) files->files.push_back(stamp);
    throw;
  }
}

}  // namespace

EnvLookup ProcessEnv() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

// Expands variables in every string value of the document, in place.
void ExpandAll(json* j, const EnvLookup& env, const std::string& path, FileExpansions* files,
               int depth) {
  if (depth > kMaxDepth) throw ConfigError(path, "nested too deeply");
  if (j->is_string()) {
    *j = ExpandVariables(j->get<std::string>(), env, path.empty() ? "(root)" : path, files);
  } else if (j->is_object()) {
    for (auto it = j->begin(); it != j->end(); ++it)
      ExpandAll(&it.value(), env, Child(path, ShortKey(it.key())), files, depth + 1);
  } else if (j->is_array()) {
    for (size_t i = 0; i < j->size(); ++i)
      ExpandAll(&(*j)[i], env, path + "[" + std::to_string(i) + "]", files, depth + 1);
  }
}

std::string ExpandVariables(const std::string& in, const EnvLookup& env, const std::string& field,
                            FileExpansions* files) {
  std::string out;
  out.reserve(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '$' || i + 1 >= in.size()) {
      out += in[i];
      continue;
    }
    if (in[i + 1] == '$') {
      out += '$';
      ++i;
      continue;
    }
    if (in[i + 1] != '{') {
      out += in[i];
      continue;
    }
    size_t close = in.find('}', i + 2);
    if (close == std::string::npos) throw ConfigError(field, "unterminated ${ in value");
    std::string body = in.substr(i + 2, close - i - 2);
    if (body.rfind("file:", 0) == 0) {
      out += ExpandFile(body.substr(5), field, files);
      i = close;
      continue;
    }
    std::optional<std::string> fallback;
    size_t dflt = body.find(":-");
    std::string name = body.substr(0, dflt);
    if (dflt != std::string::npos) fallback = body.substr(dflt + 2);
    // [A-Za-z_][A-Za-z0-9_]*, checked by hand: std::regex recurses once a
    // character and a ${...} of some 100 KB overflowed the stack.
    auto word = [](char ch) {
      const unsigned char c = static_cast<unsigned char>(ch);
      return c == '_' || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    };
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0])) ||
        !std::all_of(name.begin(), name.end(), word)) {
      // Not echoed: a literal password may hold "${" (the text up to "}"
      // would be a piece of it).
      throw ConfigError(field,
                        "invalid variable reference ${...} (a name is [A-Za-z_][A-Za-z0-9_]*; "
                        "write $$ for a literal $)");
    }
    std::optional<std::string> value = env(name);
    if (!value || (value->empty() && fallback)) value = fallback;
    if (!value) {
      throw ConfigError(field, "unresolved variable ${" +
                                   (name.size() > 64 ? name.substr(0, 64) + "..." : name) + "}");
    }
    out += *value;
    i = close;
  }
  return out;
}

}  // namespace vigil
