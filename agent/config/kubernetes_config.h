// `kubernetes_events` and `kubernetes_api` (docs/kubernetes.md#events): where
// the Kubernetes API is and which pod vigil's Events are about. The API is
// found as client-go finds it in a pod (KUBERNETES_SERVICE_HOST/_PORT, the
// service account's token, CA and namespace files); `kubernetes_api` overrides
// each. The pod comes from POD_NAME, POD_NAMESPACE and POD_UID (Downward API).
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "agent/config/variables.h"

namespace vigil {

// The service account's files as the kubelet mounts them.
inline constexpr char kServiceAccountDir[] = "/var/run/secrets/kubernetes.io/serviceaccount";

struct KubernetesConfig {
  bool events = false;  // kubernetes_events
  // Resolved: "https://HOST:PORT" (any path prefix kept, no trailing '/').
  std::string url;
  std::string host;  // of url, as dialled and verified (no brackets)
  int port = 443;
  std::string base_path;  // of url: "" or "/prefix"
  std::string token_file;
  std::string ca_file;
  // The pod the Events are about.
  std::string pod_name;
  std::string pod_namespace;
  std::string pod_uid;  // "" when POD_UID is not set

  bool operator==(const KubernetesConfig& o) const;
  bool operator!=(const KubernetesConfig& o) const { return !(*this == o); }
};

// Reads doc["kubernetes_events"] and doc["kubernetes_api"] (the keys only:
// `vigil validate` checks a config outside the pod it is meant for).
// Throws ConfigError naming the field.
KubernetesConfig ReadKubernetes(const nlohmann::json& doc);

// With events on, what only the pod has: the API's in-cluster URL from
// `env`, the token and CA files readable, the pod's name and namespace.
// `vigil run` calls it at start and at each reload. Throws ConfigError.
void ResolveKubernetes(const EnvLookup& env, KubernetesConfig* k);

}  // namespace vigil
