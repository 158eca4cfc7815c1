// Secret files: what a ${file:/path} reference reads (docs/secrets.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vigil {

// A file a ${file:/path} reference read, as it was when read (fstat of the
// open file, so a watcher that stat()s the path later sees any change since).
// An unreadable one has size -1.
struct SecretFile {
  std::string path;
  uint64_t dev = 0;
  uint64_t ino = 0;
  int64_t size = -1;
  int64_t mtime_ns = 0;
};

constexpr size_t kMaxSecretFileBytes = 64 * 1024;

// Reads a secret file as ${file:...} does (bounded, regular files only, one
// trailing newline cut). Sets *stamp (when given) from the open file. Throws
// ConfigError(field, ...) naming the path, never the contents.
std::string ReadSecretFile(const std::string& path, const std::string& field,
                           SecretFile* stamp = nullptr);

}  // namespace vigil
