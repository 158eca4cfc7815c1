#include "checks/registry.h"

#include <cmath>

#include "checks/common/dns.h"
#include "checks/http/http_check.h"
#include "checks/postgres/postgres_check.h"
#include "checks/redis/redis_check.h"
#include "checks/tcp/tcp_check.h"

namespace vigil {
namespace {

// Sets CheckResult::latency for every kind alike: how long Run took.
class TimedCheck final : public Check {
 public:
  explicit TimedCheck(std::unique_ptr<Check> inner) : inner_(std::move(inner)) {}

  CheckResult Run(Deadline deadline) override {
    const auto start = Clock::now();
    CheckResult r = inner_->Run(deadline);
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    return r;
  }
  std::string Target() const override { return inner_->Target(); }
  void Close() override { inner_->Close(); }

 private:
  const std::unique_ptr<Check> inner_;
};

}  // namespace

std::string CheckSpec::RequireString(const char* key) const {
  auto it = json.find(key);
  if (it == json.end()) throw ConfigError(Field(key), "missing");
  if (!it->is_string()) throw ConfigError(Field(key), "must be a string");
  if (it->get_ref<const std::string&>().empty()) throw ConfigError(Field(key), "must not be empty");
  return it->get<std::string>();
}

std::string CheckSpec::OptionalString(const char* key, const std::string& fallback) const {
  auto it = json.find(key);
  if (it == json.end()) return fallback;
  if (!it->is_string()) throw ConfigError(Field(key), "must be a string");
  return it->get<std::string>();
}

bool CheckSpec::OptionalBool(const char* key, bool fallback) const {
  auto it = json.find(key);
  if (it == json.end()) return fallback;
  if (!it->is_boolean()) throw ConfigError(Field(key), "must be true or false");
  return it->get<bool>();
}

double CheckSpec::OptionalNumber(const char* key, double fallback, double min, double max) const {
  auto it = json.find(key);
  if (it == json.end()) return fallback;
  if (!it->is_number()) throw ConfigError(Field(key), "must be a number");
  double v = it->get<double>();
  if (!std::isfinite(v) || v < min || v > max) {
    auto fmt = [](double d) {
      std::string s = std::to_string(d);
      s.erase(s.find_last_not_of('0') + 1);
      if (!s.empty() && s.back() == '.') s.pop_back();
      return s;
    };
    throw ConfigError(Field(key), "out of range (" + fmt(min) + ".." + fmt(max) + ")");
  }
  return v;
}

const CheckRegistry& CheckRegistry::Builtin() {
  static const CheckRegistry* registry = [] {
    auto* r = new CheckRegistry;
    r->Register(RedisCheckKind());
    r->Register(PostgresCheckKind());
    r->Register(TcpCheckKind());
    r->Register(HttpCheckKind());
    return r;
  }();
  return *registry;
}

void CheckRegistry::Register(CheckKind kind) {
  // Every check gets name resolution of its own: one check's stuck lookups
  // never hold up another's. And its run is timed here, not by each kind.
  kind.create = [create = std::move(kind.create)](const CheckSpec& spec) -> std::unique_ptr<Check> {
    return std::make_unique<TimedCheck>(WithCheckDns(create(spec), spec.dns_stale_s));
  };
  kinds_.push_back(std::move(kind));
}

const CheckKind* CheckRegistry::Find(const std::string& name) const {
  for (const auto& k : kinds_)
    if (k.name == name) return &k;
  return nullptr;
}

std::vector<std::string> CheckRegistry::Names() const {
  std::vector<std::string> out;
  for (const auto& k : kinds_) out.push_back(k.name);
  return out;
}

}  // namespace vigil
