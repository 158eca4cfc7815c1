// The one reporter (seeds 000/001): every failure and state change of the
// agent goes through here, in one format, one line an event, to stdout.
// It never throws and never blocks its caller: events go into a bounded
// queue that one writer thread drains; when stdout is full or gone, events
// are dropped and counted instead of stalling a check.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "agent/log/redact.h"

namespace vigil {

enum class Level { kDebug, kInfo, kWarn, kError };
const char* LevelName(Level l);

struct Event {
  Level level = Level::kInfo;
  std::string event;    // check_failed, circuit_opened, config_reloaded, ...
  std::string check;    // empty for agent-wide events
  std::string kind;     // redis, postgres, tcp, http
  std::string reason;   // one line
  std::string message;  // seeds' style: "[redis-cache] Redis error: ..."
  std::vector<std::pair<std::string, std::string>> fields;  // extra, printed as strings
};

class Reporter {
 public:
  enum class Format { kJson, kText };

  // Writes to `fd` (1 = stdout). `capacity` events may wait; more are dropped.
  explicit Reporter(Format format = Format::kJson, int fd = 1, size_t capacity = 4096);
  ~Reporter();
  Reporter(const Reporter&) = delete;
  Reporter& operator=(const Reporter&) = delete;

  void Report(Event e) noexcept;
  void SetFormat(Format f) { format_.store(f); }
  void SetSecrets(const std::vector<std::string>& secrets) { redactor_.SetSecrets(secrets); }
  const Redactor& redactor() const { return redactor_; }

  // Waits up to `ms` for the queue to drain (before exit).
  void Flush(int ms) noexcept;

  uint64_t dropped() const { return dropped_.load(); }
  uint64_t written() const { return written_.load(); }

  // The line an event becomes (exposed for tests).
  std::string FormatLine(const Event& e, Format f) const;

 private:
  void WriterLoop();

  std::atomic<Format> format_;
  const int fd_;
  const size_t capacity_;
  Redactor redactor_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::condition_variable drained_cv_;
  std::deque<std::string> queue_;  // Guarded by mu_.
  bool stop_ = false;              // Guarded by mu_.
  bool writing_ = false;           // Guarded by mu_.
  bool exited_ = false;            // Guarded by mu_.
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> written_{0};
  std::thread writer_;
};

// The seeds' message: "[check] Redis error: reason".
std::string KindDisplayName(const std::string& kind);

// RFC 3339 UTC with milliseconds: 2026-11-23T08:39:16.123Z
std::string FormatTime(std::chrono::system_clock::time_point t);

}  // namespace vigil
