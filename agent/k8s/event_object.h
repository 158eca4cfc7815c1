// The bodies vigil sends to the Kubernetes API (docs/kubernetes.md#events):
// an events.k8s.io/v1 Event regarding the pod, and the merge patch that
// updates its series. Pure functions of their arguments.
#pragma once

#include <string>

#include "agent/core/check_state.h"
#include "agent/k8s/state_changes.h"

namespace vigil {

// Who reports: the `reportingController` of every Event (a qualified name,
// as the API requires: "kubernetes.io/kubelet" is the kubelet's).
inline constexpr char kReportingController[] = "vigil.dev/agent";
// The API refuses a note over 1 KiB; longer ones are cut (UTF-8 safe).
inline constexpr size_t kMaxNoteBytes = 1024;

struct PodRef {
  std::string name;
  std::string namespace_;
  std::string uid;  // "" leaves regarding.uid out
};

// "2026-12-01T21:00:00.123456Z" (MicroTime: RFC 3339, microseconds, UTC).
std::string MicroTime(WallClock::time_point t);

// A new Event's name, as client-go names them: "POD.HEXNANOS" (the pod's
// part cut so the whole is a DNS subdomain of at most 253 characters).
std::string EventName(const std::string& pod, WallClock::time_point t);

// The note cut to kMaxNoteBytes without splitting a UTF-8 sequence.
std::string CutNote(const std::string& note);

// POST body: the whole Event.
std::string EventJson(const PodRef& pod, const std::string& name, const DependencyChange& c);

// PATCH body (application/merge-patch+json): {"series":{"count":N,
// "lastObservedTime":T}}; count is at least 2.
std::string SeriesPatchJson(int count, WallClock::time_point last_observed);

}  // namespace vigil
