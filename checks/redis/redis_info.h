// What a Redis server says of itself in INFO (and CLUSTER INFO), and what
// the `redis` kind makes of it: the signals, and the fields that fail or
// warn a run (docs/checks.md).
#pragma once

#include <map>
#include <optional>
#include <string>

#include "checks/check.h"

namespace vigil {

// key -> value of "# Section\r\nkey:value\r\n..." (INFO, CLUSTER INFO).
using InfoFields = std::map<std::string, std::string>;

InfoFields ParseInfo(const std::string& text);

// The value of `key`; "" when absent.
std::string InfoField(const InfoFields& fields, const char* key);

struct InfoVerdict {
  // "loading dataset", or a role other than the one expected.
  std::optional<CheckResult> failed;
  // used_memory over max_memory_ratio of maxmemory (when maxmemory is set).
  std::optional<std::string> memory_warning;
  bool cluster_enabled = false;  // cluster_enabled:1
};

// Judges INFO's fields: `expect_role` "" (any), "master" or "replica";
// `max_memory_ratio` of maxmemory warns above it. Sets the role and memory
// signals first, so that a run that fails still reports what it read.
InfoVerdict JudgeInfo(const InfoFields& fields, const std::string& expect_role,
                      double max_memory_ratio, CheckSignals* signals);

}  // namespace vigil
