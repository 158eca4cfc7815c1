// Name resolution that belongs to one check (docs/dns.md).
//
// Every check owns a CheckDns: its own lookups, at most one pending per name
// it uses, and the last addresses each name resolved to. Lookups run on
// c-ares (ares_getaddrinfo: resolv.conf, search domains, ndots, /etc/hosts as
// glibc reads them) driven by the check's own thread under the run's deadline:
// no helper thread, nothing shared between checks, so a resolver that never
// answers one check's name costs that check alone.
//
// The kinds do not see any of this: they call Resolve/ConnectTcp
// (checks/common/net.h) as before, and the registry wraps every check it builds so
// that its runs resolve through the check's own CheckDns (WithCheckDns).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "checks/check.h"
#include "checks/common/net.h"

namespace vigil {

// How long a check may fall back to addresses it resolved before, when DNS
// fails or does not answer; 0 disables the fallback.
constexpr int kDefaultDnsStaleS = 300;

class CheckDns {
 public:
  explicit CheckDns(int stale_s);
  ~CheckDns();
  CheckDns(const CheckDns&) = delete;
  CheckDns& operator=(const CheckDns&) = delete;

  // Resolves a name (never a numeric address: net.h does those inline).
  //  - A lookup of this name still pending from an earlier run is carried on,
  //    never started twice.
  //  - With no usable old addresses the lookup may take the whole deadline:
  //    kTimeout ("resolving HOST") when it does not answer by then.
  //  - With old addresses younger than stale_s, a new lookup gets half the
  //    time left (the other half is for connecting) and a lookup pending from
  //    an earlier run gets no wait at all; then the old addresses are used
  //    and the run is marked stale (StaleAgeS).
  NetResult Resolve(const std::string& host, int port, Deadline deadline,
                    std::vector<Endpoint>* out);

  // A run starts: forget the previous run's stale mark.
  void BeginRun();
  // Whole seconds since the oldest addresses this run fell back to were
  // resolved; nullopt when the run used none.
  std::optional<long> StaleAgeS() const { return stale_age_s_; }
  // Lookups this check has started that have not ended yet.
  int PendingLookups() const;

 private:
  struct Lookup;
  struct Name {
    std::unique_ptr<Lookup> pending;
    std::vector<Endpoint> last_good;  // port 0; empty: never resolved
    Clock::time_point resolved_at{};
    Clock::time_point used_at{};
  };
  Name& Entry(const std::string& host);

  const int stale_s_;
  long run_ = 0;
  std::optional<long> stale_age_s_;
  std::map<std::string, Name> names_;
};

// Lookups pending in the whole process (every check's), for tests and
// diagnostics. Bounded by the checks' names: one a name a check uses.
int DnsPendingLookupsTotal();

// Runs `inner` with its own CheckDns: Resolve/ConnectTcp called during a run
// resolve through it, and a run that fell back to old addresses and would
// pass is a `warn` ("DNS failing; using addresses from N s ago").
std::unique_ptr<Check> WithCheckDns(std::unique_ptr<Check> inner, int stale_s);

// The CheckDns of the run on this thread, or nullptr outside a check's run
// (then Resolve uses a CheckDns of its own for the one call).
CheckDns* CurrentCheckDns();

}  // namespace vigil
