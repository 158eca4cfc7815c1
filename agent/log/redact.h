// Scrubs credentials out of any text the agent prints: reasons, logs, errors.
// Checks never put a password in a reason on purpose; this is the second
// line of defence (a driver's error text may quote a connection string).
#pragma once

#include <string>
#include <vector>

#include "checks/common/thread_annotations.h"

namespace vigil {

class Redactor {
 public:
  // Replaces the set of secrets (plain and percent-encoded forms are both
  // scrubbed). Empty strings are ignored.
  void SetSecrets(const std::vector<std::string>& secrets);
  std::string Scrub(std::string text) const;

 private:
  mutable Mutex mu_;
  std::vector<std::string> needles_ VIGIL_GUARDED_BY(mu_);  // longest first
};

// "***" in place of the password of scheme://user:password@host URLs and of
// password=... keywords, for any text.
std::string RedactCredentials(std::string text);

}  // namespace vigil
