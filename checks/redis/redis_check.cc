#include "checks/redis/redis_check.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>

#include <nlohmann/json.hpp>

#include "checks/common/net.h"
#include "checks/common/tls.h"
#include "checks/redis/redis_connection.h"
#include "checks/redis/redis_info.h"
#include "checks/redis/redis_url.h"
#include "checks/redis/sentinel.h"

namespace vigil {
namespace {

struct RedisOptions {
  std::string expect_role;  // "", "master" or "replica"
  double max_memory_ratio = 0.9;
  double slow_ms = 0;  // 0: no latency warning
  // Sentinel: AUTH to the Sentinels ("" none). `shared_password`: the URL's
  // password serves master and Sentinels alike, and a server with no
  // password configured is used without.
  std::string sentinel_password;
  bool shared_password = false;
  std::vector<std::string> secrets;  // every credential, scrubbed from reasons
};

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += sep;
    out += p;
  }
  return out;
}

bool SameAddress(const HostAndPort& a, const HostAndPort& b) {
  return a.host == b.host && a.port == b.port;
}

long long Ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// One kept-open connection to the server (the master, under Sentinel). A run
// in steady state is one pipelined round trip, PING + INFO, on it.
class RedisCheck final : public Check {
 public:
  RedisCheck(RedisUrl url, RedisOptions opts, std::optional<TlsConfig> tls)
      : url_(std::move(url)),
        opts_(std::move(opts)),
        tls_(std::move(tls)),
        sentinels_(url_.hosts, url_.master_name) {
    sentinels_.SetPassword(opts_.sentinel_password, opts_.shared_password);
    if (tls_) {
      conn_.UseTls(*tls_);
      sentinels_.UseTls(*tls_);
    }
    std::vector<std::string> hosts;
    for (const auto& h : url_.hosts) hosts.push_back(h.ToString());
    target_ = Join(hosts, ",");
  }

  CheckResult Run(Deadline deadline) override {
    signals_ = {};
    CheckResult r = Attempt(deadline);
    if (tls_) {
      // The certificate of the kept connection, or of the last one.
      if (auto not_after = conn_.tls_not_after()) tls_not_after_ = not_after;
      r.tls_not_after = tls_not_after_;
      NoteInsecureOnce(*tls_, &insecure_noted_, &r);
    }
    r.signals = signals_;
    // After a failure the connection is suspect (a timeout leaves it out of
    // step with the server; the server may be gone): start afresh next run.
    if (r.outcome == Outcome::kFail) conn_.Close();
    r.reason = Scrub(std::move(r.reason));
    return r;
  }

  std::string Target() const override { return target_; }

  // The kept connection to the server: Redis sends nothing unasked, so
  // anything readable between runs (EOF, RST, stray bytes) means it is lost.
  // Sentinel's kept connection is not watched: it is asked every run anyway.
  int IdleFd() const override { return conn_.fd(); }
  bool IdleConnectionLost() override {
    if (!IdleSocketLost(conn_.fd())) return false;
    conn_.Close();
    return true;
  }

  void Close() override {
    conn_.Close();
    sentinels_.Close();
  }

 private:
  struct Probe {
    CheckResult result;
    bool connection_lost = false;  // an I/O error, not a reply or a timeout
  };

  CheckResult Attempt(Deadline deadline) {
    HostAndPort where = url_.hosts[0];
    // Sentinel is asked on every run, not only when (re)connecting: after a
    // failover the old master keeps saying role:master until Sentinel demotes
    // it (seconds later, or never while it is cut off from the Sentinels but
    // not from this pod), and a check that only watched the role on its kept
    // connection would pass against it all that time. The cost is one small
    // command a run to a Sentinel, on a kept connection.
    if (url_.sentinel) {
      if (auto failed = sentinels_.FindMaster(deadline, &where)) return *failed;
    }
    target_ = where.ToString();
    // Sentinel moved the master: the kept connection goes to the old one.
    if (conn_.connected() && !SameAddress(connected_to_, where)) conn_.Close();
    if (conn_.connected()) {
      Probe p = RunProbe(deadline);
      if (!p.connection_lost) return p.result;
      // The kept connection was gone (server restarted, idle timeout, a
      // proxy): one fresh connection under the same deadline before calling
      // the server down.
      conn_.Close();
    }
    if (auto failed = Open(where, deadline)) return *failed;
    return RunProbe(deadline).result;
  }

