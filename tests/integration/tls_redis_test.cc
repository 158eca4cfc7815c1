// rediss:// against a real redis-server with TLS, certificates made by the
// test (tests/support/tls_certs.h): verification, the failure reasons, the
// handshake under the deadline, client certificates, the kept TLS session,
// and the `tls` object's validation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "checks/check.h"
#include "checks/common/tls.h"
#include "checks/registry.h"
#include "tests/support/check_builder.h"
#include "tests/support/ports.h"
#include "tests/support/redis_server.h"
#include "tests/support/tls_certs.h"
#include "tests/support/tls_redis.h"

namespace vigil {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using ::testing::AnyOf;
using testing::CertFiles;
using ::testing::HasSubstr;
using testing::SentinelTlsConf;
using testing::TestPki;
using testing::TlsRedis;

constexpr int kBudgetMs = 3000;
constexpr auto kLateness = milliseconds(300);

std::unique_ptr<Check> MakeCheck(const std::string& url, json tls = nullptr) {
  return testing::BuildUrlCheck("redis", url, tls);
}

CheckResult RunOnce(Check& c) { return testing::RunFor(c, milliseconds(kBudgetMs)).result; }

int64_t NowUnix() { return static_cast<int64_t>(std::time(nullptr)); }

class RedisTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki("redis");
    redis_ = new TlsRedis(pki_->ca, pki_->leaf);
  }
  static void TearDownTestSuite() {
    delete redis_;
    delete pki_;
  }
  static TestPki* pki_;
  static TlsRedis* redis_;
};
TestPki* RedisTlsTest::pki_ = nullptr;
TlsRedis* RedisTlsTest::redis_ = nullptr;

