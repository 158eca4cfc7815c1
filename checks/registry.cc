#include "checks/registry.h"

#include "checks/common/dns.h"
#include "checks/common/json_read.h"
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
  int IdleFd() const override { return inner_->IdleFd(); }
  bool IdleConnectionLost() override { return inner_->IdleConnectionLost(); }

 private:
  const std::unique_ptr<Check> inner_;
};

}  // namespace

std::string CheckSpec::RequireString(const char* key) const {
  return vigil::RequireString(json, key, Field(key));
}

std::string CheckSpec::OptionalString(const char* key, const std::string& fallback) const {
  return vigil::OptionalString(json, key, fallback, Field(key));
}

bool CheckSpec::OptionalBool(const char* key, bool fallback) const {
  return vigil::OptionalBool(json, key, fallback, Field(key));
}

double CheckSpec::OptionalNumber(const char* key, double fallback, double min, double max) const {
  return vigil::OptionalNumber(json, key, fallback, min, max, Field(key));
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
