#include "checks/redis/redis_info.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

#include "checks/common/untrusted_text.h"

namespace vigil {
namespace {

double Number(const std::string& s) { return s.empty() ? 0 : std::strtod(s.c_str(), nullptr); }

std::string MemoryWarning(double used, double max, double max_memory_ratio) {
  // Clamped before the cast: a server (or a proxy) saying used_memory:1e300
  // or inf must not make it undefined behaviour.
  const double percent = std::min(100 * used / max, 1e15);
  return "used_memory is " + std::to_string(static_cast<long long>(percent)) +
         "% of maxmemory (over " + std::to_string(static_cast<int>(max_memory_ratio * 100 + 0.5)) +
         "%)";
}

}  // namespace

InfoFields ParseInfo(const std::string& text) {
  InfoFields fields;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    // A value may end up in a reason ("cluster_state is ..."): untrusted.
    fields[line.substr(0, colon)] = UntrustedText(line.substr(colon + 1), 64);
  }
  return fields;
}

std::string InfoField(const InfoFields& fields, const char* key) {
  auto it = fields.find(key);
  return it == fields.end() ? std::string() : it->second;
}

InfoVerdict JudgeInfo(const InfoFields& fields, const std::string& expect_role,
                      double max_memory_ratio, CheckSignals* signals) {
  InfoVerdict v;
  std::string role = InfoField(fields, "role");
  if (role == "slave") role = "replica";
  if (role == "master" || role == "replica") signals->redis_role = role;
  const double used = Number(InfoField(fields, "used_memory"));
  const double max = Number(InfoField(fields, "maxmemory"));
  if (max > 0 && std::isfinite(used / max)) signals->redis_memory_ratio = used / max;

  if (InfoField(fields, "loading") == "1") {
    v.failed = CheckResult::Fail(FailureKind::kLoading, "loading dataset");
  } else if (!expect_role.empty() && !role.empty() && role != expect_role) {
    v.failed =
        CheckResult::Fail(FailureKind::kRole, "role is " + role + ", expected " + expect_role);
  }
  v.cluster_enabled = InfoField(fields, "cluster_enabled") == "1";
  if (max > 0 && used / max > max_memory_ratio) {
    v.memory_warning = MemoryWarning(used, max, max_memory_ratio);
  }
  return v;
}

}  // namespace vigil
