// `kubernetes_events` and `kubernetes_api` (docs/kubernetes.md#events).
#include "agent/config/kubernetes_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>

#include "agent/config/config.h"

namespace vigil {
namespace {

class KubernetesConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/vigil-k8s-config-XXXXXX";
    dir_ = mkdtemp(tmpl);
    token_ = dir_ + "/token";
    ca_ = dir_ + "/ca.crt";
    std::ofstream(token_) << "eyJhbGciOi.token\n";
    std::ofstream(ca_) << "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    env_ = {{"POD_NAME", "shop-7d9f-abcde"},
            {"POD_NAMESPACE", "shop"},
            {"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
            {"KUBERNETES_SERVICE_PORT", "443"}};
  }
  void TearDown() override { std::system(("rm -rf " + dir_).c_str()); }

  EnvLookup Env() {
    return [this](const std::string& k) -> std::optional<std::string> {
      auto it = env_.find(k);
      if (it == env_.end()) return std::nullopt;
      return it->second;
    };
  }
  std::string Files() { return R"("token_file":")" + token_ + R"(","ca_file":")" + ca_ + R"(")"; }
  // As `vigil run` reads it: the keys, then what only the pod has.
  Config Parse(const std::string& top) {
    Config c = ParseConfig("{" + top + R"(,"checks":[]})", Env());
    ResolveKubernetes(Env(), &c.kubernetes);
    return c;
  }
  std::string ErrorOf(const std::string& top) {
    try {
      Parse(top);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  std::string dir_, token_, ca_;
  std::map<std::string, std::string> env_;
};

TEST_F(KubernetesConfigTest, OffByDefaultAndNothingIsRead) {
  const Config c = ParseConfig(R"({"checks":[]})", Env());
  EXPECT_FALSE(c.kubernetes.events);
  // Off: a missing token or CA is no error.
  EXPECT_FALSE(Parse(R"("kubernetes_api":{"token_file":"/nonexistent"})").kubernetes.events);
}

TEST_F(KubernetesConfigTest, InClusterDefaultsFromTheEnvironment) {
  const Config c = Parse(R"("kubernetes_events":true,"kubernetes_api":{)" + Files() + "}");
  EXPECT_TRUE(c.kubernetes.events);
  EXPECT_EQ(c.kubernetes.url, "https://10.96.0.1:443");
  EXPECT_EQ(c.kubernetes.host, "10.96.0.1");
  EXPECT_EQ(c.kubernetes.port, 443);
  EXPECT_EQ(c.kubernetes.pod_name, "shop-7d9f-abcde");
  EXPECT_EQ(c.kubernetes.pod_namespace, "shop");
  EXPECT_EQ(c.kubernetes.pod_uid, "");
}

TEST_F(KubernetesConfigTest, DefaultFilesAreTheServiceAccounts) {
  const Config c = Parse(R"("kubernetes_api":{})");
  EXPECT_EQ(c.kubernetes.token_file, "/var/run/secrets/kubernetes.io/serviceaccount/token");
  EXPECT_EQ(c.kubernetes.ca_file, "/var/run/secrets/kubernetes.io/serviceaccount/ca.crt");
}

TEST_F(KubernetesConfigTest, UrlOverridesAndIPv6) {
  env_["POD_UID"] = "0b1c2d3e-0000-4000-8000-000000000001";
  Config c =
      Parse(R"("kubernetes_events":true,"kubernetes_api":{"url":"https://127.0.0.1:6443/",)" +
            Files() + "}");
  EXPECT_EQ(c.kubernetes.host, "127.0.0.1");
  EXPECT_EQ(c.kubernetes.port, 6443);
  EXPECT_EQ(c.kubernetes.base_path, "");
  EXPECT_EQ(c.kubernetes.pod_uid, "0b1c2d3e-0000-4000-8000-000000000001");
  env_["KUBERNETES_SERVICE_HOST"] = "fd00::1";
  c = Parse(R"("kubernetes_events":true,"kubernetes_api":{)" + Files() + "}");
  EXPECT_EQ(c.kubernetes.url, "https://[fd00::1]:443");
  EXPECT_EQ(c.kubernetes.host, "fd00::1");
}

TEST_F(KubernetesConfigTest, BadValuesNameTheField) {
  EXPECT_EQ(ErrorOf(R"("kubernetes_events":"yes")"), "kubernetes_events: must be true or false");
  EXPECT_EQ(ErrorOf(R"("kubernetes_api":[])"), "kubernetes_api: must be an object");
  EXPECT_NE(ErrorOf(R"("kubernetes_api":{"server":"x"})").find("kubernetes_api"),
            std::string::npos);
  EXPECT_EQ(
      ErrorOf(R"("kubernetes_api":{"url":"http://10.0.0.1"})").rfind("kubernetes_api.url: ", 0),
      0u);
  EXPECT_EQ(
      ErrorOf(R"("kubernetes_api":{"url":"https://h:99999"})").rfind("kubernetes_api.url: ", 0),
      0u);
  EXPECT_EQ(
      ErrorOf(
          R"("kubernetes_events":true,"kubernetes_api":{"token_file":"/nonexistent","ca_file":")" +
          ca_ + R"("})")
          .rfind("kubernetes_api.token_file: cannot read /nonexistent", 0),
      0u);
  std::ofstream(ca_) << "not a certificate\n";
  EXPECT_EQ(ErrorOf(R"("kubernetes_events":true,"kubernetes_api":{)" + Files() + "}")
                .rfind("kubernetes_api.ca_file: ", 0),
            0u);
}

TEST_F(KubernetesConfigTest, NeedsTheApiAndThePod) {
  env_.erase("KUBERNETES_SERVICE_HOST");
  EXPECT_EQ(ErrorOf(R"("kubernetes_events":true,"kubernetes_api":{)" + Files() + "}")
                .rfind("kubernetes_api.url: not set", 0),
            0u);
  env_["KUBERNETES_SERVICE_HOST"] = "10.96.0.1";
  env_.erase("POD_NAME");
  EXPECT_EQ(ErrorOf(R"("kubernetes_events":true,"kubernetes_api":{)" + Files() + "}"),
            "kubernetes_events: POD_NAME is not set (the Downward API's metadata.name)");
  env_["POD_NAME"] = "Bad_Name";
  EXPECT_EQ(ErrorOf(R"("kubernetes_events":true,"kubernetes_api":{)" + Files() + "}")
                .rfind("kubernetes_events: POD_NAME is not a pod name", 0),
            0u);
}

}  // namespace
}  // namespace vigil
