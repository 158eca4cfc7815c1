#include "agent/k8s/event_book.h"

#include <algorithm>

namespace vigil {

bool EventBook::Take(const std::string& check, Clock::time_point now) {
  auto [it, fresh] = buckets_.try_emplace(check);
  Bucket& b = it->second;
  if (fresh) b.at = now;
  const double refill_s = std::chrono::duration<double>(kRefill).count();
  const double elapsed = std::chrono::duration<double>(now - b.at).count();
  if (elapsed > 0) {
    b.tokens = std::min<double>(kBurst, b.tokens + elapsed / refill_s);
    b.at = now;
  }
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

EventBook::Decision EventBook::Decide(const std::string& check, const std::string& reason,
                                      Clock::time_point now) {
  Decision d;
  const auto key = std::make_pair(check, reason);
  auto it = series_.find(key);
  const bool repeat =
      it != series_.end() && !it->second.name.empty() && now - it->second.last < kSeriesWindow;
  if (repeat) {
    ++it->second.count;
    it->second.last = now;
    d.action = Action::kPatch;
    d.name = it->second.name;
    d.count = it->second.count;
  } else {
    series_[key] = Series{"", 1, now};
    d.action = Action::kCreate;
  }
  if (!Take(check, now)) {
    // Nothing exists for an unsent create; a repeat keeps its count.
    if (!repeat) series_.erase(key);
    d.action = Action::kRateLimited;
  }
  return d;
}

void EventBook::Created(const std::string& check, const std::string& reason,
                        const std::string& name) {
  auto it = series_.find(std::make_pair(check, reason));
  if (it != series_.end()) it->second.name = name;
}

void EventBook::Forget(const std::string& check, const std::string& reason) {
  series_.erase(std::make_pair(check, reason));
}

void EventBook::Expire(Clock::time_point now) {
  for (auto it = series_.begin(); it != series_.end();) {
    it = now - it->second.last >= kSeriesWindow ? series_.erase(it) : std::next(it);
  }
  const double refill_s = std::chrono::duration<double>(kRefill).count();
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    const double full =
        it->second.tokens + std::chrono::duration<double>(now - it->second.at).count() / refill_s;
    it = full >= kBurst ? buckets_.erase(it) : std::next(it);
  }
}

}  // namespace vigil
