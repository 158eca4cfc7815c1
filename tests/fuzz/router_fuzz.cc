// The request router (issue 7 item 2): Api::Handle over a snapshot shaped by
// the input, with a fuzzed method, request target (path, ?exclude=, ?verbose,
// /health/{check} names, percent-encoding), Accept and Authorization, and
// check names, reasons and targets of arbitrary bytes for the renderers.
// Properties: a known status; JSON bodies parse; every /metrics line is a
// comment or a sample; ParseTarget only accepts origin-form paths without dot
// segments or NULs; known paths answer 200/503, never 404; admin needs the
// token.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/http/api.h"
#include "tests/fuzz/fuzz_util.h"

namespace {

using vigil::fuzz::Require;

vigil::CheckView View(const std::string& name, const std::string& kind, const std::string& role,
                      bool required, uint8_t bits, const std::string& text) {
  vigil::CheckView c;
  c.name = name;
  c.kind = kind;
  c.role = role;
  c.required = required;
  c.liveness = bits & 0x40;
  c.status = static_cast<vigil::Status>(bits & 3);
  c.circuit = static_cast<vigil::BreakerState>((bits >> 2) % 3);
  c.ever_passed = bits & 0x10;
  c.reason = text;
  c.last_error = text;
  c.target = text.substr(0, 40);
  c.latency_ms = bits * 0.37;
  c.consecutive_failures = bits;
  c.attempts = bits * 3;
  c.failures_total = bits;
  c.since = vigil::WallClock::now();
  if (bits & 0x20) c.last_success = vigil::WallClock::now();
  c.durations.Observe(bits / 1000.0);
  return c;
}

bool KnownStatus(int s) {
  for (int k : {200, 400, 401, 404, 405, 429, 503})
    if (s == k) return true;
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint8_t b0 = data[0], b1 = data[1], b2 = data[2], b3 = data[3];
  const std::string input(reinterpret_cast<const char*>(data) + 4, size - 4);
  const std::vector<std::string> f = vigil::fuzz::SplitFields(input, '\n', 6);
  const std::string &method = f[0], &target = f[1], &accept = f[2], &authorization = f[3],
                    &name = f[4], &text = f[5];

  vigil::SnapshotStore store;
  auto snap = std::make_shared<vigil::HealthSnapshot>();
  snap->checks.push_back(View("db", "postgres", "database", true, b0, text));
  snap->checks.push_back(View("redis-cache", "redis", "cache", false, b1, text));
  snap->checks.push_back(View(name, "http", "app", b3 & 1, b2, text));
  snap->draining = b3 & 2;
  snap->started_at = vigil::WallClock::now();
  snap->config_reloads = b3;
  store.Set(snap);
  if (b3 & 4) store.Beat(vigil::Clock::now() - std::chrono::hours(1));  // a stalled loop

  std::string reset;
  vigil::Api::Options options;
  options.pod = {"web-1", text.substr(0, 20), "node-a"};
  options.admin_token = (b3 & 8) ? "" : "tok";
  options.reset_breaker = [&reset, &snap](const std::string& n) {
    reset = n;
    return snap->Find(n) != nullptr;
  };
  options.counters.log_events_dropped = [] { return uint64_t{7}; };
  vigil::Api api(&store, options);

  const vigil::HttpResponse r = api.Handle({method, target, accept, authorization});
  const std::string where = method + " " + target;
  Require(KnownStatus(r.status), "a known status", where, std::to_string(r.status));

  if (r.content_type.find("json") != std::string::npos) {
    Require(nlohmann::json::accept(r.body), "a JSON body parses", where, r.body);
  }
  if (r.content_type.find("version=0.0.4") != std::string::npos) {
    size_t start = 0;
    while (start < r.body.size()) {
      size_t nl = r.body.find('\n', start);
      const std::string line = r.body.substr(start, nl - start);
      Require(
          line.rfind("#", 0) == 0 || line.rfind("vigil_", 0) == 0 || line.rfind("process_", 0) == 0,
          "every metrics line is a comment or a sample", where, line);
      if (nl == std::string::npos) break;
      start = nl + 1;
    }
  }

  std::string path;
  std::multimap<std::string, std::string> query;
  if (vigil::ParseTarget(target, &path, &query)) {
    Require(!path.empty() && path[0] == '/', "an accepted path starts with /", target, path);
    Require(target.size() <= 4096, "an accepted target is at most 4 KiB", target);
    Require(path.find('\0') == std::string::npos, "no NUL in an accepted path", target, path);
    for (const char* dot : {"/./", "/../"})
      Require(path.find(dot) == std::string::npos, "no dot segment", target, path);
    const bool ends_dot =
        path.size() >= 2 && (path.substr(path.size() - 2) == "/." ||
                             (path.size() >= 3 && path.substr(path.size() - 3) == "/.."));
    Require(!ends_dot, "no trailing dot segment", target, path);
    for (const auto& [k, v] : query) {
      Require(k.find('\0') == std::string::npos && v.find('\0') == std::string::npos,
              "no NUL in the query", target);
    }
    if ((method == "GET" || method == "HEAD") &&
        (path == "/livez" || path == "/readyz" || path == "/health" || path == "/startupz" ||
         path == "/metrics" || path == "/health/db" || path == "/readyz/redis-cache")) {
      Require(r.status == 200 || r.status == 503, "a known path answers 200 or 503", where,
              std::to_string(r.status));
    }
    if (path.rfind("/admin/", 0) == 0 && r.status == 200) {
      Require(authorization == "Bearer tok" && method == "POST" && !(b3 & 8),
              "admin needs POST and the token", where);
    }
  } else {
    Require(r.status == 400, "a refused target is a 400", where, std::to_string(r.status));
  }
  if (!reset.empty()) {
    Require(authorization == "Bearer tok", "no reset without the token", where, reset);
  }
  return 0;
}
