// A small real DNS server over UDP for tests that need a resolver whose
// answers they control: A records from a table, AAAA answered empty, other
// names NXDOMAIN; it can go silent (queries vanish) or answer SERVFAIL, and
// names containing a given word are never answered. Runs on a thread of its
// own until destroyed. Used inside a private network namespace on
// 127.0.0.1:53 (tests/integration/dns_test.cc).
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace vigil::testing {

class DnsResponder {
 public:
  enum class Mode { kAnswer, kSilent, kServfail };

  // Binds UDP ip:port; throws std::runtime_error when it cannot.
  explicit DnsResponder(const std::string& ip = "127.0.0.1", int port = 53);
  ~DnsResponder();
  DnsResponder(const DnsResponder&) = delete;
  DnsResponder& operator=(const DnsResponder&) = delete;

  // `fqdn` (no trailing dot, any case) answers `ipv4` in kAnswer mode.
  void Set(const std::string& fqdn, const std::string& ipv4);
  // Names that contain `word` get no answer, in any mode.
  void NeverAnswer(const std::string& word);
  void SetMode(Mode mode) { mode_.store(mode); }
  // Queries received so far, for one name (exact) or all ("").
  int Queries(const std::string& fqdn = "") const;

 private:
  void Serve();
  std::string Answer(const unsigned char* q, size_t n);

  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::atomic<Mode> mode_{Mode::kAnswer};
  mutable std::mutex mu_;
  std::map<std::string, std::string> records_;  // Guarded by mu_.
  std::vector<std::string> never_;              // Guarded by mu_.
  std::map<std::string, int> queries_;          // Guarded by mu_.
  int total_queries_ = 0;                       // Guarded by mu_.
  std::thread thread_;
};

}  // namespace vigil::testing
