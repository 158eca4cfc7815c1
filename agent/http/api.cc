#include "agent/http/api.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "agent/core/verdict.h"
#include "agent/http/fleet_render.h"
#include "agent/http/metrics.h"
#include "agent/http/render.h"
#include "agent/http/status_page.h"
#include "checks/common/url.h"

namespace vigil {
namespace {

constexpr const char* kJson = "application/json";

// A request target's path, or (`plus_is_space`) a key or value of its
// query; a NUL byte, raw or escaped, is refused.
bool DecodeTargetPart(const std::string& in, bool plus_is_space, std::string* out) {
  PercentDecoding how;
  how.plus_is_space = plus_is_space;
  how.refuse_nul = true;
  return PercentDecode(in, out, how);
}

HttpResponse Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

HttpResponse NoStore(HttpResponse r) {
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

bool HasParam(const std::multimap<std::string, std::string>& q, const char* key) {
  return q.find(key) != q.end();
}

Exclusions ExcludedFrom(const std::multimap<std::string, std::string>& q) {
  Exclusions out;
  auto range = q.equal_range("exclude");
  for (auto it = range.first; it != range.second; ++it) out.insert(it->second);
  return out;
}

bool IsKnownGetPath(const std::string& path) {
  static const char* kPaths[] = {"/livez",    "/up",         "/readyz",  "/ready",
                                 "/startupz", "/health",     "/metrics", "/events",
                                 "/fleet",    "/fleet/self", "/"};
  for (const char* p : kPaths)
    if (path == p) return true;
  for (const char* prefix : {"/health/", "/readyz/", "/livez/"}) {
    if (path.rfind(prefix, 0) == 0 && path.size() > std::string(prefix).size()) return true;
  }
  return false;
}

// The failing dependency a check's failure is reported as blocked by, if any.
std::string FirstBlocker(const HealthSnapshot& s, const CheckView& c) {
  const std::vector<std::string> b = BlockedBy(s, c);
  return b.empty() ? std::string() : b.front();
}

}  // namespace

PodInfo PodInfo::FromEnv() {
  auto get = [](const char* k) {
    const char* v = std::getenv(k);
    return v ? std::string(v) : std::string();
  };
  return {get("POD_NAME"), get("POD_NAMESPACE"), get("NODE_NAME")};
}

std::string BearerToken(const std::string& authorization) {
  // credentials = auth-scheme [ 1*SP token68 ]; the value's own leading and
  // trailing whitespace is gone already (RFC 9110 5.5).
  constexpr size_t kScheme = 6;  // "Bearer"
  if (authorization.size() <= kScheme || AsciiLower(authorization.substr(0, kScheme)) != "bearer" ||
      authorization[kScheme] != ' ')
    return "";
  const size_t start = authorization.find_first_not_of(' ', kScheme);
  if (start == std::string::npos) return "";
  return authorization.substr(start);
}

bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  // Length is not secret enough to hide; the content is compared in full.
  volatile unsigned char diff = static_cast<unsigned char>(a.size() != b.size());
  const size_t n = std::max(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff = diff | static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

// RFC 9112 3.2.2: "http://host:port/path?q" is served as "/path?q" (the
// authority is not ours to check: a proxy may send any). Other targets as
// they are; "" for a URI that is not http(s) or has user information.
std::string OriginForm(const std::string& target) {
  if (target.empty() || target[0] == '/') return target;
  const size_t sep = target.find("://");
  if (sep == std::string::npos) return "";
  const std::string scheme = AsciiLower(target.substr(0, sep));
  if (scheme != "http" && scheme != "https") return "";
  const size_t end = target.find_first_of("/?", sep + 3);
  const std::string authority =
      target.substr(sep + 3, end == std::string::npos ? end : end - sep - 3);
  if (authority.empty() || authority.find_first_of("@#") != std::string::npos) return "";
  if (end == std::string::npos) return "/";
  return target[end] == '?' ? "/" + target.substr(end) : target.substr(end);
}

bool ParseTarget(const std::string& raw_target, std::string* path,
                 std::multimap<std::string, std::string>* query) {
  path->clear();
  query->clear();
  const std::string target = OriginForm(raw_target);
  if (target.empty() || target.size() > kMaxTargetBytes || target[0] != '/') return false;
  const size_t qmark = target.find('?');
  const std::string raw_path = target.substr(0, qmark);
  // Routing is on the path's segments as sent: an escaped '/' (or '\\') would
  // make a new separator once decoded ("/admin%2Fcircuit-breaker%2F..."
  // past a proxy's rule on "/admin/"). No check name holds one.
  const std::string lower_path = AsciiLower(raw_path);
  if (lower_path.find("%2f") != std::string::npos || lower_path.find("%5c") != std::string::npos)
    return false;
  if (!DecodeTargetPart(raw_path, false, path)) return false;
  // Refuse dot segments outright: nothing here is a file, and a path that
  // needs normalising is a probe for a bug.
  if (path->find("/./") != std::string::npos || path->find("/../") != std::string::npos)
    return false;
  if (path->size() >= 2 && path->compare(path->size() - 2, 2, "/.") == 0) return false;
  if (path->size() >= 3 && path->compare(path->size() - 3, 3, "/..") == 0) return false;
  if (qmark == std::string::npos) return true;
  const std::string raw_query = target.substr(qmark + 1);
  size_t start = 0;
  while (start <= raw_query.size()) {
    size_t amp = raw_query.find('&', start);
    if (amp == std::string::npos) amp = raw_query.size();
    std::string part = raw_query.substr(start, amp - start);
    if (!part.empty()) {
      size_t eq = part.find('=');
      std::string key, value;
      if (!DecodeTargetPart(part.substr(0, eq), true, &key)) return false;
      if (eq != std::string::npos && !DecodeTargetPart(part.substr(eq + 1), true, &value))
        return false;
      query->emplace(std::move(key), std::move(value));
    }
    start = amp + 1;
  }
  return true;
}

Api::Api(const SnapshotStore* store, Options options)
    : store_(store),
      options_(std::move(options)),
      admin_token_(std::make_shared<const std::string>(options_.admin_token)),
      fleet_token_(std::make_shared<const std::string>(options_.fleet_token)),
      details_full_(options_.health_details_full) {
  if (!options_.now) options_.now = [] { return Clock::now(); };
}

void Api::SetAdminToken(std::string token) {
  std::atomic_store(&admin_token_, std::make_shared<const std::string>(std::move(token)));
}

void Api::SetFleetToken(std::string token) {
  std::atomic_store(&fleet_token_, std::make_shared<const std::string>(std::move(token)));
}

bool Api::LoopAlive() const { return Clock::now() - store_->LastBeat() < options_.stall_after; }

HttpResponse Api::Handle(const HttpRequest& req) const {
  std::string path;
  std::multimap<std::string, std::string> query;
  if (!ParseTarget(req.target, &path, &query)) return JsonError(400, "bad request target");
  if (path.rfind("/admin/", 0) == 0) return HandleAdmin(path, req);
  if (req.method == "GET" || req.method == "HEAD") {
    return HandleGet(path, query, req);  // HEAD: the server sends no body
  }
  if (IsKnownGetPath(path)) {
    HttpResponse r = JsonError(405, "method not allowed");
    r.headers.emplace_back("Allow", "GET, HEAD");
    return r;
  }
  return JsonError(404, "not found");
}

HttpResponse Api::HandleAdmin(const std::string& path, const HttpRequest& req) const {
  auto token = std::atomic_load(&admin_token_);
  if (token->empty()) return JsonError(404, "not found");  // admin routes are off
  static const std::string kPrefix = "/admin/circuit-breaker/";
  static const std::string kSuffix = "/reset";
  if (path.rfind(kPrefix, 0) != 0 || path.size() <= kPrefix.size() + kSuffix.size() ||
      path.compare(path.size() - kSuffix.size(), kSuffix.size(), kSuffix) != 0) {
    return JsonError(404, "not found");
  }
  if (req.method != "POST") {
    HttpResponse r = JsonError(405, "method not allowed");
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  const std::string name =
      path.substr(kPrefix.size(), path.size() - kPrefix.size() - kSuffix.size());
  // No credentials: 401, not counted (a client that never tries a token
  // cannot lock anyone out, not even itself).
  const std::string presented = BearerToken(req.authorization);
  const bool authorized = !presented.empty() && ConstantTimeEquals(presented, *token);
  int lockout_began = 0;
  if (std::optional<HttpResponse> locked =
          AdminBudget(req.peer, !authorized && !presented.empty(), &lockout_began)) {
    return *locked;
  }
  if (lockout_began > 0 && options_.on_admin_lockout) {
    options_.on_admin_lockout(lockout_began, req.peer);
  }
  if (!authorized) {
    HttpResponse r = JsonError(401, "unauthorized");
    r.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"vigil\"");
    return r;
  }
  if (!options_.reset_breaker || !options_.reset_breaker(name)) {
    return JsonError(404, "unknown check");
  }
  HttpResponse r;
  r.content_type = kJson;
  r.body = nlohmann::json{{"check", name}, {"circuit", "closed"}, {"rerun", true}}.dump() + "\n";
  return r;
}

std::optional<HttpResponse> Api::AdminBudget(const std::string& peer, bool failed,
                                             int* lockout_began) const {
  // No sleep here (this is an event-loop thread): a locked-out client is
  // answered 429 at once, whatever the token, so guessing gains nothing.
  const Clock::time_point now = options_.now();
  const auto window = options_.admin_failure_window;
  const size_t max_failures = static_cast<size_t>(std::max(0, options_.admin_max_failures));
  AdminFailures& f = *admin_failures_;
  MutexLock lock(f.mu);
  auto it = f.clients.find(peer);
  if (it != f.clients.end()) {
    std::deque<Clock::time_point>& times = it->second.times;
    while (!times.empty() && now - times.front() >= window) times.pop_front();
    if (times.size() > max_failures) {
      auto left = std::chrono::ceil<std::chrono::seconds>(times.front() + window - now);
      HttpResponse r = JsonError(429, "too many failed admin requests");
      r.headers.emplace_back("Retry-After", std::to_string(std::max<int64_t>(1, left.count())));
      return r;
    }
    if (times.empty() && !failed) f.clients.erase(it);
  }
  if (!failed) return std::nullopt;
  if (it == f.clients.end() &&
      f.clients.size() >= std::max<size_t>(1, options_.admin_max_clients)) {
    // The table is bounded: the client that failed least recently goes.
    auto oldest = f.clients.begin();
    for (auto c = f.clients.begin(); c != f.clients.end(); ++c) {
      if (c->second.times.empty() ||
          (!oldest->second.times.empty() && c->second.times.back() < oldest->second.times.back()))
        oldest = c;
    }
    f.clients.erase(oldest);
  }
  std::deque<Clock::time_point>& times = f.clients[peer].times;
  times.push_back(now);
  if (times.size() > max_failures) {  // this failure starts a lockout
    *lockout_began = static_cast<int>(
        std::chrono::ceil<std::chrono::seconds>(times.front() + window - now).count());
  }
  return std::nullopt;
}

HttpResponse Api::HandleGet(const std::string& path,
                            const std::multimap<std::string, std::string>& q,
                            const HttpRequest& req) const {
  const std::shared_ptr<const HealthSnapshot> snap = store_->Get();
  const HealthSnapshot& s = *snap;
  const bool full = details_full_.load();
  // The fleet's view beside the snapshot; each check's scope is computed
  // against its current status (agent/core/fleet.h).
  const std::shared_ptr<const FleetView> fleet =
      options_.fleet != nullptr ? options_.fleet->Get() : nullptr;
  const WallClock::time_point wall = WallClock::now();
  // Liveness never uses fleet data: a liveness probe reads no peer answer.
  const bool liveness_path = path == "/livez" || path == "/up" || path.rfind("/livez/", 0) == 0;
  const Scopes scopes = ScopesOf(s, liveness_path ? nullptr : fleet.get(), wall);
  if (path == "/fleet" || path == "/fleet/self") return HandleFleet(path, req, s, scopes);

  if (path == "/livez" || path == "/up" || path == "/readyz" || path == "/ready") {
    const bool live_path = path == "/livez" || path == "/up";
    const Exclusions excluded = ExcludedFrom(q);
    const bool alive = LoopAlive();
    const bool ok = live_path ? IsLive(s, alive, excluded) : IsReady(s, excluded, &scopes);
    const char* what = live_path ? "livez" : "readyz";
    if (ok && !HasParam(q, "verbose")) return NoStore(Text(200, "ok\n"));
    // kube-apiserver style: one line a check, then the verdict.
    std::string body;
    if (live_path) body += alive ? "[+]loop ok\n" : "[-]loop failed: scheduler stalled\n";
    for (size_t i = 0; i < s.checks.size(); ++i) {
      const CheckView& c = s.checks[i];
      if (excluded.count(c.name)) continue;
      if (live_path && !c.liveness) continue;
      // Liveness never uses fleet data.
      body += RenderCheckLine(c, full, live_path ? nullptr : &scopes[i], FirstBlocker(s, c)) + "\n";
    }
    if (!live_path && s.draining) body += "[-]shutdown failed: draining\n";
    body += std::string(what) + (ok ? " check passed\n" : " check failed\n");
    return NoStore(Text(ok ? 200 : 503, std::move(body)));
  }
  if (path == "/startupz") {
    const bool ok = IsStarted(s);
    return NoStore(Text(ok ? 200 : 503, ok ? "ok\n" : "startupz check failed\n"));
  }
  if (path == "/health") {
    const Overall o = OverallStatus(s, &scopes);
    HttpResponse r;
    r.status = OverallHttpCode(o);
    if (req.accept.find("application/health+json") != std::string::npos) {
      r.content_type = "application/health+json";
      r.body = RenderHealthIetf(s, options_.pod, wall, full, &scopes);
    } else {
      r.content_type = kJson;
      r.body =
          RenderHealthJson(s, options_.pod, wall, nullptr, full, HasParam(q, "events"), &scopes);
    }
    return NoStore(std::move(r));
  }
  if (path == "/events") {
    HttpResponse r;
    r.content_type = kJson;
    r.body = RenderEventsJson(s, full);
    return NoStore(std::move(r));
  }
  for (const char* prefix : {"/health/", "/readyz/", "/livez/"}) {
    const std::string p(prefix);
    if (path.rfind(p, 0) != 0 || path.size() == p.size()) continue;
    const std::string name = path.substr(p.size());
    const CheckView* c = s.Find(name);
    if (c == nullptr) return JsonError(404, "unknown check");
    const CheckScope* scope = &scopes[static_cast<size_t>(c - s.checks.data())];
    const bool live_path = p == "/livez/";
    const bool up =
        live_path ? IsUp(c->status) : IsUp(ReadinessStatus(*c)) || KeptReadyByFleet(*c, *scope);
    if (p == "/health/") {
      HttpResponse r;
      r.status = up ? 200 : 503;
      r.content_type = kJson;
      r.body = RenderHealthJson(s, options_.pod, wall, c, full, false, &scopes);
      return NoStore(std::move(r));
    }
    return NoStore(
        Text(up ? 200 : 503,
             RenderCheckLine(*c, full, live_path ? nullptr : scope, FirstBlocker(s, *c)) + "\n"));
  }
  if (path == "/metrics") {
    HttpResponse r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    r.body = RenderMetrics(s, IsLive(s, LoopAlive()), options_.counters, fleet.get(), scopes, wall);
    return NoStore(std::move(r));
  }
  if (path == "/") {
    HttpResponse r;
    r.content_type = "text/html; charset=utf-8";
    r.body = RenderStatusPage();
    return r;
  }
  return JsonError(404, "not found");
}

HttpResponse Api::HandleFleet(const std::string& path, const HttpRequest& req,
                              const HealthSnapshot& s, const Scopes& scopes) const {
  HttpResponse r;
  r.content_type = kJson;
  if (path == "/fleet/self") {
    auto token = std::atomic_load(&fleet_token_);
    if (!token->empty()) {
      const std::string presented = BearerToken(req.authorization);
      if (presented.empty() || !ConstantTimeEquals(presented, *token)) {
        HttpResponse denied = JsonError(401, "unauthorized");
        denied.headers.emplace_back("WWW-Authenticate", "Bearer realm=\"vigil-fleet\"");
        return NoStore(std::move(denied));
      }
    }
    r.body = RenderFleetSelf(s, options_.pod);
    return NoStore(std::move(r));
  }
  const std::shared_ptr<const FleetView> fleet =
      options_.fleet != nullptr ? options_.fleet->Get() : nullptr;
  r.body = RenderFleet(s, fleet.get(), scopes, options_.pod, WallClock::now());
  return NoStore(std::move(r));
}

}  // namespace vigil
