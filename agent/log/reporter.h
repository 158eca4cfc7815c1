// The one reporter (seeds 000/001): every failure and state change of the
// agent goes through here, in one format, one line an event, to stdout.
// It never throws and never blocks its caller: events go into a bounded
// queue that one writer thread drains; when stdout is full or gone, events
// are dropped and counted instead of stalling a check.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "agent/log/redact.h"
#include "checks/common/thread_annotations.h"

namespace vigil {

enum class Level { kDebug, kInfo, kWarn, kError };
const char* LevelName(Level l);

// Extra fields of an event, printed as strings in this order (text format).
using EventFields = std::vector<std::pair<std::string, std::string>>;

struct Event {
  Level level = Level::kInfo;
  std::string event;    // check_failed, circuit_opened, config_reloaded, ...
  std::string check;    // empty for agent-wide events
  std::string kind;     // redis, postgres, tcp, http
  std::string reason;   // one line
  std::string message;  // seeds' style: "[redis-cache] Redis error: ..."
  EventFields fields;   // extra, printed as strings

  // An agent-wide event (no check, no kind):
  //   reporter.Report(Event::Agent(Level::kError, "config_rejected", msg).WithReason(why));
  static Event Agent(Level level, std::string event, std::string message, EventFields fields = {});
  Event&& WithReason(std::string r) && {
    reason = std::move(r);
    return std::move(*this);
  }
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
  // Agent-wide events without a reason: Info("started", message, {{"listen", addr}}).
  void Info(std::string event, std::string message, EventFields fields = {}) noexcept;
  void Warn(std::string event, std::string message, EventFields fields = {}) noexcept;
  void Error(std::string event, std::string message, EventFields fields = {}) noexcept;
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
  // Waits for the next line (after marking the last one written when
  // `wrote`); false when stopped and drained.
  bool TakeLine(std::string* line, bool wrote);
  // Writes the whole line to fd_; false when the fd is closed or broken.
  bool WriteLine(const std::string& line) const;

  std::atomic<Format> format_;
  const int fd_;
  const size_t capacity_;
  Redactor redactor_;
  Mutex mu_;
  CondVar cv_;
  CondVar drained_cv_;
  std::deque<std::string> queue_ VIGIL_GUARDED_BY(mu_);
  bool stop_ VIGIL_GUARDED_BY(mu_) = false;
  bool writing_ VIGIL_GUARDED_BY(mu_) = false;
  bool exited_ VIGIL_GUARDED_BY(mu_) = false;
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> written_{0};
  std::thread writer_;
};

// The seeds' message: "[check] Redis error: reason".
std::string KindDisplayName(const std::string& kind);

// RFC 3339 UTC with milliseconds: 2026-11-23T08:39:16.123Z
std::string FormatTime(std::chrono::system_clock::time_point t);

}  // namespace vigil