  // Connects, then AUTH and SELECT in one round trip.
  std::optional<CheckResult> Open(const HostAndPort& where, Deadline deadline) {
    NetResult c = conn_.Connect(where.host, where.port, deadline);
    if (c.status == NetStatus::kTimeout && c.error == kHandshakeTimeout) {
      return HandshakeTimeoutResult();
    }
    if (c.status == NetStatus::kTimeout) return CheckResult::Timeout(c.error);
    if (c.status != NetStatus::kOk) return CheckResult::Fail(c.kind, c.error);
    connected_to_ = where;
    // Per connection: a new server (or a changed ACL) may answer otherwise.
    info_denied_ = false;
    cluster_info_denied_ = false;
    cluster_ = false;

    std::vector<std::vector<std::string>> hello;
    if (!url_.user.empty()) {
      hello.push_back({"AUTH", url_.user, url_.password});
    } else if (!url_.password.empty()) {
      hello.push_back({"AUTH", url_.password});
    }
    if (url_.db != 0) hello.push_back({"SELECT", std::to_string(url_.db)});
    if (hello.empty()) return std::nullopt;

    std::vector<RedisReply> replies;
    IoResult io = conn_.Exchange(hello, deadline, &replies);
    if (io.status == IoStatus::kTimeout) {
      return CheckResult::Timeout(hello[0][0] == "AUTH" ? "authenticating" : "selecting database");
    }
    if (io.status == IoStatus::kError) return CheckResult::Fail(io.kind, Lost(io.error));
    for (size_t i = 0; i < hello.size(); ++i) {
      if (!replies[i].IsError()) continue;
      if (hello[i][0] == "AUTH" && opts_.shared_password && NoPasswordConfigured(replies[i])) {
        continue;  // the URL's password was the Sentinels', not this server's
      }
      // Never the AUTH arguments: only the command's name.
      const bool auth = hello[i][0] == "AUTH";
      std::string what = auth ? "AUTH" : "SELECT " + std::to_string(url_.db);
      // Any refused AUTH is a credentials problem, whatever its code (ERR
      // when the server has no password set, WRONGPASS, ...).
      return CheckResult::Fail(auth ? FailureKind::kAuth : replies[i].ErrorKind(),
                               what + ": " + replies[i].str);
    }
    return std::nullopt;
  }

  // PING, and INFO unless it was refused on this connection (CLUSTER INFO
  // too on a node known to be in cluster mode), pipelined.
  std::vector<std::vector<std::string>> ProbeCommands() const {
    std::vector<std::vector<std::string>> commands = {{"PING"}};
    if (info_denied_) return commands;
    // Only the sections read (Redis 7 takes several; older ones one).
    if (info_sections_) {
      commands.push_back({"INFO", "persistence", "replication", "memory", "cluster"});
    } else {
      commands.push_back({"INFO"});
    }
    if (cluster_ && !cluster_info_denied_) commands.push_back({"CLUSTER", "INFO"});
    return commands;
  }

  Probe RunProbe(Deadline deadline) {
    const std::vector<std::vector<std::string>> commands = ProbeCommands();
    std::vector<RedisReply> replies;
    const auto sent = Clock::now();
    IoResult io = conn_.Exchange(commands, deadline, &replies);
    const auto round_trip = Clock::now() - sent;
    if (io.status == IoStatus::kTimeout) return {CheckResult::Timeout("waiting for PONG"), false};
    if (io.status == IoStatus::kError) return {CheckResult::Fail(io.kind, Lost(io.error)), true};

    const RedisReply& pong = replies[0];
    if (pong.IsError()) return {CheckResult::Fail(pong.ErrorKind(), "PING: " + pong.str)};
    if (pong.type != RedisReply::Type::kStatus || pong.str != "PONG") {
      return {CheckResult::Fail(FailureKind::kProtocol, "PING: unexpected reply")};
    }
    std::vector<std::string> warnings;
    std::string note;
    if (replies.size() > 1) {
      if (auto failed = ReadInfo(replies, deadline, &warnings, &note)) return {*failed};
    }
    if (opts_.slow_ms > 0 && Ms(round_trip) > opts_.slow_ms) {
      warnings.push_back("PING took " + std::to_string(Ms(round_trip)) + " ms (slow_ms " +
                         std::to_string(static_cast<long long>(opts_.slow_ms)) + ")");
    }
    if (!warnings.empty()) {
      if (!note.empty()) warnings.push_back(note);
      return {CheckResult::Warn(Join(warnings, "; "))};
    }
    // A pass with a reason: the one-time note, for the agent to log.
    CheckResult pass = CheckResult::Pass();
    pass.reason = note;
    return {pass};
  }

