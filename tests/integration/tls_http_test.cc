// https:// in the http kind against a real HTTPS server (Python's ssl
// module), certificates made by the test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <memory>

#include <nlohmann/json.hpp>

#include "checks/check.h"
#include "checks/common/tls.h"
#include "tests/support/check_builder.h"
#include "tests/support/ports.h"
#include "tests/support/tcp_listener.h"
#include "tests/support/tls_certs.h"

namespace vigil {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using testing::CertFiles;
using ::testing::HasSubstr;
using testing::HttpsServer;
using testing::TestPki;

constexpr auto kLateness = milliseconds(300);

// A plain-text server that speaks first (a banner): bytes that are no TLS
// record.
constexpr char kBanner[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";

std::unique_ptr<Check> MakeCheck(const std::string& url, json tls = nullptr) {
  return testing::BuildUrlCheck("http", url, tls);
}

CheckResult RunOnce(Check& c) { return testing::RunFor(c, milliseconds(3000)).result; }

std::string Url(int port, const std::string& host = "localhost") {
  return "https://" + host + ":" + std::to_string(port) + "/healthz";
}

class HttpsCheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki("app");
    server_ = new HttpsServer(pki_->leaf);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete pki_;
  }
  static TestPki* pki_;
  static HttpsServer* server_;
};
TestPki* HttpsCheckTest::pki_ = nullptr;
HttpsServer* HttpsCheckTest::server_ = nullptr;

TEST_F(HttpsCheckTest, RightCaPasses) {
  auto check = MakeCheck(Url(server_->port()), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_TRUE(r.tls_not_after.has_value());
  EXPECT_EQ(check->Target(), "localhost:" + std::to_string(server_->port()));
  // Again: a new connection and handshake per run, as for plain http.
  EXPECT_EQ(RunOnce(*check).outcome, Outcome::kPass);
}

TEST_F(HttpsCheckTest, ExpectBodyWorksOverTls) {
  json j = {{"url", Url(server_->port(), "127.0.0.1")},
            {"tls", {{"ca_file", pki_->ca.cert()}}},
            {"expect_body_contains", "ok"}};
  auto check = testing::BuildCheck("http", j).check;
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

TEST_F(HttpsCheckTest, WrongCaFails) {
  auto check = MakeCheck(Url(server_->port()), {{"ca_file", pki_->other_ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  // The server sends its leaf only: the issuer is nowhere to be found.
  EXPECT_EQ(r.reason, "certificate verify failed: unable to get local issuer certificate");
}

TEST_F(HttpsCheckTest, WrongHostNameFails) {
  auto check = MakeCheck(Url(server_->port()),
                         {{"ca_file", pki_->ca.cert()}, {"server_name", "app.example"}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.reason, "host name mismatch");
}

TEST_F(HttpsCheckTest, ExpiredCertificateFails) {
  HttpsServer expired(pki_->ca.IssueExpired("old-app", "DNS:localhost"));
  auto check = MakeCheck(Url(expired.port()), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.reason, "certificate has expired");
}

TEST_F(HttpsCheckTest, PlainHttpToTheTlsPortFails) {
  auto check = testing::BuildCheck(
                   "http", {{"url", "http://127.0.0.1:" + std::to_string(server_->port()) + "/"}})
                   .check;
  auto t = testing::RunFor(*check, milliseconds(1000));
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_FALSE(t.result.reason.empty());
}

TEST_F(HttpsCheckTest, TlsToAPlainPortFails) {
  testing::TcpListener plain(kBanner);
  auto check = MakeCheck(Url(plain.port()), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.reason, "TLS handshake failed: wrong version number");
}

TEST_F(HttpsCheckTest, PeerThatClosesAtOnceFails) {
  testing::TcpListener closer;  // accepts and closes at once
  auto check = MakeCheck(Url(closer.port()), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("TLS handshake failed: ")) << r.reason;
}

TEST_F(HttpsCheckTest, HandshakeThatNeverCompletesTimesOutAtTheDeadline) {
  HttpsServer hung(pki_->leaf);
  hung.Pause();
  auto check = MakeCheck(Url(hung.port()), {{"ca_file", pki_->ca.cert()}});
  auto t = testing::RunFor(*check, milliseconds(500));
  hung.Resume();
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_TRUE(t.result.timed_out);
  EXPECT_EQ(t.result.reason, kHandshakeTimeout);
  EXPECT_GE(t.elapsed, milliseconds(480));
  EXPECT_LE(t.elapsed, milliseconds(500) + kLateness);
}

TEST_F(HttpsCheckTest, ClientCertificateRequiredAndMissingFails) {
  HttpsServer mtls(pki_->leaf, pki_->ca.cert());
  auto check = MakeCheck(Url(mtls.port()), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("client certificate required")) << r.reason;
}

TEST_F(HttpsCheckTest, ClientCertificateGivenPasses) {
  HttpsServer mtls(pki_->leaf, pki_->ca.cert());
  CertFiles client = pki_->ca.Issue("vigil-client", "DNS:vigil", 30);
  auto check = MakeCheck(
      Url(mtls.port()),
      {{"ca_file", pki_->ca.cert()}, {"cert_file", client.cert}, {"key_file", client.key}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

}  // namespace
}  // namespace vigil
