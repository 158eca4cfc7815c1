#include "agent/reporter.h"

#include <unistd.h>

#include <cerrno>
#include <ctime>

#include <nlohmann/json.hpp>

namespace vigil {

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
  }
  return "info";
}

std::string KindDisplayName(const std::string& kind) {
  if (kind == "redis") return "Redis";
  if (kind == "postgres") return "PostgreSQL";
  if (kind == "tcp") return "TCP";
  if (kind == "http") return "HTTP";
  return kind;
}

std::string FormatTime(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  std::snprintf(buf + n, sizeof buf - n, ".%03dZ", static_cast<int>(ms % 1000));
  return buf;
}

Reporter::Reporter(Format format, int fd, size_t capacity)
    : format_(format), fd_(fd), capacity_(capacity), writer_([this] { WriterLoop(); }) {}

Reporter::~Reporter() {
  Flush(500);
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  // The writer may sit in write() on a stuck pipe: wait a little, then leave
  // it behind rather than hang the exit.
  std::unique_lock<std::mutex> lock(mu_);
  if (drained_cv_.wait_for(lock, std::chrono::milliseconds(500), [&] { return exited_; })) {
    lock.unlock();
    writer_.join();
  } else {
    lock.unlock();
    writer_.detach();
  }
}

std::string Reporter::FormatLine(const Event& e, Format f) const {
  const std::string time = FormatTime(std::chrono::system_clock::now());
  if (f == Format::kJson) {
    nlohmann::json j;
    j["time"] = time;
    j["level"] = LevelName(e.level);
    j["event"] = e.event;
    if (!e.check.empty()) j["check"] = e.check;
    if (!e.kind.empty()) j["kind"] = e.kind;
    if (!e.reason.empty()) j["reason"] = e.reason;
    for (const auto& [k, v] : e.fields) j[k] = v;
    j["message"] = e.message;
    return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  std::string line = time + " " + LevelName(e.level) + " " + e.event;
  if (!e.check.empty()) line += " check=" + e.check;
  if (!e.kind.empty()) line += " kind=" + e.kind;
  for (const auto& [k, v] : e.fields) line += " " + k + "=" + v;
  if (!e.reason.empty()) line += " reason=\"" + e.reason + "\"";
  line += " msg=\"" + e.message + "\"\n";
  return line;
}

void Reporter::Report(Event e) noexcept {
  try {
    e.reason = redactor_.Scrub(std::move(e.reason));
    e.message = redactor_.Scrub(std::move(e.message));
    for (auto& f : e.fields) f.second = redactor_.Scrub(std::move(f.second));
    std::string line = FormatLine(e, format_.load());
    std::lock_guard<std::mutex> lock(mu_);
    if (queue_.size() >= capacity_) {
      dropped_.fetch_add(1);
      return;
    }
    queue_.push_back(std::move(line));
    cv_.notify_one();
  } catch (...) {
    // The thing that reports failures must not fail (seed 001).
    dropped_.fetch_add(1);
  }
}

void Reporter::Flush(int ms) noexcept {
  try {
    std::unique_lock<std::mutex> lock(mu_);
    drained_cv_.wait_for(lock, std::chrono::milliseconds(ms),
                         [&] { return queue_.empty() && !writing_; });
  } catch (...) {
  }
}

void Reporter::WriterLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [&] { return stop_ || !queue_.empty(); });
    if (queue_.empty() && stop_) {
      exited_ = true;
      drained_cv_.notify_all();
      return;
    }
    std::string line = std::move(queue_.front());
    queue_.pop_front();
    writing_ = true;
    lock.unlock();
    size_t off = 0;
    bool ok = true;
    while (off < line.size()) {
      ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        ok = false;  // closed or broken stdout: drop, keep going
        break;
      }
      off += static_cast<size_t>(n);
    }
    (ok ? written_ : dropped_).fetch_add(1);
    lock.lock();
    writing_ = false;
    if (queue_.empty()) drained_cv_.notify_all();
  }
}

}  // namespace vigil
