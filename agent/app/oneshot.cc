// The runbook commands: `vigil check` (every check once) and `vigil probe`.
#include "agent/app/oneshot.h"

#include <cstdio>
#include <iostream>
#include <thread>

#include "agent/app/probe_client.h"
#include "agent/core/snapshot.h"
#include "agent/core/verdict.h"
#include "agent/log/redact.h"

namespace vigil {

namespace {

// A reason for the terminal: a dependency's text may hold control characters
// (an escape sequence would colour or rewrite the operator's screen).
std::string Printable(const std::string& s) {
  std::string out;
  for (char ch : s) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02X", c);
      out += buf;
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

}  // namespace

namespace {

// One check, once, against its own deadline, as a row of the table. A check
// that throws is a failed check with a reason, as in the daemon; an
// exception out of its thread would end the process.
CheckView RunOne(const CheckConfig& c, const CheckRegistry& registry, const Redactor& redactor) {
  CheckView v = IdentityOf(c);
  const auto t0 = Clock::now();
  std::unique_ptr<Check> check;
  CheckResult r;
  try {
    check = BuildCheck(c, registry);
    r = check->Run(t0 + std::chrono::milliseconds(c.timing.timeout_ms));
  } catch (const std::exception& e) {
    r = CheckResult::Fail(std::string("internal error: ") + e.what());
  } catch (...) {
    r = CheckResult::Fail("internal error");
  }
  v.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  if (r.timed_out) r.reason = TimeoutReasonOf(r, std::chrono::milliseconds(c.timing.timeout_ms));
  ApplyCertExpiry(
      &r, c.timing.cert_expiry_warn_days,
      std::chrono::duration_cast<std::chrono::seconds>(WallClock::now().time_since_epoch())
          .count());
  v.tls_not_after = r.tls_not_after;
  v.status = StatusOf(r.outcome);
  v.ever_passed = v.status != Status::kFail;
  v.reason = Printable(redactor.Scrub(r.reason));
  try {
    if (check) v.target = check->Target();
  } catch (...) {
  }
  return v;
}

void PrintTable(const HealthSnapshot& snap) {
  std::printf("%-24s %-9s %-12s %-8s %-7s %10s  %-9s %s\n", "CHECK", "KIND", "ROLE", "REQUIRED",
              "STATUS", "LATENCY", "CIRCUIT", "REASON");
  for (const auto& v : snap.checks) {
    std::printf("%-24s %-9s %-12s %-8s %-7s %8.2fms  %-9s %s\n", v.name.c_str(), v.kind.c_str(),
                v.role.c_str(), v.required ? "yes" : "no", StatusName(v.status), v.latency_ms,
                BreakerName(v.circuit), v.reason.empty() ? "-" : v.reason.c_str());
  }
}

}  // namespace

int RunChecksOnce(const Config& config, const CheckRegistry& registry) {
  Redactor redactor;
  redactor.SetSecrets(config.secrets);
  HealthSnapshot snap;
  snap.checks.resize(config.checks.size());
  std::vector<std::thread> threads;
  // All at once, each against its own deadline: the round takes as long as
  // the slowest check's timeout, not their sum.
  for (size_t i = 0; i < config.checks.size(); ++i) {
    threads.emplace_back([&, i] { snap.checks[i] = RunOne(config.checks[i], registry, redactor); });
  }
  for (auto& t : threads) t.join();
  PrintTable(snap);
  const bool ready = IsReady(snap);
  std::printf("\nstatus: %s, ready: %s\n", OverallName(OverallStatus(snap)), ready ? "yes" : "no");
  std::fflush(stdout);
  return ready ? 0 : 1;
}

namespace {

// The reason a probe got no answer, for a runbook reader.
std::string FailureText(ProbeFailure f, int timeout_ms) {
  switch (f) {
    case ProbeFailure::kConnect:
      break;
    case ProbeFailure::kConnectTimeout:
      return "no connection within " + std::to_string(timeout_ms) + " ms";
    case ProbeFailure::kRead:
      return "no complete answer within " + std::to_string(timeout_ms) +
             " ms, or the connection closed";
    case ProbeFailure::kWrite:
      return "the request could not be sent";
    case ProbeFailure::kNone:
      return "";
  }
  return "cannot connect (refused, unreachable or no such host)";
}

}  // namespace

int Probe(const std::string& url, int timeout_ms) {
  // scheme://host:port/path -> connect to host:port, GET /path.
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string::npos || url.compare(0, scheme_end, "http") != 0) {
    std::cerr << "error: want an http:// URL\n";
    return 2;
  }
  const size_t path_start = url.find('/', scheme_end + 3);
  const std::string base = url.substr(0, path_start);
  ProbeTarget target;
  if (path_start != std::string::npos) target.path = url.substr(path_start);
  // An authority that does not parse (user info, an empty host) names no
  // host that can be reached.
  ProbeAnswer res;
  if (!ParseProbeAuthority(base.substr(scheme_end + 3), &target)) {
    res.failure = ProbeFailure::kConnect;
  } else {
    res = ProbeGet(target, timeout_ms);
  }
  if (res.failure != ProbeFailure::kNone) {
    std::cerr << "error: no answer from " << RedactCredentials(base) << ": "
              << FailureText(res.failure, timeout_ms) << "\n";
    return 3;
  }
  if (res.status >= 200 && res.status < 400) {
    std::cout << res.status << "\n";
    return 0;
  }
  std::cerr << "unhealthy: HTTP " << res.status << "\n";
  return 1;
}

}  // namespace vigil