TEST_F(RedisTlsTest, RightCaPasses) {
  auto check = MakeCheck(redis_->Url(), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_EQ(r.reason, "");
  ASSERT_TRUE(r.tls_not_after.has_value());
  // Issued for 30 days.
  EXPECT_NEAR(static_cast<double>(*r.tls_not_after - NowUnix()), 30 * 86400.0, 3600);
}

TEST_F(RedisTlsTest, IpAddressIsVerifiedAsAnAddress) {
  auto check = MakeCheck(redis_->Url("127.0.0.1"), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

TEST_F(RedisTlsTest, WrongCaFails) {
  auto check = MakeCheck(redis_->Url(), {{"ca_file", pki_->other_ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  // Redis sends its CA along with its certificate: OpenSSL then names the
  // root it does not trust; a server that sends only its leaf gets the other.
  EXPECT_THAT(r.reason,
              AnyOf("certificate verify failed: self-signed certificate in certificate chain",
                    "certificate verify failed: unable to get local issuer certificate"));
  EXPECT_FALSE(r.timed_out);
}

TEST_F(RedisTlsTest, SystemStoreDoesNotKnowTheTestCa) {
  auto check = MakeCheck(redis_->Url());  // no tls object: the system store
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason,
              AnyOf("certificate verify failed: self-signed certificate in certificate chain",
                    "certificate verify failed: unable to get local issuer certificate"));
}

TEST_F(RedisTlsTest, WrongServerNameFails) {
  auto check =
      MakeCheck(redis_->Url(), {{"ca_file", pki_->ca.cert()}, {"server_name", "other.example"}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.reason, "host name mismatch");
}

TEST_F(RedisTlsTest, ServerNameOverridesTheUrlHost) {
  // Connect by address, verify the name the certificate carries.
  auto check = MakeCheck(redis_->Url("127.0.0.1"),
                         {{"ca_file", pki_->ca.cert()}, {"server_name", "localhost"}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

TEST_F(RedisTlsTest, CertificateWithoutTheNameFails) {
  CertFiles only_name = pki_->ca.Issue("named", "DNS:redis.example", 30);
  TlsRedis server(pki_->ca, only_name);
  auto check = MakeCheck(server.Url("127.0.0.1"), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.reason, "host name mismatch");
}

TEST_F(RedisTlsTest, ExpiredCertificateFails) {
  CertFiles expired = pki_->ca.IssueExpired("expired", "DNS:localhost,IP:127.0.0.1");
  TlsRedis server(pki_->ca, expired);
  auto check = MakeCheck(server.Url(), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.reason, "certificate has expired");
}

TEST_F(RedisTlsTest, InsecureSkipVerifyPassesAndSaysSoOnce) {
  auto check = MakeCheck(redis_->Url("127.0.0.1"),
                         {{"ca_file", pki_->other_ca.cert()}, {"insecure_skip_verify", true}});
  CheckResult first = RunOnce(*check);
  EXPECT_EQ(first.outcome, Outcome::kPass) << first.reason;
  EXPECT_EQ(first.reason, kInsecureNote);
  CheckResult second = RunOnce(*check);
  EXPECT_EQ(second.outcome, Outcome::kPass) << second.reason;
  EXPECT_EQ(second.reason, "");
  EXPECT_TRUE(second.tls_not_after.has_value());
}

TEST_F(RedisTlsTest, PlainRedisUrlToTheTlsPortFails) {
  auto check = testing::BuildCheck(
                   "redis", {{"url", "redis://127.0.0.1:" + std::to_string(redis_->tls_port)}})
                   .check;
  auto t = testing::RunFor(*check, milliseconds(1000));
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  // The TLS port drops a peer that does not speak TLS.
  EXPECT_THAT(t.result.reason, AnyOf(HasSubstr("lost: connection closed by the server"),
                                     HasSubstr("lost: recv: Connection reset by peer")))
      << t.result.reason;
}

TEST_F(RedisTlsTest, TlsToThePlainPortFails) {
  auto check = MakeCheck("rediss://127.0.0.1:" + std::to_string(redis_->server.port()),
                         {{"ca_file", pki_->ca.cert()}});
  auto t = testing::RunFor(*check, milliseconds(1000));
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  // A plain Redis reads the ClientHello as an inline command: it answers an
  // error (not TLS) when the hello holds a newline, else waits for one.
  if (t.result.timed_out) {
    EXPECT_EQ(t.result.reason, kHandshakeTimeout);
  } else {
    EXPECT_THAT(t.result.reason, HasSubstr("TLS handshake failed: ")) << t.result.reason;
  }
}

TEST_F(RedisTlsTest, HandshakeThatNeverCompletesTimesOutAtTheDeadline) {
  CertFiles cert = pki_->ca.Issue("hung", "DNS:localhost", 30);
  TlsRedis server(pki_->ca, cert);
  server.server.Pause();  // the kernel accepts; nobody answers the ClientHello
  auto check = MakeCheck(server.Url(), {{"ca_file", pki_->ca.cert()}});
  auto t = testing::RunFor(*check, milliseconds(500));
  server.server.Resume();
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_TRUE(t.result.timed_out);
  EXPECT_EQ(t.result.reason, kHandshakeTimeout);
  EXPECT_EQ(TimeoutReasonOf(t.result, milliseconds(500)),
            "timeout after 500 ms (handshake timeout)");
  EXPECT_GE(t.elapsed, milliseconds(480));
  EXPECT_LE(t.elapsed, milliseconds(500) + kLateness);
}

TEST_F(RedisTlsTest, ClientCertificateRequiredAndMissingFails) {
  CertFiles cert = pki_->ca.Issue("mtls", "DNS:localhost", 30);
  TlsRedis server(pki_->ca, cert, "yes");
  auto check = MakeCheck(server.Url(), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("client certificate required")) << r.reason;
}

TEST_F(RedisTlsTest, ClientCertificateGivenPasses) {
  CertFiles cert = pki_->ca.Issue("mtls2", "DNS:localhost", 30);
  CertFiles client = pki_->ca.Issue("vigil-client", "DNS:vigil", 30);
  TlsRedis server(pki_->ca, cert, "yes");
  auto check = MakeCheck(
      server.Url(),
      {{"ca_file", pki_->ca.cert()}, {"cert_file", client.cert}, {"key_file", client.key}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

TEST_F(RedisTlsTest, TheTlsSessionIsKeptAcrossRuns) {
  auto check = MakeCheck(redis_->Url(), {{"ca_file", pki_->ca.cert()}});
  ASSERT_EQ(RunOnce(*check).outcome, Outcome::kPass);
  // The helper's own connection is open by now (InfoField opens it once).
  const std::string before = redis_->server.InfoField("total_connections_received");
  for (int i = 0; i < 20; ++i) {
    CheckResult r = RunOnce(*check);
    ASSERT_EQ(r.outcome, Outcome::kPass) << r.reason;
    ASSERT_TRUE(r.tls_not_after.has_value());
  }
  EXPECT_EQ(redis_->server.InfoField("total_connections_received"), before);
}

TEST_F(RedisTlsTest, CertificateExpiringSoonWarns) {
  CertFiles soon = pki_->ca.Issue("soon", "DNS:localhost", 5);
  TlsRedis server(pki_->ca, soon);
  auto check = MakeCheck(server.Url(), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  ASSERT_EQ(r.outcome, Outcome::kPass) << r.reason;
  ApplyCertExpiry(&r, 14, NowUnix());
  EXPECT_EQ(r.outcome, Outcome::kWarn);
  EXPECT_EQ(r.reason, "certificate expires in 5 days");
  CheckResult off = RunOnce(*check);
  ApplyCertExpiry(&off, 0, NowUnix());
  EXPECT_EQ(off.outcome, Outcome::kPass);
  CheckResult under = RunOnce(*check);
  ApplyCertExpiry(&under, 3, NowUnix());
  EXPECT_EQ(under.outcome, Outcome::kPass);
}

std::string ErrorFor(const json& check) { return testing::BuildErrorOf("redis", check); }

TEST_F(RedisTlsTest, SentinelOverTlsFindsAndChecksTheMaster) {
  // The sentinel speaks TLS on its own port, and to the master over TLS
  // (tls-replication), so it reports the master's TLS port.
  const int sentinel_tls_port = testing::FreePort();
  testing::SentinelServer sentinel(redis_->tls_port, "mymaster",
                                   SentinelTlsConf(sentinel_tls_port, pki_->leaf, pki_->ca));
  const std::string url =
      "rediss+sentinel://localhost:" + std::to_string(sentinel_tls_port) + "/mymaster";
  auto check = MakeCheck(url, {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_EQ(check->Target(), "127.0.0.1:" + std::to_string(redis_->tls_port));
  EXPECT_TRUE(r.tls_not_after.has_value());

  // A wrong CA fails at the sentinel already.
  auto wrong = MakeCheck(url, {{"ca_file", pki_->other_ca.cert()}});
  CheckResult w = RunOnce(*wrong);
  EXPECT_EQ(w.outcome, Outcome::kFail);
  EXPECT_THAT(w.reason, HasSubstr("certificate verify failed")) << w.reason;
  EXPECT_EQ(w.failure, FailureKind::kTls);

  // TLS settings on a plain sentinel URL are refused.
  EXPECT_EQ(ErrorFor({{"url", "redis+sentinel://localhost:1/m"},
                      {"tls", {{"ca_file", pki_->ca.cert()}}}}),
            "checks[0].tls: TLS settings on a plain URL: use rediss+sentinel://");
}

TEST_F(RedisTlsTest, SentinelPasswordOverTls) {
  // A sentinel that wants AUTH, on its TLS port: the password goes over TLS.
  const std::string password = "sentinel-Tls-pw-42";
  const int sentinel_tls_port = testing::FreePort();
  std::vector<std::string> conf = SentinelTlsConf(sentinel_tls_port, pki_->leaf, pki_->ca);
  conf.push_back("requirepass " + password);
  testing::SentinelServer sentinel(redis_->tls_port, "mymaster", conf);
  const std::string url =
      "rediss+sentinel://localhost:" + std::to_string(sentinel_tls_port) + "/mymaster";
  auto check = testing::BuildCheck("redis", {{"url", url},
                                             {"sentinel_password", password},
                                             {"tls", {{"ca_file", pki_->ca.cert()}}}})
                   .check;
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_EQ(check->Target(), "127.0.0.1:" + std::to_string(redis_->tls_port));

  auto wrong = testing::BuildCheck("redis", {{"url", url},
                                             {"sentinel_password", "not-the-Password-1"},
                                             {"tls", {{"ca_file", pki_->ca.cert()}}}})
                   .check;
  CheckResult w = RunOnce(*wrong);
  EXPECT_EQ(w.outcome, Outcome::kFail);
  EXPECT_EQ(w.failure, FailureKind::kAuth) << w.reason;
  EXPECT_THAT(w.reason, ::testing::Not(HasSubstr("not-the-Password-1")));
}

// --- the tls object, validated when the config is read ---

TEST_F(RedisTlsTest, TlsObjectIsValidated) {
  const std::string url = redis_->Url();
  EXPECT_EQ(ErrorFor({{"url", url}, {"tls", {{"ca_file", "/nonexistent/ca.pem"}}}}),
            "checks[0].tls.ca_file: cannot read /nonexistent/ca.pem: No such file or directory");
  EXPECT_EQ(ErrorFor({{"url", url}, {"tls", {{"cafile", pki_->ca.cert()}}}}),
            "checks[0].tls.cafile: unknown key");
  EXPECT_EQ(ErrorFor({{"url", url}, {"tls", "yes"}}), "checks[0].tls: must be an object");
  EXPECT_EQ(ErrorFor({{"url", url}, {"tls", {{"insecure_skip_verify", "true"}}}}),
            "checks[0].tls.insecure_skip_verify: must be true or false");
  const std::string not_pem = pki_->ca.WriteFile("not.pem", "hello\n");
  EXPECT_EQ(ErrorFor({{"url", url}, {"tls", {{"ca_file", not_pem}}}}),
            "checks[0].tls.ca_file: no PEM certificate in " + not_pem);
  EXPECT_EQ(ErrorFor({{"url", url}, {"tls", {{"cert_file", pki_->leaf.cert}}}}),
            "checks[0].tls.key_file: missing (cert_file is set)");
  EXPECT_EQ(ErrorFor({{"url", url}, {"tls", {{"key_file", pki_->leaf.key}}}}),
            "checks[0].tls.cert_file: missing (key_file is set)");
  CertFiles other = pki_->ca.Issue("other-client", "DNS:x", 30);
  EXPECT_EQ(
      ErrorFor({{"url", url}, {"tls", {{"cert_file", pki_->leaf.cert}, {"key_file", other.key}}}}),
      "checks[0].tls.key_file: does not match cert_file");
  EXPECT_EQ(ErrorFor({{"url", url}, {"tls", {{"server_name", "a b"}}}}),
            "checks[0].tls.server_name: want a host name or an IP address");
  EXPECT_EQ(ErrorFor({{"url", "redis://localhost"}, {"tls", {{"ca_file", pki_->ca.cert()}}}}),
            "checks[0].tls: TLS settings on a plain URL: use rediss://");
  EXPECT_EQ(ErrorFor({{"url", url},
                      {"tls",
                       {{"ca_file", pki_->ca.cert()},
                        {"cert_file", pki_->leaf.cert},
                        {"key_file", pki_->leaf.key},
                        {"server_name", "localhost"},
                        {"insecure_skip_verify", false}}}}),
            "(accepted)");
}

}  // namespace
}  // namespace vigil
