#include "checks/postgres/postgres_check.h"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <set>

#include <nlohmann/json.hpp>

#include "checks/common/net.h"
#include "checks/common/tls.h"
#include "checks/postgres/pg_cancel.h"
#include "checks/postgres/pg_connect.h"
#include "checks/postgres/pg_dsn.h"
#include "checks/postgres/pg_dsn_guard.h"
#include "checks/postgres/pg_failure.h"
#include "checks/postgres/pg_tls.h"

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

// Distinct server notices one check logs, then one line saying the rest
// are not: a chatty server cannot flood the log.
constexpr size_t kMaxDistinctNotices = 16;

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
      : dsn_(std::move(dsn)),
        opts_(std::move(opts)),
        base_params_(PgBaseParams(dsn_, opts_.statement_timeout_ms)),
        cancel_(CancelSlotFor(name)) {
    // Everything but the addresses is fixed for the life of the check.
    connect_.dsn = &dsn_;
    connect_.base_params = &base_params_;
    if (opts_.tls) connect_.server_name = opts_.tls->server_name;
    connect_.tls_required = opts_.tls_required;
    connect_.notice = &PostgresCheck::OnNotice;
    connect_.notice_arg = this;
  }

  ~PostgresCheck() override { Drop(); }

  CheckResult Run(Deadline deadline) override {
    CheckResult r = Attempt(deadline);
    if (opts_.tls_required) {
      r.tls_not_after = tls_not_after_;
      if (opts_.tls) NoteInsecureOnce(*opts_.tls, &insecure_noted_, &r);
    }
    r.notes = std::move(notes_);
    notes_.clear();
    if (r.outcome == Outcome::kFail || !opts_.keep_open) Drop();
    return r;
  }

  std::string Target() const override { return dsn_.Target(); }

  void Close() override { Drop(); }

  // The kept connection (keep_open): libpq reads what came between runs. A
  // server that went away (EOF, "terminating connection due to administrator
  // command") leaves it CONNECTION_BAD; a NOTICE or a parameter change is
  // consumed and the connection stays.
  int IdleFd() const override { return conn_ != nullptr ? PQsocket(conn_) : -1; }
  bool IdleConnectionLost() override {
    if (conn_ == nullptr) return false;
    // A server that terminates the session sends FATAL (libpq hands it to
    // the notice receiver while idle) and closes: the close may be read
    // only after it, so the socket is looked at again once it is consumed.
    if (PQconsumeInput(conn_) != 0 && PQstatus(conn_) != CONNECTION_BAD &&
        !PeerClosed(PQsocket(conn_))) {
      while (PGnotify* n = PQnotifies(conn_)) PQfreemem(n);
      return false;
    }
    Drop();
    return true;
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
    CheckResult r = ConnectPg(connect_, deadline, &conn_);
    if (r.outcome != Outcome::kFail) {
      if (auto not_after = PgPeerNotAfter(conn_)) tls_not_after_ = not_after;
    }
    return r;
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

  // Called inside libpq calls of Run (or Drop).
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
  const PgParams base_params_;
  PgConnectRequest connect_;
  std::shared_ptr<CancelSlot> cancel_;
  PGconn* conn_ = nullptr;
  std::optional<int64_t> tls_not_after_;
  bool insecure_noted_ = false;
  std::vector<std::string> notes_;  // this run's, from OnNotice
  std::set<std::string> seen_notices_;
  bool notices_capped_ = false;
};

}  // namespace

CheckKind PostgresCheckKind() {
  CheckKind kind;
  kind.name = "postgres";
  kind.display_name = "PostgreSQL";
  kind.component_type = "datastore";
  kind.keys = {"url",       "require_primary",      "max_replication_lag_s",
               "keep_open", "statement_timeout_ms", kTlsKey};
  kind.default_role = "database";
  kind.before_expansion = [](const nlohmann::json& raw, const std::string& path,
                             const ExpandReference& expand) {
    auto url = raw.find("url");
    if (url != raw.end() && url->is_string()) {
      RefuseDsnInjection(url->get<std::string>(), expand, path + ".url");
    }
  };
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
