#include "agent/config/config_fields.h"

#include <algorithm>
#include <cctype>

#include <nlohmann/json.hpp>

#include "checks/registry.h"

namespace vigil {

bool Contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

std::string Join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::string Child(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// Keys are printed as given but cut short: a key is user input too.
std::string ShortKey(const std::string& key) {
  if (key.empty()) return "\"\"";
  return key.size() > 64 ? key.substr(0, 64) + "..." : key;
}

// A bad value is quoted back only when it is plainly not a secret: short,
// and made of the characters of names, numbers and addresses. Anything else
// (a URL with credentials pasted into the wrong key, a password) is not
// repeated.
std::string Echo(const std::string& value) {
  const bool plain =
      !value.empty() && value.size() <= 64 && std::all_of(value.begin(), value.end(), [](char ch) {
        const unsigned char c = static_cast<unsigned char>(ch);
        return std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '[' ||
               c == ']';
      });
  return plain ? " \"" + value + "\"" : std::string();
}

void RejectUnknownKeys(const nlohmann::json& obj, const std::vector<std::string>& allowed,
                       const std::string& path) {
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    if (!Contains(allowed, it.key()))
      throw ConfigError(Child(path, ShortKey(it.key())), "unknown key");
  }
}

}  // namespace vigil
