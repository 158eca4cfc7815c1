// PostgreSQL with ssl=on and a certificate made by the test: sslmode,
// sslrootcert, sslcert and sslkey from the url reach libpq; the tls object
// maps onto them; the server's certificate expiry is read from libpq's
// OpenSSL session.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <ctime>
#include <memory>

#include <nlohmann/json.hpp>

#include "checks/check.h"
#include "checks/common/tls.h"
#include "checks/registry.h"
#include "tests/support/check_builder.h"
#include "tests/support/pg_server.h"
#include "tests/support/tls_certs.h"

namespace vigil {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;
using ::testing::HasSubstr;
using testing::PgServer;
using testing::PgServerOptions;
using testing::TestPki;

CheckResult RunOnce(Check& c) { return testing::RunFor(c, milliseconds(5000)).result; }

class PostgresTlsTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    pki_ = new TestPki("pg");
    testing::GiveToPostgres(pki_->leaf.key);
    PgServerOptions o;
    o.settings = {"ssl=on", "ssl_cert_file=" + pki_->leaf.cert, "ssl_key_file=" + pki_->leaf.key};
    pg_ = new PgServer(o);
  }
  static void TearDownTestSuite() {
    delete pg_;
    delete pki_;
  }
  // postgresql://postgres@HOST:PORT/postgres?QUERY
  static std::string Url(const std::string& query, const std::string& host = "localhost") {
    return "postgresql://postgres@" + host + ":" + std::to_string(pg_->port()) + "/postgres" +
           (query.empty() ? "" : "?" + query);
  }
  static std::unique_ptr<Check> Make(const std::string& url, json tls = nullptr) {
    return testing::BuildUrlCheck("postgres", url, tls);
  }
  static TestPki* pki_;
  static PgServer* pg_;
};
TestPki* PostgresTlsTest::pki_ = nullptr;
PgServer* PostgresTlsTest::pg_ = nullptr;

TEST_F(PostgresTlsTest, VerifyFullWithSslrootcertInTheUrlPasses) {
  auto check = Make(Url("sslmode=verify-full&sslrootcert=" + pki_->ca.cert()));
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  ASSERT_TRUE(r.tls_not_after.has_value());
  EXPECT_NEAR(static_cast<double>(*r.tls_not_after - std::time(nullptr)), 30 * 86400.0, 3600);
  // The kept connection keeps reporting it.
  CheckResult again = RunOnce(*check);
  EXPECT_EQ(again.outcome, Outcome::kPass) << again.reason;
  EXPECT_EQ(again.tls_not_after, r.tls_not_after);
}

TEST_F(PostgresTlsTest, KeywordDsnPassesToo) {
  auto check =
      Make("host=localhost port=" + std::to_string(pg_->port()) +
           " user=postgres dbname=postgres sslmode=verify-full sslrootcert=" + pki_->ca.cert());
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

TEST_F(PostgresTlsTest, WrongCaFails) {
  auto check = Make(Url("sslmode=verify-full&sslrootcert=" + pki_->other_ca.cert()));
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("certificate verify failed")) << r.reason;
}

TEST_F(PostgresTlsTest, TlsObjectMapsToVerifyFull) {
  auto check = Make(Url(""), {{"ca_file", pki_->ca.cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_TRUE(r.tls_not_after.has_value());
  auto wrong = Make(Url(""), {{"ca_file", pki_->other_ca.cert()}});
  CheckResult w = RunOnce(*wrong);
  EXPECT_EQ(w.outcome, Outcome::kFail);
  EXPECT_THAT(w.reason, HasSubstr("certificate verify failed")) << w.reason;
}

TEST_F(PostgresTlsTest, ServerNameIsTheNameVerified) {
  // Connect to the address, verify the certificate's name.
  auto good =
      Make(Url("", "127.0.0.1"), {{"ca_file", pki_->ca.cert()}, {"server_name", "localhost"}});
  CheckResult r = RunOnce(*good);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  auto bad = Make(Url(""), {{"ca_file", pki_->ca.cert()}, {"server_name", "db.example"}});
  CheckResult b = RunOnce(*bad);
  EXPECT_EQ(b.outcome, Outcome::kFail);
  EXPECT_THAT(b.reason, HasSubstr("does not match host name \"db.example\"")) << b.reason;
}

TEST_F(PostgresTlsTest, InsecureSkipVerifyIsSslmodeRequire) {
  auto check = Make(Url(""), {{"ca_file", pki_->other_ca.cert()}, {"insecure_skip_verify", true}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_EQ(r.reason, kInsecureNote);
  EXPECT_TRUE(r.tls_not_after.has_value());
}

TEST_F(PostgresTlsTest, PlainConnectionReportsNoExpiry) {
  auto check = Make(Url("sslmode=disable"));
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_FALSE(r.tls_not_after.has_value());
}

TEST_F(PostgresTlsTest, HungServerIsAHandshakeTimeoutAtTheDeadline) {
  auto check = Make(Url(""), {{"ca_file", pki_->ca.cert()}});
  pg_->Pause();
  auto t = testing::RunFor(*check, milliseconds(500));
  pg_->Resume();
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_TRUE(t.result.timed_out);
  EXPECT_EQ(t.result.reason, kHandshakeTimeout);
  EXPECT_LE(t.elapsed, milliseconds(800));
}

std::string ErrorFor(const json& j) { return testing::BuildErrorOf("postgres", j); }

TEST_F(PostgresTlsTest, ConflictsAreRefused) {
  const std::string ca = pki_->ca.cert();
  EXPECT_EQ(ErrorFor({{"url", Url("sslrootcert=" + ca)}, {"tls", {{"ca_file", ca}}}}),
            "checks[0].tls.ca_file: the url sets sslrootcert too: set it in one place");
  EXPECT_EQ(ErrorFor({{"url", Url("sslmode=disable")}, {"tls", {{"ca_file", ca}}}}),
            "checks[0].tls: the url says sslmode=disable: drop it, or the tls object");
  EXPECT_EQ(
      ErrorFor({{"url", Url("sslmode=verify-full")}, {"tls", {{"insecure_skip_verify", true}}}}),
      "checks[0].tls.insecure_skip_verify: contradicts sslmode=verify-full in the url");
  EXPECT_EQ(ErrorFor({{"url", "host=/run/postgresql dbname=x"}, {"tls", {{"ca_file", ca}}}}),
            "checks[0].tls: a Unix socket carries no TLS: name a TCP host in the url");
  EXPECT_EQ(ErrorFor({{"url", Url("sslmode=require")}, {"tls", {{"ca_file", ca}}}}), "(accepted)");
}

}  // namespace
}  // namespace vigil
