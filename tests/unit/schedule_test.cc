// The pure schedule: interval, jitter and the spread of the second run,
// with the time passed in (no sleeping).
#include "agent/core/schedule.h"

#include <gtest/gtest.h>

namespace vigil {
namespace {

using namespace std::chrono_literals;

TEST(Jitter, StaysWithinBounds) {
  EXPECT_EQ(JitteredInterval(1000, 10, 0.0), 1000ms);
  EXPECT_EQ(JitteredInterval(1000, 10, 0.999999), 1099ms);
  EXPECT_EQ(JitteredInterval(1000, 0, 0.7), 1000ms);
  EXPECT_EQ(JitteredInterval(1000, 100, 0.5), 1500ms);
  EXPECT_EQ(JitteredInterval(0, 0, 0.0), 1ms);         // never zero: no live lock
  EXPECT_EQ(JitteredInterval(1000, 10, 7.0), 1100ms);  // clamped draw
  for (int i = 0; i < 1000; ++i) {
    auto d = JitteredInterval(5000, 10, i / 1000.0);
    EXPECT_GE(d, 5000ms);
    EXPECT_LE(d, 5500ms);
  }
}

TEST(Spread, SecondRunAnywhereInTheInterval) {
  EXPECT_EQ(SpreadInterval(1000, 0.0), 1000ms);  // the whole interval at most
  EXPECT_EQ(SpreadInterval(1000, 0.5), 500ms);
  EXPECT_EQ(SpreadInterval(1000, 0.9999999), 1ms);  // never zero
  EXPECT_EQ(SpreadInterval(0, 0.3), 1ms);
  EXPECT_EQ(SpreadInterval(1000, -3.0), 1000ms);  // clamped draw
  for (int i = 0; i < 1000; ++i) {
    auto d = SpreadInterval(5000, i / 1000.0);
    EXPECT_GT(d, 0ms);
    EXPECT_LE(d, 5000ms);
  }
}

}  // namespace
}  // namespace vigil
