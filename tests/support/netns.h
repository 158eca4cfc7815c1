// A private network namespace joined to the host by a veth pair, for tests
// that need a dependency to black-hole packets (connect hangs, an established
// connection stalls) rather than refuse them.
//
//   host:       vh<pid>s<n>  10.213.X.1/24   (never taken down)
//   namespace:  vn<pid>s<n>  10.213.X.2/24   lo up, no default route
//
// X is derived from the pid and picked, under a lock shared with the soak
// driver (tests/soak/netns.py), among the /24s of 10.213.0.0/16 that no route
// uses. A `blackhole 10.213.X.0/24 metric 4242` route sits behind the veth's
// own route: should the kernel ever ignore the veth route, traffic for the
// subnet is dropped instead of leaking to the default route.
//
// Faults are applied inside the namespace only: iptables DROP on a TCP port,
// or the namespace side of the veth down. Every command is bounded (`timeout`).
// Servers run inside through a Launcher (tests/support/launcher.h): RedisServer
// and PgServer take one. The destructor always kills what runs inside,
// deletes the namespace, the veth and the route; namespaces left by a killed test run (named
// vigil-bh-<pid>-<n> with a dead pid) are removed by the next run.
#pragma once

#include <string>
#include <vector>

namespace vigil::testing {

class NetNs {
 public:
  // Creates the namespace, the veth pair and the addresses. Throws
  // std::runtime_error naming the step that failed (and cleans up).
  NetNs();
  ~NetNs();
  NetNs(const NetNs&) = delete;
  NetNs& operator=(const NetNs&) = delete;

  // Whether this process may create namespaces, veth pairs and iptables
  // rules: tried once (a namespace made and removed), the answer cached.
  // On false, `why` (if given) says what was missing, for GTEST_SKIP.
  static bool IsPermitted(std::string* why = nullptr);

  const std::string& name() const { return name_; }
  const std::string& address() const { return ns_address_; }         // 10.213.X.2
  const std::string& host_address() const { return host_address_; }  // 10.213.X.1
  const std::string& inner_interface() const { return inner_if_; }
  const std::string& host_interface() const { return host_if_; }

  // `ip netns exec NAME sh -c COMMAND`, bounded to `timeout_s`; exit status.
  int Exec(const std::string& command, int timeout_s = 60) const;
  // The same, with stdout (and stderr) captured.
  std::string ExecOutput(const std::string& command, int timeout_s = 60) const;

  // Inside the namespace: `iptables -A INPUT -p tcp --dport PORT -j DROP`.
  // SYNs and segments of established connections vanish. Throws on failure.
  void DropTcpPort(int port);
  void UndropTcpPort(int port);
  void UndropAll();
  // `ip -n NAME link set INNER down` / up: the namespace side only, never the
  // host side. Throws on failure.
  void LinkDownInside();
  void LinkUpInside();

 private:
  void Destroy();

  std::string name_, host_if_, inner_if_;
  std::string host_address_, ns_address_, subnet_;
  bool route_added_ = false;
  std::vector<int> dropped_;
};

}  // namespace vigil::testing