  // The INFO reply (replies[1]) and, in cluster mode, CLUSTER INFO's.
  std::optional<CheckResult> ReadInfo(const std::vector<RedisReply>& replies, Deadline deadline,
                                      std::vector<std::string>* warnings, std::string* note) {
    const RedisReply& info = replies[1];
    if (info.IsError()) return InfoRefused(info, note);
    if (info.type != RedisReply::Type::kString) {
      return CheckResult::Fail(FailureKind::kProtocol, "INFO: unexpected reply");
    }
    InfoVerdict v =
        JudgeInfo(ParseInfo(info.str), opts_.expect_role, opts_.max_memory_ratio, &signals_);
    if (v.failed) return v.failed;
    if (v.cluster_enabled && !cluster_info_denied_) {
      std::optional<CheckResult> failed =
          CheckCluster(replies.size() > 2 ? &replies[2] : nullptr, deadline, note);
      cluster_ = true;
      if (failed) return failed;
    } else {
      cluster_ = false;
    }
    if (v.memory_warning) warnings->push_back(*v.memory_warning);
    return std::nullopt;
  }

  // An error reply to INFO.
  std::optional<CheckResult> InfoRefused(const RedisReply& info, std::string* note) {
    if (Denied(info)) {
      // A user without INFO rights: the PING verdict stands; said once, then
      // INFO is not sent again on this connection (each denial would land in
      // the server's ACL LOG).
      info_denied_ = true;
      if (!noperm_noted_) *note = "INFO not permitted for this user (" + info.ErrorCode() + ")";
      noperm_noted_ = true;
      return std::nullopt;
    }
    if (info.ErrorCode() == "ERR" && info_sections_) {
      // Redis before 7 refuses several sections: plain INFO next run.
      info_sections_ = false;
      return std::nullopt;
    }
    return CheckResult::Fail(info.ErrorKind(), "INFO: " + info.str);
  }

  // cluster_state from CLUSTER INFO: pipelined with PING once the server is
  // known to be in cluster mode, fetched on its own the first time.
  std::optional<CheckResult> CheckCluster(const RedisReply* reply, Deadline deadline,
                                          std::string* note) {
    std::vector<RedisReply> replies;
    if (reply == nullptr) {
      IoResult io = conn_.Exchange({{"CLUSTER", "INFO"}}, deadline, &replies);
      if (io.status == IoStatus::kTimeout) return CheckResult::Timeout("waiting for CLUSTER INFO");
      if (io.status == IoStatus::kError) return CheckResult::Fail(io.kind, Lost(io.error));
      reply = &replies[0];
    }
    if (reply->IsError()) {
      if (Denied(*reply)) {
        cluster_info_denied_ = true;
        if (!noperm_noted_) *note = "CLUSTER INFO not permitted for this user";
        noperm_noted_ = true;
        return std::nullopt;
      }
      return CheckResult::Fail(reply->ErrorKind(), "CLUSTER INFO: " + reply->str);
    }
    if (reply->type != RedisReply::Type::kString) {
      return CheckResult::Fail(FailureKind::kProtocol, "CLUSTER INFO: unexpected reply");
    }
    std::string state = InfoField(ParseInfo(reply->str), "cluster_state");
    // The node answered and says the cluster cannot serve: a status, like
    // an HTTP 503.
    if (state != "ok") {
      return CheckResult::Fail(FailureKind::kStatus,
                               "cluster_state is " + (state.empty() ? "?" : state));
    }
    return std::nullopt;
  }

  // ACL -NOPERM, or INFO renamed away (rename-command INFO "").
  static bool Denied(const RedisReply& r) {
    return r.ErrorCode() == "NOPERM" || r.str.find("unknown command") != std::string::npos;
  }

  std::string Lost(const std::string& error) const {
    return "connection to " + connected_to_.ToString() + " lost: " + error;
  }

  // Redis never echoes a password, but a reason must not carry one whatever
  // the server or a proxy says.
  std::string Scrub(std::string text) const {
    for (const std::string& secret : opts_.secrets) {
      if (secret.empty()) continue;
      for (size_t pos = text.find(secret); pos != std::string::npos;
           pos = text.find(secret, pos + 3)) {
        text.replace(pos, secret.size(), "***");
      }
    }
    return text;
  }

