// One HTTPS request to the Kubernetes API at a time, on vigil's own
// non-blocking socket (checks/common/net.h, checks/common/tls.h): resolve,
// connect, handshake verified against the CA file, write, read, all under
// the request's one absolute deadline; a new connection per request
// (`Connection: close`: Events are rare). The bearer token is read from its
// file again whenever the file changes (a projected token rotates), the CA
// file on every connection. Used by the recorder's thread only, but Abort()
// may be called from any thread.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "agent/config/kubernetes_config.h"
#include "checks/check.h"
#include "checks/common/thread_annotations.h"

namespace vigil {

struct KubeResponse {
  int status = 0;          // 0: no answer (see error)
  bool timed_out = false;  // the deadline ran out
  std::string error;       // one line when status is 0
  std::string body;        // the first 64 KiB
};

class KubeClient {
 public:
  explicit KubeClient(KubernetesConfig config) : config_(std::move(config)) {}

  // `path` below the URL's own prefix, e.g. "/apis/events.k8s.io/v1/...".
  KubeResponse Send(const std::string& method, const std::string& path,
                    const std::string& content_type, const std::string& body, Deadline deadline);
  // Shuts the socket of a request in flight (Stop): it ends at once.
  void Abort();
  const KubernetesConfig& config() const { return config_; }

 private:
  struct FileId {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    int64_t mtime_ns = 0;
    bool operator==(const FileId& o) const {
      return dev == o.dev && ino == o.ino && size == o.size && mtime_ns == o.mtime_ns;
    }
  };
  // The token, read again when its file changed; "" when unreadable.
  const std::string& Token();
  std::string RequestText(const std::string& method, const std::string& path,
                          const std::string& content_type, const std::string& body);
  KubeResponse Exchange(int fd, const std::string& request, Deadline deadline);

  const KubernetesConfig config_;
  std::string token_;
  FileId token_id_;

  Mutex mu_;
  int active_fd_ VIGIL_GUARDED_BY(mu_) = -1;
  bool aborted_ VIGIL_GUARDED_BY(mu_) = false;
};

}  // namespace vigil
