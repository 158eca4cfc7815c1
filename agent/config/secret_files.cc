#include "agent/config/secret_files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "checks/registry.h"

namespace vigil {

std::string ReadSecretFile(const std::string& path, const std::string& field, SecretFile* stamp) {
  auto fault = [&](const std::string& why) {
    return ConfigError(field, "cannot read secret file " + path + ": " + why);
  };
  // The stamp is of the file as found, readable or not: a watcher compares
  // it with a later stat() and must not see a change where there is none.
  auto set_stamp = [&](const struct stat& st) {
    if (stamp == nullptr) return;
    stamp->path = path;
    stamp->dev = st.st_dev;
    stamp->ino = st.st_ino;
    stamp->size = st.st_size;
    stamp->mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  };
  struct stat st {};
  // O_NONBLOCK: a FIFO put in the file's place must not hang the agent.
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
  if (fd < 0) {
    const int err = errno;
    if (stat(path.c_str(), &st) == 0) set_stamp(st);
    throw fault(std::strerror(err));
  }
  struct Closer {
    int fd;
    ~Closer() { close(fd); }
  } closer{fd};
  if (fstat(fd, &st) != 0) throw fault(std::strerror(errno));
  set_stamp(st);
  if (!S_ISREG(st.st_mode)) throw fault("not a regular file");
  if (static_cast<uint64_t>(st.st_size) > kMaxSecretFileBytes) throw fault("larger than 64 KiB");
  std::string text;
  char buf[8192];
  for (;;) {
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw fault(std::strerror(errno));
    if (n == 0) break;
    text.append(buf, static_cast<size_t>(n));
    // The file may have grown since fstat().
    if (text.size() > kMaxSecretFileBytes) throw fault("larger than 64 KiB");
  }
  // One line ending, as `echo` and editors leave it; more is content.
  if (text.size() >= 2 && text.compare(text.size() - 2, 2, "\r\n") == 0) {
    text.resize(text.size() - 2);
  } else if (!text.empty() && text.back() == '\n') {
    text.pop_back();
  }
  return text;
}

}  // namespace vigil