  const RedisUrl url_;
  const RedisOptions opts_;
  const std::optional<TlsConfig> tls_;  // rediss:// only
  std::optional<int64_t> tls_not_after_;
  bool insecure_noted_ = false;
  RedisConnection conn_;              // to the server (the master, under Sentinel)
  HostAndPort connected_to_;          // where conn_ goes
  SentinelResolver sentinels_;        // redis+sentinel:// only
  bool info_sections_ = true;         // INFO with several sections (Redis >= 7)
  bool info_denied_ = false;          // INFO refused on this connection
  bool cluster_info_denied_ = false;  // CLUSTER INFO refused on this connection
  bool noperm_noted_ = false;         // the one-time note was given
  bool cluster_ = false;              // the server said cluster_enabled:1
  CheckSignals signals_;              // read on the current run
  std::string target_;                // the server asked last; Target()
};

// The `password` and `sentinel_password` keys beside the URL's password
// (docs/secrets.md). Sets url->password to the data node's password.
void SetPasswords(const CheckSpec& spec, RedisUrl* url, RedisOptions* opts) {
  std::optional<std::string> password, sentinel_password;
  if (spec.json.contains("password")) password = spec.RequireString("password");
  if (spec.json.contains("sentinel_password")) {
    sentinel_password = spec.RequireString("sentinel_password");
  }
  for (const std::string* s : {&url->password, &url->password_as_written}) {
    if (!s->empty()) opts->secrets.push_back(*s);
  }
  for (const auto* s : {&password, &sentinel_password}) {
    if (*s && !(*s)->empty()) opts->secrets.push_back(**s);
  }
  const std::string in_url = url->password;
  if (!url->sentinel) {
    if (sentinel_password) {
      throw ConfigError(spec.Field("sentinel_password"), "only for redis+sentinel:// URLs");
    }
    if (password && !in_url.empty()) {
      throw ConfigError(spec.Field("password"),
                        "the URL holds a password too: give it in one place");
    }
    if (password) url->password = *password;
    return;
  }
  if (password && sentinel_password && !in_url.empty()) {
    throw ConfigError(spec.Field("url"),
                      "with both password and sentinel_password set, a password in the URL "
                      "would be used for nothing: leave it out");
  }
  // The URL's password goes to the Sentinels; to the master too unless
  // `password` names the master's.
  opts->sentinel_password = sentinel_password ? *sentinel_password : in_url;
  if (password) url->password = *password;
  opts->shared_password = !password && !sentinel_password && !in_url.empty();
}

}  // namespace

CheckKind RedisCheckKind() {
  CheckKind kind;
  kind.name = "redis";
  kind.display_name = "Redis";
  kind.component_type = "datastore";
  kind.keys = {"url",     "expect_role", "max_memory_ratio",
               "slow_ms", "password",    "sentinel_password",
               kTlsKey};
  kind.default_role = "cache";
  kind.create = [](const CheckSpec& spec) -> std::unique_ptr<Check> {
    const std::string text = spec.RequireString("url");
    RedisUrl url;
    try {
      url = ParseRedisUrl(text);
    } catch (const UrlError& e) {
      throw ConfigError(spec.Field("url"), e.what());
    }
    RedisOptions opts;
    SetPasswords(spec, &url, &opts);
    if (spec.secrets != nullptr) {
      for (const std::string& s : opts.secrets) spec.secrets->push_back(s);
    }

    opts.expect_role = spec.OptionalString("expect_role", url.sentinel ? "master" : "");
    if (opts.expect_role == "slave") opts.expect_role = "replica";
    if (!opts.expect_role.empty() && opts.expect_role != "master" &&
        opts.expect_role != "replica") {
      throw ConfigError(spec.Field("expect_role"), "want \"master\" or \"replica\"");
    }
    if (url.sentinel && opts.expect_role != "master") {
      throw ConfigError(spec.Field("expect_role"),
                        "a redis+sentinel:// check checks the master: want \"master\"");
    }
    opts.max_memory_ratio = spec.OptionalNumber("max_memory_ratio", 0.9, 0.01, 1.0);
    opts.slow_ms = spec.OptionalNumber("slow_ms", 0, 1, 3600000);
    std::optional<TlsConfig> tls = ParseTlsConfig(spec);
    // TLS is the URL's to say: a `tls` object on a plain URL would otherwise
    // look like it secures a connection that it does not.
    if (tls && !url.tls) {
      throw ConfigError(spec.Field(kTlsKey),
                        url.sentinel ? "TLS settings on a plain URL: use rediss+sentinel://"
                                     : "TLS settings on a plain URL: use rediss://");
    }
    if (url.tls && !tls) tls = TlsConfig{};
    return std::make_unique<RedisCheck>(std::move(url), std::move(opts), std::move(tls));
  };
  return kind;
}

}  // namespace vigil
