// Helpers of the config parser's error texts: field names ("checks[1].url"),
// keys and values echoed safely. Internal to agent/config.
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace vigil {

bool Contains(const std::vector<std::string>& v, const std::string& s);
// "a, b, c"
std::string Join(const std::vector<std::string>& v);
// "parent.key", or "key" when parent is empty.
std::string Child(const std::string& parent, const std::string& key);
// Keys are printed as given but cut short: a key is user input too.
std::string ShortKey(const std::string& key);
// ` "value"` when the value is plainly not a secret, else "".
std::string Echo(const std::string& value);
// Throws "path.key: unknown key" for the first key of `obj` not in `allowed`.
void RejectUnknownKeys(const nlohmann::json& obj, const std::vector<std::string>& allowed,
                       const std::string& path);

}  // namespace vigil
