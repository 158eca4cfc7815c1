#include "agent/config/admin_token.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstring>

#include "agent/config/config.h"

namespace vigil {

void ValidateAdminToken(const std::string& token, const std::string& field, const char* what) {
  if (token.size() < kMinAdminTokenBytes) {
    throw ConfigError(field, std::string(what) + " is shorter than " +
                                 std::to_string(kMinAdminTokenBytes) + " bytes");
  }
}

std::optional<std::string> ReadAdminTokenFile(const std::string& path, const std::string& field,
                                              const char* what) {
  // O_NONBLOCK: a FIFO put in its place must not hang the agent.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return std::nullopt;
  struct stat st {};
  std::string token;
  std::string fault;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    fault = "not a regular file";
  } else if (static_cast<size_t>(st.st_size) > kMaxAdminTokenFileBytes) {
    fault = "larger than " + std::to_string(kMaxAdminTokenFileBytes) + " bytes";
  } else {
    char buf[kMaxAdminTokenFileBytes + 1];
    size_t got = 0;
    while (got < sizeof buf) {
      ssize_t n = ::read(fd, buf + got, sizeof buf - got);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) fault = std::string("cannot read: ") + std::strerror(errno);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
    }
    // It may have grown since fstat.
    if (fault.empty() && got > kMaxAdminTokenFileBytes) {
      fault = "larger than " + std::to_string(kMaxAdminTokenFileBytes) + " bytes";
    }
    token.assign(buf, got);
  }
  ::close(fd);
  if (!fault.empty()) throw ConfigError(field, fault);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  ValidateAdminToken(token, field, what);
  return token;
}

std::string LoadAdminToken(const Config& config, const EnvLookup& env) {
  if (std::optional<std::string> t = env("VIGIL_ADMIN_TOKEN"); t && !t->empty()) {
    ValidateAdminToken(*t, "VIGIL_ADMIN_TOKEN");
    return *t;
  }
  if (config.admin_token_file.empty()) return "";
  return ReadAdminTokenFile(config.admin_token_file, "admin_token_file").value_or("");
}

}  // namespace vigil
