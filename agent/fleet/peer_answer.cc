#include "agent/fleet/peer_answer.h"

#include <algorithm>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

namespace vigil {
namespace {

using json = nlohmann::json;

// A Kubernetes name, namespace or node: at most 253 characters of
// [a-zA-Z0-9._-]; empty when the peer has no Downward API.
bool IsObjectName(const std::string& s) {
  if (s.size() > 253) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '-' || c == '_';
  });
}

bool IsCheckName(const std::string& s) {
  if (s.empty() || s.size() > 63) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

bool IsInstance(const std::string& s) {
  if (s.empty() || s.size() > 32) return false;
  return std::all_of(s.begin(), s.end(),
                     [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool ReadStatus(const json& j, Status* out) {
  if (!j.is_string()) return false;
  const std::string& s = j.get_ref<const std::string&>();
  if (s == "pass") {
    *out = Status::kPass;
  } else if (s == "warn") {
    *out = Status::kWarn;
  } else if (s == "fail") {
    *out = Status::kFail;
  } else if (s == "unknown") {
    *out = Status::kUnknown;
  } else {
    return false;
  }
  return true;
}

// "2026-12-07T02:37:06.211Z", as FormatTime writes it; false otherwise.
bool ReadTime(const json& j, WallClock::time_point* out) {
  if (!j.is_string()) return false;
  const std::string& s = j.get_ref<const std::string&>();
  int y, mo, d, h, mi, sec, ms;
  char tail = 0;
  if (s.size() != 24 ||
      std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d.%3d%c", &y, &mo, &d, &h, &mi, &sec, &ms,
                  &tail) != 8 ||
      tail != 'Z') {
    return false;
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || ms < 0) return false;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  *out = WallClock::from_time_t(timegm(&tm)) + std::chrono::milliseconds(ms);
  return true;
}

// A check's entry: its status, and its latest run when given.
bool ReadCheck(const json& j, PeerCheck* c) {
  if (!j.is_object()) return false;
  auto st = j.find("status");
  if (st == j.end() || !ReadStatus(*st, &c->status)) return false;
  auto last = j.find("last");
  if (last != j.end() && !ReadStatus(*last, &c->last)) return false;
  auto checked = j.find("checked");
  if (checked != j.end()) {
    WallClock::time_point t;
    if (!ReadTime(*checked, &t)) return false;
    c->checked = t;
  }
  return true;
}

bool ReadPod(const json& pod, PeerAnswer* out) {
  if (!pod.is_object()) return false;
  for (auto [key, field] : {std::pair<const char*, std::string*>{"name", &out->name},
                            {"namespace", &out->namespace_},
                            {"node", &out->node}}) {
    auto it = pod.find(key);
    if (it == pod.end()) continue;
    if (!it->is_string() || !IsObjectName(it->get_ref<const std::string&>())) return false;
    *field = it->get<std::string>();
  }
  return true;
}

bool ReadChecks(const json& checks, PeerAnswer* out) {
  if (!checks.is_object() || checks.size() > kMaxPeerChecks) return false;
  for (auto it = checks.begin(); it != checks.end(); ++it) {
    PeerCheck c;
    c.name = it.key();
    if (!IsCheckName(c.name) || !ReadCheck(*it, &c)) return false;
    out->checks.push_back(std::move(c));
  }
  // JSON objects come sorted by key here, but the order is not the
  // sender's to choose.
  std::sort(out->checks.begin(), out->checks.end(),
            [](const PeerCheck& a, const PeerCheck& b) { return a.name < b.name; });
  return true;
}

bool ReadAnswer(const json& j, PeerAnswer* out) {
  if (!j.is_object()) return false;
  auto v = j.find("v");
  if (v == j.end() || !v->is_number_integer() || v->get<int64_t>() != 1) return false;
  auto inst = j.find("instance");
  if (inst == j.end() || !inst->is_string() || !IsInstance(inst->get_ref<const std::string&>()))
    return false;
  out->instance = inst->get<std::string>();
  auto status = j.find("status");
  if (status == j.end() || !status->is_string()) return false;
  out->status = status->get<std::string>();
  if (out->status != "ok" && out->status != "degraded" && out->status != "error" &&
      out->status != "starting")
    return false;
  auto ready = j.find("ready");
  if (ready == j.end() || !ready->is_boolean()) return false;
  out->ready = ready->get<bool>();
  auto pod = j.find("pod");
  if (pod != j.end() && !ReadPod(*pod, out)) return false;
  auto checks = j.find("checks");
  return checks != j.end() && ReadChecks(*checks, out);
}

}  // namespace

bool ParsePeerAnswer(const std::string& body, PeerAnswer* out) {
  PeerAnswer a;
  try {
    // No exceptions on bad input; a value nested too deep or a number out of
    // range still throws, and is caught.
    const json j = json::parse(body, nullptr, false);
    if (j.is_discarded() || !ReadAnswer(j, &a)) return false;
  } catch (const std::exception&) {
    return false;
  }
  a.address = out->address;
  a.received = out->received;
  *out = std::move(a);
  return true;
}

}  // namespace vigil
