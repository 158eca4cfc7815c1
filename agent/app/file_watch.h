// What the daemon's watcher compares: a file's identity and size as stat()
// sees it (docs/secrets.md, docs/operations.md).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "agent/config/secret_files.h"

namespace vigil {

// A file as the watcher last saw it. A ConfigMap update swaps the `..data`
// symlink, so stat() (which follows links) sees a new inode.
struct FileStamp {
  dev_t dev = 0;
  ino_t ino = 0;
  off_t size = -1;  // -1: missing or unreadable
  int64_t mtime_ns = 0;
  bool operator==(const FileStamp& o) const {
    return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
  }
  bool operator!=(const FileStamp& o) const { return !(*this == o); }
};

// stat() of `path` now.
FileStamp Stamp(const std::string& path);

// Has the secret file changed since it was read (or since it was found
// unreadable)? A Secret volume update swaps the `..data` symlink: stat()
// follows it to a new inode.
bool Changed(const SecretFile& f);

// The files with their stamps as they are now.
std::vector<SecretFile> Restamped(std::vector<SecretFile> files);

}  // namespace vigil
