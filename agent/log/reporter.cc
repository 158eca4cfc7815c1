#include "agent/log/reporter.h"

#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <ctime>

#include <nlohmann/json.hpp>

#include "checks/registry.h"

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
  const CheckKind* k = CheckRegistry::Builtin().Find(kind);
  return k != nullptr && !k->display_name.empty() ? k->display_name : kind;
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

namespace {

// Length of the valid UTF-8 sequence at s[i] (2-4), or 0 when it is not one
// (a stray continuation byte, an overlong form, a surrogate, past U+10FFFF,
// cut short).
size_t Utf8Length(const std::string& s, size_t i, uint32_t* cp) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = b(i);
  size_t n;
  uint32_t v;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2, v = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3, v = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4, v = c & 0x07;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b(i + k) & 0x3F);
  }
  if ((n == 3 && (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))) ||
      (n == 4 && (v < 0x10000 || v > 0x10FFFF))) {
    return 0;
  }
  *cp = v;
  return n;
}

void AppendHex(std::string* out, const char* prefix, unsigned v, int digits) {
  char buf[12];
  std::snprintf(buf, sizeof buf, "%s%0*X", prefix, digits, v);
  *out += buf;
}

// A value of a text log line, safe whatever the bytes: control characters
// (C0, DEL, C1), quotes, backslashes and bytes that are not UTF-8 are escaped.
// Bare when it is a plain word, else in double quotes, so a value can never
// end the line, start a key=value of its own or colour a terminal.
std::string TextValue(const std::string& v, bool always_quote) {
  bool plain = !v.empty() && !always_quote;
  std::string esc;
  esc.reserve(v.size() + 2);
  for (size_t i = 0; i < v.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(v[i]);
    if (c >= 0x80) {
      uint32_t cp = 0;
      const size_t n = Utf8Length(v, i, &cp);
      plain = false;
      if (n == 0) {
        AppendHex(&esc, "\\x", c, 2);
      } else if (cp <= 0x9F) {
        AppendHex(&esc, "\\u", cp, 4);  // C1 controls (8-bit CSI and the like)
        i += n - 1;
      } else {
        esc.append(v, i, n);
        i += n - 1;
      }
      continue;
    }
    if (!(std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == ':' || c == '/' || c == '@' ||
          c == '+' || c == ',')) {
      plain = false;
    }
    switch (c) {
      case '"':
        esc += "\\\"";
        break;
      case '\\':
        esc += "\\\\";
        break;
      case '\n':
        esc += "\\n";
        break;
      case '\r':
        esc += "\\r";
        break;
      case '\t':
        esc += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          AppendHex(&esc, "\\x", c, 2);
        } else {
          esc.push_back(static_cast<char>(c));
        }
    }
  }
  return plain ? esc : "\"" + esc + "\"";
}

}  // namespace

Reporter::Reporter(Format format, int fd, size_t capacity)
    : format_(format), fd_(fd), capacity_(capacity), writer_([this] { WriterLoop(); }) {}

Reporter::~Reporter() {
  Flush(500);
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  cv_.NotifyAll();
  // The writer may sit in write() on a stuck pipe: wait a little, then leave
  // it behind rather than hang the exit.
  bool exited = false;
  {
    MutexLock lock(mu_);
    exited = drained_cv_.WaitFor(lock, std::chrono::milliseconds(500),
                                 [this]() VIGIL_NO_THREAD_SAFETY_ANALYSIS { return exited_; });
  }
  if (exited) {
    writer_.join();
  } else {
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
  // Every value escaped (TextValue): a dependency's text (an error, a
  // Sentinel's master name) cannot forge a line or a field.
  std::string line = time + " " + LevelName(e.level) + " " + TextValue(e.event, false);
  if (!e.check.empty()) line += " check=" + TextValue(e.check, false);
  if (!e.kind.empty()) line += " kind=" + TextValue(e.kind, false);
  for (const auto& [k, v] : e.fields) line += " " + TextValue(k, false) + "=" + TextValue(v, false);
  if (!e.reason.empty()) line += " reason=" + TextValue(e.reason, true);
  line += " msg=" + TextValue(e.message, true) + "\n";
  return line;
}

Event Event::Agent(Level level, std::string event, std::string message, EventFields fields) {
  Event e;
  e.level = level;
  e.event = std::move(event);
  e.message = std::move(message);
  e.fields = std::move(fields);
  return e;
}

void Reporter::Info(std::string event, std::string message, EventFields fields) noexcept {
  try {
    Report(Event::Agent(Level::kInfo, std::move(event), std::move(message), std::move(fields)));
  } catch (...) {
    dropped_.fetch_add(1);
  }
}

void Reporter::Warn(std::string event, std::string message, EventFields fields) noexcept {
  try {
    Report(Event::Agent(Level::kWarn, std::move(event), std::move(message), std::move(fields)));
  } catch (...) {
    dropped_.fetch_add(1);
  }
}

void Reporter::Error(std::string event, std::string message, EventFields fields) noexcept {
  try {
    Report(Event::Agent(Level::kError, std::move(event), std::move(message), std::move(fields)));
  } catch (...) {
    dropped_.fetch_add(1);
  }
}

void Reporter::Report(Event e) noexcept {
  try {
    e.reason = redactor_.Scrub(std::move(e.reason));
    e.message = redactor_.Scrub(std::move(e.message));
    for (auto& f : e.fields) f.second = redactor_.Scrub(std::move(f.second));
    std::string line = FormatLine(e, format_.load());
    MutexLock lock(mu_);
    if (queue_.size() >= capacity_) {
      dropped_.fetch_add(1);
      return;
    }
    queue_.push_back(std::move(line));
    cv_.NotifyOne();
  } catch (...) {
    // The thing that reports failures must not fail.
    dropped_.fetch_add(1);
  }
}

void Reporter::Flush(int ms) noexcept {
  try {
    MutexLock lock(mu_);
    drained_cv_.WaitFor(
        lock, std::chrono::milliseconds(ms),
        [this]() VIGIL_NO_THREAD_SAFETY_ANALYSIS { return queue_.empty() && !writing_; });
  } catch (...) {
  }
}

void Reporter::WriterLoop() {
  std::string line;
  bool wrote = false;
  while (TakeLine(&line, wrote)) {
    (WriteLine(line) ? written_ : dropped_).fetch_add(1);
    wrote = true;
  }
}

bool Reporter::TakeLine(std::string* line, bool wrote) {
  MutexLock lock(mu_);
  if (wrote) {
    writing_ = false;
    if (queue_.empty()) drained_cv_.NotifyAll();
  }
  cv_.Wait(lock, [this]() VIGIL_NO_THREAD_SAFETY_ANALYSIS { return stop_ || !queue_.empty(); });
  if (queue_.empty() && stop_) {
    exited_ = true;
    drained_cv_.NotifyAll();
    return false;
  }
  *line = std::move(queue_.front());
  queue_.pop_front();
  writing_ = true;
  return true;
}

bool Reporter::WriteLine(const std::string& line) const {
  size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // closed or broken stdout: drop, keep going
    off += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace vigil
