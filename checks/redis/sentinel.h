// Finding the master of a redis+sentinel:// check: SENTINEL
// get-master-addr-by-name asked of the Sentinels in turn, on a kept
// connection to the one that answered last.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "checks/check.h"
#include "checks/common/url.h"
#include "checks/redis/redis_connection.h"

namespace vigil {

class SentinelResolver {
 public:
  SentinelResolver(std::vector<HostAndPort> sentinels, std::string master_name)
      : sentinels_(std::move(sentinels)), master_name_(std::move(master_name)) {}

  // Asks the Sentinels in turn, starting with the one that answered last, on
  // a kept connection. Sets *master and returns nullopt when one names the
  // master; a failed or timed-out result when none does before the deadline.
  std::optional<CheckResult> FindMaster(Deadline deadline, HostAndPort* master);

  // Drops the kept connection to a Sentinel.
  void Close() { conn_.Close(); }

  // TLS to the Sentinels (rediss+sentinel://).
  void UseTls(TlsConfig tls) { conn_.UseTls(std::move(tls)); }

  // AUTH to each Sentinel on connecting (empty: no AUTH). `lenient`: a
  // Sentinel with no password configured is asked anyway (the password was
  // given once for the master and the Sentinels alike).
  void SetPassword(std::string password, bool lenient) {
    password_ = std::move(password);
    lenient_ = lenient;
  }

 private:
  enum class Answer { kMaster, kLost, kNone };

  Answer Ask(Deadline deadline, HostAndPort* master, std::string* error, bool authenticate,
             FailureKind* kind);

  const std::vector<HostAndPort> sentinels_;
  const std::string master_name_;
  RedisConnection conn_;
  size_t index_ = 0;  // the Sentinel on conn_, or the one to ask first
  std::string password_;
  bool lenient_ = false;
};

// The reply of a server that has no password to AUTH against ("AUTH <password>
// called without any password configured", "no password is set" before 6.0).
bool NoPasswordConfigured(const RedisReply& reply);

}  // namespace vigil
