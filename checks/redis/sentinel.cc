#include "checks/redis/sentinel.h"

#include <cstdlib>

#include "checks/common/untrusted_text.h"
#include "checks/common/url.h"

namespace vigil {

std::optional<CheckResult> SentinelResolver::FindMaster(Deadline deadline, HostAndPort* master) {
  const size_t n = sentinels_.size();
  std::string errors;  // "host:port: why" of each Sentinel asked, "; " between
  // The failure kind shared by every Sentinel asked; kOther when they differ.
  std::optional<FailureKind> kind;
  for (size_t i = 0; i < n; ++i) {
    const size_t idx = (index_ + i) % n;
    const HostAndPort& s = sentinels_[idx];
    const auto now = Clock::now();
    if (now >= deadline) return CheckResult::Timeout("asking sentinel");
    // The time left is shared among the Sentinels not asked yet, so one
    // that black-holes packets cannot use up the whole run.
    const Deadline share = now + (deadline - now) / static_cast<int>(n - i);
    std::string error;
    FailureKind this_kind = FailureKind::kOther;
    bool kept = conn_.connected() && idx == index_;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!kept) {
        NetResult c = conn_.Connect(s.host, s.port, share);
        if (c.status != NetStatus::kOk) {
          error = c.status == NetStatus::kTimeout ? s.ToString() + ": timeout" : c.error;
          this_kind = c.status == NetStatus::kTimeout ? FailureKind::kTimeout : c.kind;
          break;
        }
        index_ = idx;
      }
      Answer a = Ask(share, master, &error, !kept, &this_kind);
      if (a == Answer::kMaster) return std::nullopt;
      conn_.Close();
      error = s.ToString() + ": " + error;
      // A kept connection that was lost gets one fresh try (a restart).
      if (!(kept && a == Answer::kLost)) break;
      kept = false;
    }
    if (!errors.empty()) errors += "; ";
    errors += error;
    kind = !kind || *kind == this_kind ? this_kind : FailureKind::kOther;
  }
  if (Clock::now() >= deadline) return CheckResult::Timeout("asking sentinel");
  return CheckResult::Fail(kind.value_or(FailureKind::kOther), "no sentinel answered: " + errors);
}

bool NoPasswordConfigured(const RedisReply& reply) {
  return reply.IsError() &&
         (reply.str.find("without any password configured") != std::string::npos ||
          reply.str.find("no password is set") != std::string::npos);
}

SentinelResolver::Answer SentinelResolver::Ask(Deadline deadline, HostAndPort* master,
                                               std::string* error, bool authenticate,
                                               FailureKind* kind) {
  // On a new connection AUTH goes first, in the same round trip.
  std::vector<std::vector<std::string>> commands;
  const bool auth = authenticate && !password_.empty();
  if (auth) commands.push_back({"AUTH", password_});
  commands.push_back({"SENTINEL", "get-master-addr-by-name", master_name_});
  std::vector<RedisReply> replies;
  IoResult io = conn_.Exchange(commands, deadline, &replies);
  if (io.status == IoStatus::kTimeout) {
    *error = "timeout";
    *kind = FailureKind::kTimeout;
    return Answer::kNone;
  }
  if (io.status == IoStatus::kError) {
    *error = io.error;
    *kind = io.kind;
    return Answer::kLost;
  }
  if (auth && replies[0].IsError() && !(lenient_ && NoPasswordConfigured(replies[0]))) {
    // Never the password: only the command's name and the server's words.
    *error = "AUTH: " + replies[0].str;
    *kind = FailureKind::kAuth;
    return Answer::kNone;
  }
  const RedisReply& r = replies.back();
  if (r.IsError()) {
    *error = r.str;
    *kind = r.ErrorKind();
    return Answer::kNone;
  }
  if (r.type == RedisReply::Type::kNil ||
      (r.type == RedisReply::Type::kArray && r.elements.empty())) {
    *error = "master \"" + master_name_ + "\" unknown";
    *kind = FailureKind::kOther;
    return Answer::kNone;
  }
  if (r.type == RedisReply::Type::kArray && r.elements.size() == 2 &&
      r.elements[0].type == RedisReply::Type::kString &&
      r.elements[1].type == RedisReply::Type::kString) {
    // The master's address is checked before it is used or shown: a host
    // name or an IP address, a port of digits (what a Sentinel says is
    // untrusted text: it lands in /health, the log and the metrics' target).
    const std::string& host = r.elements[0].str;
    const std::string& port_text = r.elements[1].str;
    const int port = AllDigits(port_text) && port_text.size() <= 5 ? std::stoi(port_text) : 0;
    if (!IsHostNameOrAddress(host)) {
      *error = "SENTINEL get-master-addr-by-name: the master's address is not a host name or an IP";
      *kind = FailureKind::kProtocol;
      return Answer::kNone;
    }
    if (port > 0 && port <= 65535) {
      master->host = host;
      master->port = port;
      return Answer::kMaster;
    }
  }
  *error = "unexpected reply to SENTINEL get-master-addr-by-name";
  *kind = FailureKind::kProtocol;
  return Answer::kNone;
}

}  // namespace vigil
