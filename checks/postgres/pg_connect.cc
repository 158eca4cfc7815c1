#include "checks/postgres/pg_connect.h"

#include <arpa/inet.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>

#include "checks/common/net.h"
#include "checks/common/tls.h"
#include "checks/postgres/pg_failure.h"

namespace vigil {
namespace {

// Addresses of one name handed to libpq, tried in turn; a probe needs few.
constexpr size_t kMaxAddresses = 4;

// "10.0.0.7" / "::1" out of a resolved endpoint, for libpq's hostaddr.
std::string NumericHost(const Endpoint& ep) {
  char buf[INET6_ADDRSTRLEN] = {0};
  if (ep.addr.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ep.addr)->sin_addr, buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&ep.addr)->sin6_addr, buf,
              sizeof buf);
  }
  return buf;
}

// The numeric addresses to hand libpq: the url's hostaddr, or the host
// resolved here, under the deadline; none for a Unix socket.
std::optional<CheckResult> Addresses(const PgDsn& dsn, Deadline deadline,
                                     std::vector<std::string>* addrs) {
  if (!dsn.hostaddr.empty()) {
    addrs->push_back(dsn.hostaddr);
    return std::nullopt;
  }
  if (dsn.IsUnixSocket()) return std::nullopt;
  std::vector<Endpoint> eps;
  NetResult r = Resolve(dsn.host, dsn.port, deadline, &eps);
  if (r.status == NetStatus::kTimeout) return CheckResult::Timeout("resolving " + dsn.host);
  if (r.status != NetStatus::kOk) return CheckResult::Fail(r.kind, r.error);
  for (const Endpoint& ep : eps) {
    if (addrs->size() >= kMaxAddresses) break;
    std::string a = NumericHost(ep);
    bool seen = false;
    for (const auto& x : *addrs) seen = seen || x == a;
    if (!seen) addrs->push_back(a);
  }
  if (addrs->empty()) return CheckResult::Fail(FailureKind::kDns, "no address for " + dsn.host);
  return std::nullopt;
}

// libpq's host, hostaddr and port: one "host" per address, all with the
// configured name so that TLS verifies the name while libpq connects to the
// address resolved here.
struct HostKeywords {
  std::string hosts, hostaddrs, ports;
};

HostKeywords HostKeywordsFor(const PgConnectRequest& request,
                             const std::vector<std::string>& addrs) {
  const PgDsn& dsn = *request.dsn;
  HostKeywords out;
  const std::string port = std::to_string(dsn.port);
  if (addrs.empty()) {
    out.hosts = dsn.host;
    out.ports = port;
  }
  // tls.server_name: libpq verifies (and sends as SNI) the `host` it is
  // given, and connects to `hostaddr`.
  const std::string name = !request.server_name.empty() ? request.server_name : dsn.host;
  for (size_t i = 0; i < addrs.size(); ++i) {
    const char* sep = i == 0 ? "" : ",";
    out.hosts += sep + (name.empty() ? addrs[i] : name);
    out.hostaddrs += sep + addrs[i];
    out.ports += sep + port;
  }
  return out;
}

// A failed connection attempt, its kind from the SQLSTATE when the server
// sent one, and its line without the code (as in libpq's default form).
CheckResult ConnectFailure(PGconn* conn, const std::string& password) {
  std::string message = conn != nullptr ? PQerrorMessage(conn) : "";
  const std::string sqlstate = TakeSqlstate(&message);
  FailureKind kind = PgSqlstateKind(sqlstate);
  if (sqlstate.empty()) {
    kind = conn != nullptr && PQconnectionNeedsPassword(conn) ? FailureKind::kAuth
                                                              : PgClientFailureKind(message);
  }
  return CheckResult::Fail(kind, PgErrorLine(message, password));
}

