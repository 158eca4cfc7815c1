#include "checks/common/json_read.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "checks/registry.h"

namespace vigil {

void RequireObject(const nlohmann::json& j, const std::string& field) {
  if (!j.is_object()) throw ConfigError(field, "must be an object");
}

std::string RequireString(const nlohmann::json& obj, const char* key, const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end()) throw ConfigError(field, "missing");
  if (!it->is_string()) throw ConfigError(field, "must be a string");
  if (it->get_ref<const std::string&>().empty()) throw ConfigError(field, "must not be empty");
  return it->get<std::string>();
}

std::string OptionalString(const nlohmann::json& obj, const char* key, const std::string& fallback,
                           const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_string()) throw ConfigError(field, "must be a string");
  return it->get<std::string>();
}

bool OptionalBool(const nlohmann::json& obj, const char* key, bool fallback,
                  const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_boolean()) throw ConfigError(field, "must be true or false");
  return it->get<bool>();
}

namespace {

// 0.5 -> "0.5", 3600 -> "3600".
std::string ShortNumber(double d) {
  std::string s = std::to_string(d);
  s.erase(s.find_last_not_of('0') + 1);
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

}  // namespace

double OptionalNumber(const nlohmann::json& obj, const char* key, double fallback, double min,
                      double max, const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_number()) throw ConfigError(field, "must be a number");
  double v = it->get<double>();
  if (!std::isfinite(v) || v < min || v > max) {
    throw ConfigError(field, "out of range (" + ShortNumber(min) + ".." + ShortNumber(max) + ")");
  }
  return v;
}

int OptionalInt(const nlohmann::json& obj, const char* key, int fallback, int min, int max,
                const std::string& field) {
  auto it = obj.find(key);
  if (it == obj.end()) return fallback;
  if (!it->is_number()) throw ConfigError(field, "must be a number");
  double v = it->get<double>();
  if (!std::isfinite(v) || std::floor(v) != v) throw ConfigError(field, "must be a whole number");
  if (v < min || v > max) {
    throw ConfigError(field, "out of range: " + it->dump() + " (want " + std::to_string(min) +
                                 ".." + std::to_string(max) + ")");
  }
  return static_cast<int>(v);
}

}  // namespace vigil
