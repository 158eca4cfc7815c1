#include "agent/config/kubernetes_config.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "agent/config/config_fields.h"
#include "checks/common/json_read.h"
#include "checks/common/net.h"
#include "checks/registry.h"

namespace vigil {
namespace {

using json = nlohmann::json;

const std::vector<std::string> kApiKeys = {"url", "token_file", "ca_file"};
// A token or CA bundle bigger than this is refused (a projected token is
// about 1 KiB, a cluster CA a few).
constexpr size_t kMaxFileBytes = 256 * 1024;

std::string Env(const EnvLookup& env, const char* name) {
  if (!env) return "";
  return env(name).value_or("");
}

// The whole file, or a ConfigError on `field` saying why it cannot be read.
std::string ReadSmallFile(const std::string& path, const std::string& field) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(field, "cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream s;
  s << in.rdbuf();
  std::string text = s.str();
  if (text.size() > kMaxFileBytes) throw ConfigError(field, path + " is larger than 256 KiB");
  return text;
}

bool IsDnsLabelChars(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max || s.front() == '-' || s.back() == '-') return false;
  for (char c : s) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) return false;
  }
  return true;
}

// "https://HOST[:PORT][/prefix]" into its parts.
void ParseUrl(const std::string& url, KubernetesConfig* out) {
  const std::string field = "kubernetes_api.url";
  const std::string scheme = "https://";
  if (url.rfind(scheme, 0) != 0) {
    throw ConfigError(field, "want https://HOST[:PORT], got" + Echo(url));
  }
  std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  std::string path = slash == std::string::npos ? "" : rest.substr(slash);
  rest = rest.substr(0, slash);
  while (!path.empty() && path.back() == '/') path.pop_back();
  if (rest.find('@') != std::string::npos || path.find_first_of("?# ") != std::string::npos) {
    throw ConfigError(field, "want https://HOST[:PORT], got" + Echo(url));
  }
  const size_t bracket = rest.rfind(']');
  const bool has_port =
      rest.find(':', bracket == std::string::npos ? 0 : bracket) != std::string::npos;
  std::string host = rest;
  int port = 443;
  if (has_port && (!SplitHostPort(rest, &host, &port) || port <= 0 || port > 65535)) {
    throw ConfigError(field, "want https://HOST[:PORT], got" + Echo(url));
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host.empty()) throw ConfigError(field, "want https://HOST[:PORT], got" + Echo(url));
  out->url = scheme + rest + path;
  out->host = host;
  out->port = port;
  out->base_path = path;
}

// client-go's in-cluster URL: https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT.
std::string InClusterUrl(const EnvLookup& env) {
  const std::string host = Env(env, "KUBERNETES_SERVICE_HOST");
  std::string port = Env(env, "KUBERNETES_SERVICE_PORT");
  if (host.empty()) {
    throw ConfigError("kubernetes_api.url",
                      "not set, and KUBERNETES_SERVICE_HOST is not set either (not in a pod?)");
  }
  if (port.empty()) port = "443";
  const bool v6 = host.find(':') != std::string::npos;
  return "https://" + (v6 ? "[" + host + "]" : host) + ":" + port;
}

void ReadPod(const EnvLookup& env, KubernetesConfig* out) {
  out->pod_name = Env(env, "POD_NAME");
  if (!IsDnsLabelChars(out->pod_name, 253)) {
    throw ConfigError("kubernetes_events",
                      out->pod_name.empty()
                          ? "POD_NAME is not set (the Downward API's metadata.name)"
                          : "POD_NAME is not a pod name:" + Echo(out->pod_name));
  }
  out->pod_uid = Env(env, "POD_UID");
  out->pod_namespace = Env(env, "POD_NAMESPACE");
  if (out->pod_namespace.empty()) {
    std::ifstream in(std::string(kServiceAccountDir) + "/namespace");
    std::getline(in, out->pod_namespace);
  }
  if (!IsDnsLabelChars(out->pod_namespace, 63) ||
      out->pod_namespace.find('.') != std::string::npos) {
    throw ConfigError("kubernetes_events",
                      out->pod_namespace.empty()
                          ? "POD_NAMESPACE is not set and " + std::string(kServiceAccountDir) +
                                "/namespace cannot be read"
                          : "POD_NAMESPACE is not a namespace:" + Echo(out->pod_namespace));
  }
}

}  // namespace

bool KubernetesConfig::operator==(const KubernetesConfig& o) const {
  return events == o.events && url == o.url && token_file == o.token_file && ca_file == o.ca_file &&
         pod_name == o.pod_name && pod_namespace == o.pod_namespace && pod_uid == o.pod_uid;
}

KubernetesConfig ReadKubernetes(const json& doc) {
  KubernetesConfig out;
  out.events = OptionalBool(doc, "kubernetes_events", false, "kubernetes_events");
  json api = json::object();
  if (auto it = doc.find("kubernetes_api"); it != doc.end() && !it->is_null()) {
    RequireObject(*it, "kubernetes_api");
    RejectUnknownKeys(*it, kApiKeys, "kubernetes_api");
    api = *it;
  }
  const std::string sa = kServiceAccountDir;
  const std::string url = OptionalString(api, "url", "", "kubernetes_api.url");
  out.token_file = OptionalString(api, "token_file", sa + "/token", "kubernetes_api.token_file");
  out.ca_file = OptionalString(api, "ca_file", sa + "/ca.crt", "kubernetes_api.ca_file");
  if (out.token_file.empty()) throw ConfigError("kubernetes_api.token_file", "must not be empty");
  if (out.ca_file.empty()) throw ConfigError("kubernetes_api.ca_file", "must not be empty");
  if (!url.empty()) ParseUrl(url, &out);
  return out;
}

void ResolveKubernetes(const EnvLookup& env, KubernetesConfig* k) {
  KubernetesConfig& out = *k;
  if (!out.events) return;
  if (out.url.empty()) ParseUrl(InClusterUrl(env), &out);
  if (ReadSmallFile(out.token_file, "kubernetes_api.token_file").empty()) {
    throw ConfigError("kubernetes_api.token_file", out.token_file + " is empty");
  }
  if (ReadSmallFile(out.ca_file, "kubernetes_api.ca_file").find("-----BEGIN CERTIFICATE-----") ==
      std::string::npos) {
    throw ConfigError("kubernetes_api.ca_file", out.ca_file + " holds no PEM certificate");
  }
  ReadPod(env, &out);
}

}  // namespace vigil
