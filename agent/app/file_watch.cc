#include "agent/app/file_watch.h"

#include <sys/stat.h>

namespace vigil {

FileStamp Stamp(const std::string& path) {
  struct stat st {};
  FileStamp s;
  if (stat(path.c_str(), &st) != 0) return s;
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
  return s;
}

bool Changed(const SecretFile& f) {
  const FileStamp now = Stamp(f.path);
  return now.size != f.size || now.dev != f.dev || now.ino != f.ino || now.mtime_ns != f.mtime_ns;
}

std::vector<SecretFile> Restamped(std::vector<SecretFile> files) {
  for (SecretFile& f : files) {
    const FileStamp now = Stamp(f.path);
    f.dev = now.dev;
    f.ino = now.ino;
    f.size = now.size;
    f.mtime_ns = now.mtime_ns;
  }
  return files;
}

}  // namespace vigil
