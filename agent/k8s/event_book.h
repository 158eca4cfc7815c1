// What the recorder remembers of the Events it sent (docs/kubernetes.md#events):
// which (check, reason) has a live Event and its series count, and each
// check's token bucket. Pure; the clock is the caller's.
//
// Series: a change with the same (check, reason) as an Event sent less than
// kSeriesWindow ago updates that Event's series (PATCH) instead of creating
// one, as client-go's events recorder does (its 6-minute window).
// Rate limit: a token bucket per check, as client-go's spam filter: a burst
// of kBurst Events, then one every kRefill. A change with no token is not
// sent (counted as dropped); a repeat still counts in the series, so the
// next PATCH carries the true count.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <utility>

#include "checks/check.h"

namespace vigil {

class EventBook {
 public:
  static constexpr std::chrono::minutes kSeriesWindow{6};
  static constexpr int kBurst = 25;
  static constexpr std::chrono::minutes kRefill{5};

  enum class Action { kCreate, kPatch, kRateLimited };
  struct Decision {
    Action action = Action::kCreate;
    std::string name;  // kPatch: the Event to update
    int count = 1;     // kPatch: the series count to send
  };

  // A change of `check` to `reason` at `now`.
  Decision Decide(const std::string& check, const std::string& reason, Clock::time_point now);
  // The API has the Event `name` for (check, reason) (created, or 409).
  void Created(const std::string& check, const std::string& reason, const std::string& name);
  // The Event could not be created or updated: the next change creates anew.
  void Forget(const std::string& check, const std::string& reason);
  // Drops series older than the window and full buckets (bounded memory).
  void Expire(Clock::time_point now);
  size_t series_size() const { return series_.size(); }

 private:
  struct Series {
    std::string name;  // "" until created
    int count = 1;
    Clock::time_point last{};
  };
  struct Bucket {
    double tokens = kBurst;
    Clock::time_point at{};
  };
  bool Take(const std::string& check, Clock::time_point now);

  std::map<std::pair<std::string, std::string>, Series> series_;
  std::map<std::string, Bucket> buckets_;
};

}  // namespace vigil
