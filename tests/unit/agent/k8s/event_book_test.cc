// Series and the per-check rate limit of the Kubernetes Events.
#include "agent/k8s/event_book.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

using namespace std::chrono_literals;
using A = EventBook::Action;

TEST(EventBook, RepeatsWithinTheWindowPatchTheSeries) {
  EventBook b;
  Clock::time_point t{};
  EXPECT_EQ(b.Decide("db", "DependencyDown", t).action, A::kCreate);
  b.Created("db", "DependencyDown", "pod.1");
  EXPECT_EQ(b.Decide("db", "DependencyRecovered", t + 1s).action, A::kCreate);
  const auto d = b.Decide("db", "DependencyDown", t + 2s);
  EXPECT_EQ(d.action, A::kPatch);
  EXPECT_EQ(d.name, "pod.1");
  EXPECT_EQ(d.count, 2);
  EXPECT_EQ(b.Decide("db", "DependencyDown", t + 3s).count, 3);
  // Past the window (from the last repeat): a new Event.
  EXPECT_EQ(b.Decide("db", "DependencyDown", t + 3s + EventBook::kSeriesWindow).action, A::kCreate);
}

TEST(EventBook, AnUncreatedEventIsCreatedAgain) {
  EventBook b;
  Clock::time_point t{};
  b.Decide("db", "DependencyDown", t);
  b.Forget("db", "DependencyDown");
  EXPECT_EQ(b.Decide("db", "DependencyDown", t + 1s).action, A::kCreate);
  // Not confirmed created yet: still a create.
  EXPECT_EQ(b.Decide("db", "DependencyDown", t + 2s).action, A::kCreate);
}

TEST(EventBook, BurstThenOneEveryRefillPerCheck) {
  EventBook b;
  Clock::time_point t{};
  for (int i = 0; i < EventBook::kBurst; ++i) {
    EXPECT_NE(b.Decide("db", "R" + std::to_string(i), t).action, A::kRateLimited) << i;
  }
  EXPECT_EQ(b.Decide("db", "again", t).action, A::kRateLimited);
  // Another check has its own bucket.
  EXPECT_EQ(b.Decide("cache", "DependencyDown", t).action, A::kCreate);
  EXPECT_EQ(b.Decide("db", "again", t + EventBook::kRefill).action, A::kCreate);
  EXPECT_EQ(b.Decide("db", "again2", t + EventBook::kRefill).action, A::kRateLimited);
}

TEST(EventBook, ARateLimitedRepeatStillCounts) {
  EventBook b;
  Clock::time_point t{};
  b.Decide("db", "DependencyDown", t);
  b.Created("db", "DependencyDown", "pod.1");
  for (int i = 1; i < EventBook::kBurst; ++i) b.Decide("db", "DependencyDown", t + 1ms * i);
  EXPECT_EQ(b.Decide("db", "DependencyDown", t + 1s).action, A::kRateLimited);
  // A token again after kRefill; within kSeriesWindow (6 min) of the last
  // repeat, so still the series, with the rate-limited repeat counted.
  const auto d = b.Decide("db", "DependencyDown", t + 1s + EventBook::kRefill);
  EXPECT_EQ(d.action, A::kPatch);
  EXPECT_EQ(d.count, EventBook::kBurst + 2);
}

TEST(EventBook, ExpireBoundsMemory) {
  EventBook b;
  Clock::time_point t{};
  b.Decide("db", "DependencyDown", t);
  b.Expire(t + EventBook::kSeriesWindow);
  EXPECT_EQ(b.series_size(), 0u);
}

}  // namespace
}  // namespace vigil
