#include "checks/postgres/postgres_check.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <system_error>

#include <nlohmann/json.hpp>
#include <thread>

#include "checks/common/net.h"
#include "checks/common/tls.h"
#include "checks/postgres/pg_dsn.h"
#include "checks/postgres/pg_failure.h"

namespace vigil {
namespace {

// One round trip either way; the recovery columns only when asked for.
constexpr char kPingQuery[] = "SELECT 1";
// Lag as postgres_exporter reports it: 0 on a primary, and 0 on a replica
// that has replayed everything it received (an idle primary writes no
// commits, so now() - last replay timestamp alone would grow forever).
constexpr char kRecoveryQuery[] =
    "SELECT pg_is_in_recovery(), CASE WHEN NOT pg_is_in_recovery() THEN 0"
    " WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0"
    " ELSE GREATEST(0, COALESCE(EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp()), 0))"
    " END";

// Addresses of one name handed to libpq, tried in turn; a probe needs few.
constexpr size_t kMaxAddresses = 4;

struct PostgresOptions {
  bool require_primary = false;
  std::optional<double> max_replication_lag_s;
  bool keep_open = true;
  int statement_timeout_ms = 1000;
  std::optional<TlsConfig> tls;  // the `tls` object, mapped onto libpq's ssl* keywords
  // The check asked for TLS (an sslmode that requires it, or `tls`): the
  // server's certificate expiry is then reported.
  bool tls_required = false;
};

// The system CA bundle, for a `tls` object without ca_file: libpq 15 has no
// "sslrootcert=system" and would look in ~/.postgresql/root.crt.
std::string SystemCaBundle() {
  for (const char* f : {X509_get_default_cert_file(), "/etc/ssl/certs/ca-certificates.crt"}) {
    if (f != nullptr && access(f, R_OK) == 0) return f;
  }
  return {};
}

// The `tls` object as libpq keywords (docs/tls.md, "PostgreSQL"): ca_file ->
// sslrootcert, cert_file/key_file -> sslcert/sslkey, sslmode verify-full
// (require with insecure_skip_verify) unless the url sets one. A keyword set
// both in the url and in `tls` is refused: one place says it.
void MapTlsOntoDsn(const TlsConfig& tls, const std::string& field, PgDsn* dsn) {
  if (dsn->IsUnixSocket()) {
    throw ConfigError(field, "a Unix socket carries no TLS: name a TCP host in the url");
  }
  auto set = [&](const char* keyword, const std::string& value, const char* key) {
    if (value.empty()) return;
    if (!dsn->Param(keyword).empty()) {
      throw ConfigError(field + "." + key,
                        std::string("the url sets ") + keyword + " too: set it in one place");
    }
    dsn->params.emplace_back(keyword, value);
  };
  const std::string mode = dsn->Param("sslmode");
  if (tls.insecure_skip_verify && (mode == "verify-ca" || mode == "verify-full")) {
    throw ConfigError(field + ".insecure_skip_verify",
                      "contradicts sslmode=" + mode + " in the url");
  }
  if (mode == "disable" || mode == "allow" || mode == "prefer") {
    throw ConfigError(field, "the url says sslmode=" + mode + ": drop it, or the tls object");
  }
  if (!tls.insecure_skip_verify) {
    const std::string ca =
        tls.ca_file.empty() && dsn->Param("sslrootcert").empty() ? SystemCaBundle() : tls.ca_file;
    set("sslrootcert", ca, "ca_file");
  }
  set("sslcert", tls.cert_file, "cert_file");
  set("sslkey", tls.key_file, "key_file");
  if (mode.empty()) {
    dsn->params.emplace_back("sslmode", tls.insecure_skip_verify ? "require" : "verify-full");
  }
}

// At most one cancel request per check is in flight. PQcancel blocks (libpq
// 15 has no non-blocking cancel), and against a hung server it blocks until
// the server wakes up, so it runs on a detached thread that owns its PGcancel
// and this slot, never the check.
struct CancelSlot {
  std::atomic<bool> busy{false};
};

// The slot of a check name, shared by every instance of that check: a reload
// that rebuilds the check must not start a second cancel while the old
// instance's is stuck (the stuck thread keeps the slot alive).
std::shared_ptr<CancelSlot> CancelSlotFor(const std::string& name) {
  if (name.empty()) return std::make_shared<CancelSlot>();
  static std::mutex mu;
  static auto* slots = new std::map<std::string, std::weak_ptr<CancelSlot>>;
  std::lock_guard<std::mutex> lock(mu);
  for (auto it = slots->begin(); it != slots->end();) {
    it = it->second.expired() ? slots->erase(it) : std::next(it);
  }
  std::weak_ptr<CancelSlot>& weak = (*slots)[name];
  std::shared_ptr<CancelSlot> slot = weak.lock();
  if (!slot) {
    slot = std::make_shared<CancelSlot>();
    weak = slot;
  }
  return slot;
}

// Distinct server notices one check logs, then one line saying the rest
// are not: a chatty server cannot flood the log.
constexpr size_t kMaxDistinctNotices = 16;

void FireCancel(PGconn* conn, const std::shared_ptr<CancelSlot>& slot) {
  if (slot->busy.exchange(true)) return;  // the previous one is still stuck
  PGcancel* cancel = PQgetCancel(conn);
  if (cancel == nullptr) {
    slot->busy = false;
    return;
  }
  try {
    std::thread([cancel, slot] {
      char err[256];
      PQcancel(cancel, err, sizeof err);
      PQfreeCancel(cancel);
      slot->busy = false;
    }).detach();
  } catch (const std::system_error&) {
    PQfreeCancel(cancel);
    slot->busy = false;
  }
}

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

std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", s);
  return buf;
}

struct ResultFree {
  void operator()(PGresult* r) const { PQclear(r); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultFree>;

class PostgresCheck final : public Check {
 public:
  PostgresCheck(PgDsn dsn, PostgresOptions opts, const std::string& name)
      : dsn_(std::move(dsn)), opts_(std::move(opts)), cancel_(CancelSlotFor(name)) {
    // Everything but the addresses is fixed for the life of the check.
    bool has_app_name = false, has_gssencmode = false;
    std::string options;
    for (const auto& kv : dsn_.params) {
      if (kv.first == "options") {
        options = kv.second;
        continue;
      }
      if (kv.first == "application_name") has_app_name = true;
      if (kv.first == "gssencmode") has_gssencmode = true;
      base_params_.push_back(kv);
    }
    if (!has_app_name) base_params_.emplace_back("application_name", "vigil");
    // GSSAPI's "prefer" may look for Kerberos credentials (and a KDC) on the
    // connect path, outside our deadline; ask for it explicitly if you use it.
    if (!has_gssencmode) base_params_.emplace_back("gssencmode", "disable");
    // A server-side bound too, so a stuck statement cannot hold a backend
    // after we gave up on it.
    if (!options.empty()) options += " ";
    options += "-c statement_timeout=" + std::to_string(opts_.statement_timeout_ms);
    base_params_.emplace_back("options", options);
    if (!dsn_.password.empty()) base_params_.emplace_back("password", dsn_.password);
  }

  ~PostgresCheck() override { Drop(); }

  CheckResult Run(Deadline deadline) override {
    std::lock_guard<std::mutex> lock(run_mu_);
    const auto start = Clock::now();
    CheckResult r = Attempt(deadline);
    r.latency = std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - start);
    if (opts_.tls_required) {
      r.tls_not_after = tls_not_after_;
      if (opts_.tls) NoteInsecureOnce(*opts_.tls, &insecure_noted_, &r);
    }
    r.notes = std::move(notes_);
    notes_.clear();
    if (r.outcome == Outcome::kFail || !opts_.keep_open) Drop();
    if (close_requested_.exchange(false)) Drop();
    return r;
  }

  std::string Target() const override { return dsn_.Target(); }

  void Close() override {
    // Never wait for a run in flight: it drops the connection when it ends.
    std::unique_lock<std::mutex> lock(run_mu_, std::try_to_lock);
    if (!lock.owns_lock()) {
      close_requested_ = true;
      return;
    }
    Drop();
  }

 private:
  CheckResult Attempt(Deadline deadline) {
    const bool reused = conn_ != nullptr;
    if (!reused) {
      CheckResult c = Connect(deadline);
      if (c.outcome == Outcome::kFail) return c;
    }
    bool broken = false;
    CheckResult r = Query(deadline, &broken);
    // A kept-open connection the server has since closed (restart, idle
    // timeout, a pooler) says nothing about the server now: try once afresh.
    if (reused && broken && !r.timed_out && Clock::now() < deadline) {
      Drop();
      CheckResult c = Connect(deadline);
      if (c.outcome == Outcome::kFail) return c;
      r = Query(deadline, &broken);
    }
    return r;
  }

  CheckResult Connect(Deadline deadline) {
    std::vector<std::string> addrs;
    if (!dsn_.hostaddr.empty()) {
      addrs.push_back(dsn_.hostaddr);
    } else if (!dsn_.IsUnixSocket()) {
      // Resolve here, under the deadline: libpq's own lookup would block.
      std::vector<Endpoint> eps;
      NetResult r = Resolve(dsn_.host, dsn_.port, deadline, &eps);
      if (r.status == NetStatus::kTimeout) return CheckResult::Timeout("resolving " + dsn_.host);
      if (r.status != NetStatus::kOk) return CheckResult::Fail(r.kind, r.error);
      for (const Endpoint& ep : eps) {
        if (addrs.size() >= kMaxAddresses) break;
        std::string a = NumericHost(ep);
        bool seen = false;
        for (const auto& x : addrs) seen = seen || x == a;
        if (!seen) addrs.push_back(a);
      }
      if (addrs.empty()) return CheckResult::Fail(FailureKind::kDns, "no address for " + dsn_.host);
    }

    // One libpq "host" per address, all with the configured name so that TLS
    // verifies the name while libpq connects to the address we resolved.
    std::string hosts, hostaddrs, ports;
    const std::string port = std::to_string(dsn_.port);
    if (addrs.empty()) {
      hosts = dsn_.host;
      ports = port;
    }
    // tls.server_name: libpq verifies (and sends as SNI) the `host` it is
    // given, and connects to `hostaddr`.
    const std::string name =
        opts_.tls && !opts_.tls->server_name.empty() ? opts_.tls->server_name : dsn_.host;
    for (size_t i = 0; i < addrs.size(); ++i) {
      const char* sep = i == 0 ? "" : ",";
      hosts += sep + (name.empty() ? addrs[i] : name);
      hostaddrs += sep + addrs[i];
      ports += sep + port;
    }
    std::vector<const char*> keys, vals;
    auto add = [&](const char* k, const std::string& v) {
      keys.push_back(k);
      vals.push_back(v.c_str());
    };
    add("host", hosts);
    if (!hostaddrs.empty()) add("hostaddr", hostaddrs);
    add("port", ports);
    for (const auto& kv : base_params_) add(kv.first.c_str(), kv.second);
    keys.push_back(nullptr);
    vals.push_back(nullptr);

    if (Clock::now() >= deadline) return CheckResult::Timeout("connecting");
    conn_ = PQconnectStartParams(keys.data(), vals.data(), 0);
    if (conn_ == nullptr) return CheckResult::Fail("out of memory");
    // libpq prints NOTICE/WARNING messages to stderr raw by default; they go
    // to the agent's log instead, one line, scrubbed, each once.
    PQsetNoticeProcessor(conn_, &PostgresCheck::OnNotice, this);
    if (PQstatus(conn_) == CONNECTION_BAD) return ConnectFailure();
    // Only the verbose form of an error carries its SQLSTATE while
    // connecting (there is no result to ask): see ConnectFailure.
    PQsetErrorVerbosity(conn_, PQERRORS_VERBOSE);

    // Per libpq's docs: act as if PQconnectPoll had asked to write.
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    for (;;) {
      if (st == PGRES_POLLING_OK) break;
      if (st == PGRES_POLLING_FAILED) return ConnectFailure();
      int fd = PQsocket(conn_);
      if (fd < 0) return ConnectFailure();
      NetResult w = WaitFd(fd, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline);
      // libpq's default sslmode=prefer asks every server for TLS first: only
      // a check that requires TLS calls a stall there a handshake timeout.
      if (w.status == NetStatus::kTimeout && opts_.tls_required &&
          PQstatus(conn_) == CONNECTION_SSL_STARTUP) {
        return HandshakeTimeoutResult();
      }
      if (w.status == NetStatus::kTimeout) return CheckResult::Timeout("connecting");
      if (w.status == NetStatus::kError) return CheckResult::Fail(w.error);
      st = PQconnectPoll(conn_);
    }
    PQsetErrorVerbosity(conn_, PQERRORS_DEFAULT);
    if (PQsetnonblocking(conn_, 1) != 0) return CheckResult::Fail(ErrorLine());
    if (PQsslInUse(conn_)) {
      // libpq's OpenSSL session: the certificate the server presented.
      if (auto* ssl = static_cast<SSL*>(PQsslStruct(conn_, "OpenSSL"))) {
        X509* peer = SSL_get1_peer_certificate(ssl);
        if (auto not_after = CertNotAfter(peer)) tls_not_after_ = not_after;
        X509_free(peer);
      }
    }
    return CheckResult::Pass();
  }

  // A failed connection attempt, its kind from the SQLSTATE when the server
  // sent one, and its line without the code (as in libpq's default form).
  CheckResult ConnectFailure() const {
    std::string message = conn_ != nullptr ? PQerrorMessage(conn_) : "";
    const std::string sqlstate = TakeSqlstate(&message);
    FailureKind kind = PgSqlstateKind(sqlstate);
    if (sqlstate.empty()) {
      kind = conn_ != nullptr && PQconnectionNeedsPassword(conn_) ? FailureKind::kAuth
                                                                  : PgClientFailureKind(message);
    }
    return CheckResult::Fail(kind, PgErrorLine(message, dsn_.password));
  }

  CheckResult Query(Deadline deadline, bool* broken) {
    *broken = false;
    const bool recovery = opts_.require_primary || opts_.max_replication_lag_s.has_value();
    auto conn_failure = [&] {
      *broken = PQstatus(conn_) == CONNECTION_BAD;
      return CheckResult::Fail(ErrorLine());
    };
    if (!PQsendQuery(conn_, recovery ? kRecoveryQuery : kPingQuery)) return conn_failure();
    const int fd = PQsocket(conn_);
    for (;;) {
      int f = PQflush(conn_);
      if (f < 0) return conn_failure();
      if (f == 0) break;
      NetResult w = WaitFd(fd, POLLIN | POLLOUT, deadline);
      if (w.status == NetStatus::kTimeout) return CancelOnTimeout();
      if (w.status == NetStatus::kError) return CheckResult::Fail(w.error);
      if (!PQconsumeInput(conn_)) return conn_failure();
    }
    ResultPtr kept;
    for (;;) {
      if (!PQconsumeInput(conn_)) return conn_failure();
      bool done = false;
      while (!PQisBusy(conn_)) {
        ResultPtr res(PQgetResult(conn_));
        if (!res) {
          done = true;
          break;
        }
        if (!kept) kept = std::move(res);
      }
      if (done) break;
      NetResult w = WaitFd(fd, POLLIN, deadline);
      if (w.status == NetStatus::kTimeout) return CancelOnTimeout();
      if (w.status == NetStatus::kError) return CheckResult::Fail(w.error);
    }
    if (!kept) return conn_failure();
    if (PQresultStatus(kept.get()) != PGRES_TUPLES_OK) {
      *broken = PQstatus(conn_) == CONNECTION_BAD;
      const char* sqlstate = PQresultErrorField(kept.get(), PG_DIAG_SQLSTATE);
      return CheckResult::Fail(PgSqlstateKind(sqlstate != nullptr ? sqlstate : ""),
                               PgErrorLine(PQresultErrorMessage(kept.get()), dsn_.password));
    }
    if (!recovery) return CheckResult::Pass();
    return Judge(kept.get());
  }

  CheckResult Judge(const PGresult* res) const {
    if (PQntuples(res) != 1 || PQnfields(res) != 2) {
      return CheckResult::Fail(FailureKind::kProtocol, "unexpected reply to the recovery query");
    }
    const bool in_recovery = PQgetvalue(res, 0, 0)[0] == 't';
    const double lag = std::strtod(PQgetvalue(res, 0, 1), nullptr);
    CheckSignals signals;
    signals.postgres_in_recovery = in_recovery;
    if (in_recovery && std::isfinite(lag)) signals.postgres_replication_lag_s = lag;
    CheckResult r = CheckResult::Pass();
    if (opts_.require_primary && in_recovery) {
      r = CheckResult::Fail(FailureKind::kRole,
                            "server is in recovery (a replica), primary required");
    } else if (in_recovery && opts_.max_replication_lag_s && std::isfinite(lag) &&
               lag > *opts_.max_replication_lag_s) {
      r = CheckResult::Warn("replication lag " + FormatSeconds(lag) + " s over " +
                            FormatSeconds(*opts_.max_replication_lag_s) + " s");
    }
    r.signals = signals;
    return r;
  }

  CheckResult CancelOnTimeout() {
    FireCancel(conn_, cancel_);
    Drop();
    return CheckResult::Timeout("waiting for query");
  }

  static void OnNotice(void* arg, const char* message) {
    auto* self = static_cast<PostgresCheck*>(arg);
    try {
      self->Notice(PgErrorLine(message != nullptr ? message : "", self->dsn_.password));
    } catch (...) {
      // Never let an exception into libpq's C frames.
    }
  }

  // Called inside libpq calls of Run (or Drop), under run_mu_.
  void Notice(std::string line) {
    if (seen_notices_.count(line)) return;
    if (seen_notices_.size() >= kMaxDistinctNotices) {
      if (!notices_capped_) {
        notices_capped_ = true;
        notes_.push_back("server notice: more distinct notices; not logged any further");
      }
      return;
    }
    seen_notices_.insert(line);
    notes_.push_back("server notice: " + line);
  }

  std::string ErrorLine() const {
    return PgErrorLine(conn_ != nullptr ? PQerrorMessage(conn_) : "", dsn_.password);
  }

  void Drop() {
    // Non-blocking mode keeps PQfinish's goodbye message from blocking on a
    // full socket buffer.
    if (conn_ != nullptr) PQfinish(conn_);
    conn_ = nullptr;
  }

  const PgDsn dsn_;
  const PostgresOptions opts_;
  std::vector<std::pair<std::string, std::string>> base_params_;
  std::shared_ptr<CancelSlot> cancel_;
  std::mutex run_mu_;
  PGconn* conn_ = nullptr;                // Guarded by run_mu_.
  std::optional<int64_t> tls_not_after_;  // Guarded by run_mu_.
  bool insecure_noted_ = false;           // Guarded by run_mu_.
  std::atomic<bool> close_requested_{false};
  std::vector<std::string> notes_;      // Guarded by run_mu_.
  std::set<std::string> seen_notices_;  // Guarded by run_mu_.
  bool notices_capped_ = false;         // Guarded by run_mu_.
};

}  // namespace

CheckKind PostgresCheckKind() {
  CheckKind kind;
  kind.name = "postgres";
  kind.keys = {"url",       "require_primary",      "max_replication_lag_s",
               "keep_open", "statement_timeout_ms", kTlsKey};
  kind.default_role = "database";
  kind.create = [](const CheckSpec& spec) -> std::unique_ptr<Check> {
    PgDsn dsn = ParsePgDsn(spec.RequireString("url"), spec.Field("url"));
    if (spec.secrets != nullptr) {
      for (const auto& s : dsn.secrets) spec.secrets->push_back(s);
    }
    PostgresOptions opts;
    opts.tls = ParseTlsConfig(spec);
    if (opts.tls) MapTlsOntoDsn(*opts.tls, spec.Field(kTlsKey), &dsn);
    const std::string mode = dsn.Param("sslmode");
    opts.tls_required = mode == "require" || mode == "verify-ca" || mode == "verify-full";
    opts.require_primary = spec.OptionalBool("require_primary", false);
    if (spec.json.contains("max_replication_lag_s")) {
      opts.max_replication_lag_s = spec.OptionalNumber("max_replication_lag_s", 0, 0, 86400);
    }
    opts.keep_open = spec.OptionalBool("keep_open", true);
    // By default the server gives up on a statement when we do (at least 1 s:
    // a statement that is merely slow should not be cut off too eagerly).
    double fallback = 1000;
    auto t = spec.json.find("timeout_ms");
    if (t != spec.json.end() && t->is_number()) fallback = std::max(1000.0, t->get<double>());
    opts.statement_timeout_ms =
        static_cast<int>(spec.OptionalNumber("statement_timeout_ms", fallback, 1, 86400000));
    auto name = spec.json.find("name");
    return std::make_unique<PostgresCheck>(
        std::move(dsn), std::move(opts),
        name != spec.json.end() && name->is_string() ? name->get<std::string>() : "");
  };
  return kind;
}

}  // namespace vigil
