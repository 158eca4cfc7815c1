// Which changes of a check's effective state become Kubernetes Events, and
// their words (docs/kubernetes.md#events). Pure: snapshots in, changes out.
//   to fail, required check      DependencyDown       Warning
//   to fail, optional check      DependencyDegraded   Warning
//   to warn                      DependencyDegraded   Warning
//   to pass after warn or fail   DependencyRecovered  Normal
//   starts flapping              DependencyFlapping   Warning
// A check's first result after start or a reload is a change only when it
// is not a pass. The note names the check, the reason and how long the
// previous state lasted ("redis-session recovered after 2m14s").
#pragma once

#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "agent/core/snapshot.h"

namespace vigil {

inline constexpr char kReasonDown[] = "DependencyDown";
inline constexpr char kReasonDegraded[] = "DependencyDegraded";
inline constexpr char kReasonRecovered[] = "DependencyRecovered";
inline constexpr char kReasonFlapping[] = "DependencyFlapping";

struct DependencyChange {
  std::string check;
  std::string reason;  // kReason*
  std::string type;    // "Normal" | "Warning"
  std::string action;  // "CheckFailed" | "CheckWarned" | "CheckRecovered" | "CheckFlapping"
  std::string note;
  WallClock::time_point time;  // when the check changed
};

// The flapping hook: a CheckView with a `flapping` member (issue 21's flap
// detection) makes "starts flapping" a change; without one nothing flaps.
template <typename T, typename = void>
struct HasFlapping : std::false_type {};
template <typename T>
struct HasFlapping<T, std::void_t<decltype(std::declval<const T&>().flapping)>> : std::true_type {};
template <typename T>
bool FlappingOf(const T& check) {
  if constexpr (HasFlapping<T>::value) {
    return static_cast<bool>(check.flapping);
  } else {
    return false;
  }
}

// "2m14s", "45s", "1h2m", "3d4h": the two largest units, whole seconds.
std::string ShortDuration(WallClock::duration d);

// Remembers each check's last seen state and turns the next snapshot's
// differences into changes. One caller at a time.
class ChangeWatcher {
 public:
  // The changes since the previous call (none on the first: it only learns).
  std::vector<DependencyChange> Observe(const HealthSnapshot& s);
  // Forgets everything: the next Observe only learns.
  void Reset() {
    seen_.clear();
    primed_ = false;
  }

 private:
  struct Seen {
    Status status = Status::kUnknown;
    WallClock::time_point since;
    bool flapping = false;
  };
  bool Differs(const HealthSnapshot& s) const;

  std::map<std::string, Seen> seen_;
  bool primed_ = false;
};

// The change for one check going from `before` to `now`, if it is one.
// `before_since` is when the previous state began (ignored for kUnknown).
bool ChangeOf(const CheckView& now, Status before, WallClock::time_point before_since,
              DependencyChange* out);
DependencyChange FlappingChange(const CheckView& now);

}  // namespace vigil
