// A real DNS server for tests: Debian's dnsmasq on UDP/TCP port 53 of a
// loopback address of its own (127.53.X.Y, picked among free ones), answering
// A records from a hosts file the test rewrites (SetRecords reloads it with
// SIGHUP), TTL 0, NXDOMAIN for any other name under `.test`, nothing
// forwarded anywhere. c-ares only asks port 53, so a program that should use
// it gets a resolv.conf naming it (resolv_conf(); AgentOptions::resolv_conf
// mounts it over /etc/resolv.conf for one agent). Needs root (port 53) and
// the dnsmasq binary (package dnsmasq-base); Available() says why not.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace vigil::testing {

class Dnsmasq {
 public:
  // Starts dnsmasq and waits (bounded) until it answers; throws
  // std::runtime_error when it cannot.
  Dnsmasq();
  ~Dnsmasq();
  Dnsmasq(const Dnsmasq&) = delete;
  Dnsmasq& operator=(const Dnsmasq&) = delete;

  // Whether dnsmasq can run here; `why` (if given) says what is missing.
  static bool Available(std::string* why = nullptr);

  const std::string& address() const { return address_; }
  // A resolv.conf with this server as the only nameserver (timeout 1 s,
  // 2 tries), in the server's temp dir.
  const std::string& resolv_conf() const { return resolv_conf_; }

  // `name` (fully qualified, under .test) now answers exactly `ipv4s` (none:
  // NXDOMAIN). Rewrites the hosts file, SIGHUPs dnsmasq and waits until it
  // answers the new set (bounded, 5 s); throws when it does not.
  void SetRecords(const std::string& name, const std::vector<std::string>& ipv4s);

  // Asks this server for the A records of `name` over UDP: the addresses
  // (sorted), empty for NXDOMAIN / no data; `ok` false when no answer came
  // within 1 s.
  std::vector<std::string> Query(const std::string& name, bool* ok = nullptr) const;

  // dnsmasq's log (queries are logged).
  std::string Log() const;

 private:
  bool StartOn(const std::string& address);
  void WriteHosts() const;
  void Kill();

  std::string dir_, address_, resolv_conf_;
  pid_t pid_ = -1;
  std::map<std::string, std::vector<std::string>> records_;
};

}  // namespace vigil::testing