// PQconnectPoll to the end, each wait polled against the deadline.
std::optional<CheckResult> PollConnect(PGconn* conn, const PgConnectRequest& request,
                                       Deadline deadline) {
  // Per libpq's docs: act as if PQconnectPoll had asked to write.
  PostgresPollingStatusType st = PGRES_POLLING_WRITING;
  for (;;) {
    if (st == PGRES_POLLING_OK) return std::nullopt;
    if (st == PGRES_POLLING_FAILED) return ConnectFailure(conn, request.dsn->password);
    int fd = PQsocket(conn);
    if (fd < 0) return ConnectFailure(conn, request.dsn->password);
    NetResult w = WaitFd(fd, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
    // libpq's default sslmode=prefer asks every server for TLS first: only
    // a check that requires TLS calls a stall there a handshake timeout.
    if (w.status == NetStatus::kTimeout && request.tls_required &&
        PQstatus(conn) == CONNECTION_SSL_STARTUP) {
      return HandshakeTimeoutResult();
    }
    if (w.status == NetStatus::kTimeout) return CheckResult::Timeout("connecting");
    if (w.status == NetStatus::kError) return CheckResult::Fail(w.error);
    st = PQconnectPoll(conn);
  }
}

}  // namespace

PgParams PgBaseParams(const PgDsn& dsn, int statement_timeout_ms) {
  PgParams params;
  bool has_app_name = false, has_gssencmode = false;
  std::string options;
  for (const auto& kv : dsn.params) {
    if (kv.first == "options") {
      options = kv.second;
      continue;
    }
    if (kv.first == "application_name") has_app_name = true;
    if (kv.first == "gssencmode") has_gssencmode = true;
    params.push_back(kv);
  }
  if (!has_app_name) params.emplace_back("application_name", "vigil");
  // GSSAPI's "prefer" may look for Kerberos credentials (and a KDC) on the
  // connect path, outside our deadline; ask for it explicitly if you use it.
  if (!has_gssencmode) params.emplace_back("gssencmode", "disable");
  // A server-side bound too, so a stuck statement cannot hold a backend
  // after we gave up on it.
  if (!options.empty()) options += " ";
  options += "-c statement_timeout=" + std::to_string(statement_timeout_ms);
  params.emplace_back("options", options);
  if (!dsn.password.empty()) params.emplace_back("password", dsn.password);
  return params;
}

CheckResult ConnectPg(const PgConnectRequest& request, Deadline deadline, PGconn** conn) {
  const std::string& password = request.dsn->password;
  std::vector<std::string> addrs;
  if (auto failed = Addresses(*request.dsn, deadline, &addrs)) return *failed;
  const HostKeywords host = HostKeywordsFor(request, addrs);
  std::vector<const char*> keys, vals;
  auto add = [&](const char* k, const std::string& v) {
    keys.push_back(k);
    vals.push_back(v.c_str());
  };
  add("host", host.hosts);
  if (!host.hostaddrs.empty()) add("hostaddr", host.hostaddrs);
  add("port", host.ports);
  for (const auto& kv : *request.base_params) add(kv.first.c_str(), kv.second);
  keys.push_back(nullptr);
  vals.push_back(nullptr);

  if (Clock::now() >= deadline) return CheckResult::Timeout("connecting");
  *conn = PQconnectStartParams(keys.data(), vals.data(), 0);
  if (*conn == nullptr) return CheckResult::Fail("out of memory");
  // libpq prints NOTICE/WARNING messages to stderr raw by default; they go
  // to the agent's log instead, one line, scrubbed, each once.
  PQsetNoticeProcessor(*conn, request.notice, request.notice_arg);
  if (PQstatus(*conn) == CONNECTION_BAD) return ConnectFailure(*conn, password);
  // Only the verbose form of an error carries its SQLSTATE while
  // connecting (there is no result to ask): see ConnectFailure.
  PQsetErrorVerbosity(*conn, PQERRORS_VERBOSE);
  if (auto failed = PollConnect(*conn, request, deadline)) return *failed;
  PQsetErrorVerbosity(*conn, PQERRORS_DEFAULT);
  if (PQsetnonblocking(*conn, 1) != 0) {
    return CheckResult::Fail(PgErrorLine(PQerrorMessage(*conn), password));
  }
  return CheckResult::Pass();
}

std::optional<int64_t> PgPeerNotAfter(PGconn* conn) {
  if (!PQsslInUse(conn)) return std::nullopt;
  // libpq's OpenSSL session: the certificate the server presented.
  auto* ssl = static_cast<SSL*>(PQsslStruct(conn, "OpenSSL"));
  if (ssl == nullptr) return std::nullopt;
  X509* peer = SSL_get1_peer_certificate(ssl);
  std::optional<int64_t> not_after = CertNotAfter(peer);
  X509_free(peer);
  return not_after;
}

}  // namespace vigil
