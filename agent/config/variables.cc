#include "agent/config/variables.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "agent/config/config_fields.h"
#include "checks/common/url.h"
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

void RefuseDsnInjection(const std::string& raw, const EnvLookup& env, const std::string& field) {
  const std::string lower = AsciiLower(raw.substr(0, 14));
  const bool uri = lower.rfind("postgres://", 0) == 0 || lower.rfind("postgresql://", 0) == 0;
  if (raw.rfind("${", 0) == 0 && raw.find('}') == raw.size() - 1) return;
  bool quoted = false, in_query = false;
  for (size_t i = 0; i < raw.size(); ++i) {
    const char c = raw[i];
    if (c == '$' && i + 1 < raw.size() && raw[i + 1] == '$') {
      ++i;
      continue;
    }
    if (c == '$' && i + 1 < raw.size() && raw[i + 1] == '{') {
      const size_t close = raw.find('}', i + 2);
      if (close == std::string::npos) return;  // refused by the expansion itself
      const std::string ref = raw.substr(i, close - i + 1);
      const std::string value = ExpandVariables(ref, env, field);
      std::string name = ref.substr(2, ref.size() - 3);
      name = name.substr(0, name.find(":-")).substr(0, 64);
      auto has = [&value](const char* set) {
        return value.find_first_of(set) != std::string::npos;
      };
      const bool control = std::any_of(value.begin(), value.end(), [](char ch) {
        return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f;
      });
      std::string fault;
      if (uri) {
        if (control || has(" @/?#&[]\\") || (in_query && has("="))) {
          fault =
              "would change the URL's host, path or parameters (it holds one of @ / ? # & [ ] "
              "or whitespace): percent-encode it";
        }
      } else if (quoted) {
        if (control || has("'\\")) {
          fault =
              "would end the quoted value (it holds a quote or a backslash): use the "
              "postgres:// URL form with the value percent-encoded";
        }
      } else if (control || value.empty() || has(" \t'\\=")) {
        fault =
            "would add a keyword to the connection string (it is empty or holds whitespace, "
            "'=', a quote or a backslash): quote it, as in password='${" +
            name + "}'";
      }
      if (!fault.empty()) throw ConfigError(field, "the value of ${" + name + "} " + fault);
      i = close;
      continue;
    }
    if (uri) {
      if (c == '?') in_query = true;
    } else if (quoted && c == '\\') {
      ++i;  // an escaped character inside quotes
    } else if (c == '\'') {
      quoted = !quoted;
    }
  }
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
