// Typed reads of a JSON object's keys for the config parser and the check
// kinds' factories. Each throws ConfigError(field, fault) with the config
// place `field` given by the caller ("checks[2].url: must be a string").
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

namespace vigil {

// Throws "field: must be an object" unless `j` is one.
void RequireObject(const nlohmann::json& j, const std::string& field);

// obj[key], a non-empty string: "missing", "must be a string" or "must not
// be empty" otherwise.
std::string RequireString(const nlohmann::json& obj, const char* key, const std::string& field);

// obj[key] or `fallback` when absent; "must be a string" when not a string.
std::string OptionalString(const nlohmann::json& obj, const char* key, const std::string& fallback,
                           const std::string& field);

// obj[key] or `fallback` when absent; "must be true or false" otherwise.
bool OptionalBool(const nlohmann::json& obj, const char* key, bool fallback,
                  const std::string& field);

// obj[key] or `fallback` when absent: a finite number in min..max ("must be
// a number", "out of range (min..max)").
double OptionalNumber(const nlohmann::json& obj, const char* key, double fallback, double min,
                      double max, const std::string& field);

// obj[key] or `fallback` when absent: a whole number in min..max ("must be a
// number", "must be a whole number", "out of range: 0 (want 10..60000)").
int OptionalInt(const nlohmann::json& obj, const char* key, int fallback, int min, int max,
                const std::string& field);

}  // namespace vigil
