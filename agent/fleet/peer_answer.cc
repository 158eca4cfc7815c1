#include "agent/fleet/peer_answer.h"

#include <algorithm>

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
    if (!IsCheckName(it.key()) || !it->is_object()) return false;
    PeerCheck c;
    c.name = it.key();
    auto st = it->find("status");
    if (st == it->end() || !ReadStatus(*st, &c.status)) return false;
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
