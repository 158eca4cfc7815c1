// When each check runs: pure timing decisions with the time passed in, so
// every rule is unit-tested without sleeping (tests/unit/schedule_test.cc).
#pragma once

#include <chrono>

namespace vigil {

// Interval plus jitter in [0, interval * jitter_percent / 100], at least 1 ms
// so that a zero interval can never spin ("prevent live lock", as Envoy puts it).
// `unit` is a uniform draw in [0, 1).
std::chrono::milliseconds JitteredInterval(int interval_ms, int jitter_percent, double unit);

// The gap between a check's first run and its second: uniform in
// (0, interval], at least 1 ms, so that pods started together spread their
// phases at once instead of running in lock-step. `unit` is a uniform draw in
// [0, 1).
std::chrono::milliseconds SpreadInterval(int interval_ms, double unit);

}  // namespace vigil
