// Polling for a condition in tests, bounded in time.
#pragma once

#include <chrono>
#include <thread>

namespace vigil::testing {

// Polls `pred` every 25 ms until it holds or `limit` has passed; a last look
// at the end. Whether it held.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit) {
  const auto end = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return pred();
}

}  // namespace vigil::testing
