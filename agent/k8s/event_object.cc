#include "agent/k8s/event_object.h"

#include <time.h>

#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace vigil {

using json = nlohmann::json;

std::string MicroTime(WallClock::time_point t) {
  const auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch());
  long long secs = us.count() / 1000000;
  long long frac = us.count() % 1000000;
  if (frac < 0) {
    frac += 1000000;
    --secs;
  }
  const time_t tt = static_cast<time_t>(secs);
  tm utc{};
  gmtime_r(&tt, &utc);
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%06lldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, frac);
  return buf;
}

std::string EventName(const std::string& pod, WallClock::time_point t) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch());
  char hex[24];
  std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(ns.count()));
  const std::string suffix = std::string(".") + hex;
  std::string head = pod.substr(0, 253 - suffix.size());
  while (!head.empty() && (head.back() == '.' || head.back() == '-')) head.pop_back();
  return head + suffix;
}

std::string CutNote(const std::string& note) {
  if (note.size() <= kMaxNoteBytes) return note;
  size_t end = kMaxNoteBytes;
  // Back off continuation bytes (10xxxxxx) so no sequence is split.
  while (end > 0 && (static_cast<unsigned char>(note[end]) & 0xC0) == 0x80) --end;
  return note.substr(0, end);
}

std::string EventJson(const PodRef& pod, const std::string& name, const DependencyChange& c) {
  json regarding = {
      {"apiVersion", "v1"}, {"kind", "Pod"}, {"name", pod.name}, {"namespace", pod.namespace_}};
  if (!pod.uid.empty()) regarding["uid"] = pod.uid;
  json e = {
      {"apiVersion", "events.k8s.io/v1"},
      {"kind", "Event"},
      {"metadata", {{"name", name}, {"namespace", pod.namespace_}}},
      {"eventTime", MicroTime(c.time)},
      {"reportingController", kReportingController},
      {"reportingInstance", pod.name.substr(0, 128)},
      {"action", c.action},
      {"reason", c.reason},
      {"type", c.type},
      {"note", CutNote(c.note)},
      {"regarding", regarding},
  };
  return e.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string SeriesPatchJson(int count, WallClock::time_point last_observed) {
  json p = {{"series",
             {{"count", count < 2 ? 2 : count}, {"lastObservedTime", MicroTime(last_observed)}}}};
  return p.dump();
}

}  // namespace vigil
