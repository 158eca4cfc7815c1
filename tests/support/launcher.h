// Where a test server runs: on the host, bound to 127.0.0.1 (the default), or
// inside a network namespace (tests/support/netns.h), bound to the
// namespace's address and reached from the host through its veth pair.
// RedisServer and PgServer take one; the NetNs must outlive every server
// started through it.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace vigil::testing {

class NetNs;

class Launcher {
 public:
  // The host: 127.0.0.1.
  Launcher();
  // Inside `ns`, on ns.address().
  explicit Launcher(const NetNs& ns);

  bool in_namespace() const { return !netns_.empty(); }
  // The address the server binds and clients dial.
  const std::string& address() const { return address_; }
  // The address the host's connections come from, as the server sees them:
  // 127.0.0.1, or the host side of the veth pair.
  const std::string& peer_address() const { return peer_address_; }
  // For messages: "the host" or "namespace NAME".
  std::string where() const;

  // Forks and execs argv[0] (PATH lookup) here, stdout and stderr appended to
  // `log_path`, stdin from /dev/null; the child dies with the calling thread
  // (PR_SET_PDEATHSIG). Returns the pid, or throws std::runtime_error.
  pid_t Spawn(const std::vector<std::string>& argv, const std::string& log_path) const;

  // A shell command line made to run here: as it is on the host, behind
  // `ip netns exec NAME` in a namespace.
  std::string Wrap(const std::string& command) const;

 private:
  std::string netns_;  // empty: the host
  std::string address_;
  std::string peer_address_;
};

}  // namespace vigil::testing
