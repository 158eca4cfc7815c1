// https:// in the http kind against a real HTTPS server (Python's ssl
// module), certificates made by the test.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <thread>

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
using testing::TestCa;

constexpr auto kLateness = milliseconds(300);

// A plain-text server that speaks first (a banner), as many do: bytes that
// are no TLS record.
class BannerServer {
 public:
  BannerServer() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(fd_, 16) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
      throw std::runtime_error("BannerServer: bind/listen failed");
    }
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 50) <= 0) continue;
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) continue;
        const char banner[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
        (void)!send(c, banner, sizeof banner - 1, MSG_NOSIGNAL);
        pollfd q{c, POLLIN, 0};
        poll(&q, 1, 1000);  // leave the client time to read it
        close(c);
      }
    });
  }
  ~BannerServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

std::unique_ptr<Check> MakeCheck(const std::string& url, json tls = nullptr) {
  json j = {{"url", url}};
  if (!tls.is_null()) j["tls"] = tls;
  return testing::BuildCheck("http", j).check;
}

CheckResult RunOnce(Check& c) { return testing::RunFor(c, milliseconds(3000)).result; }

std::string Url(int port, const std::string& host = "localhost") {
  return "https://" + host + ":" + std::to_string(port) + "/healthz";
}

class HttpsCheckTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ca_ = new TestCa();
    other_ca_ = new TestCa("another CA");
    good_ = new CertFiles(ca_->Issue("app", "DNS:localhost,IP:127.0.0.1", 30));
    server_ = new HttpsServer(*good_);
  }
  static void TearDownTestSuite() {
    delete server_;
    delete good_;
    delete other_ca_;
    delete ca_;
  }
  static TestCa* ca_;
  static TestCa* other_ca_;
  static CertFiles* good_;
  static HttpsServer* server_;
};
TestCa* HttpsCheckTest::ca_ = nullptr;
TestCa* HttpsCheckTest::other_ca_ = nullptr;
CertFiles* HttpsCheckTest::good_ = nullptr;
HttpsServer* HttpsCheckTest::server_ = nullptr;

TEST_F(HttpsCheckTest, RightCaPasses) {
  auto check = MakeCheck(Url(server_->port()), {{"ca_file", ca_->cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
  EXPECT_TRUE(r.tls_not_after.has_value());
  EXPECT_EQ(check->Target(), "localhost:" + std::to_string(server_->port()));
  // Again: a new connection and handshake per run, as for plain http.
  EXPECT_EQ(RunOnce(*check).outcome, Outcome::kPass);
}

TEST_F(HttpsCheckTest, ExpectBodyWorksOverTls) {
  json j = {{"url", Url(server_->port(), "127.0.0.1")},
            {"tls", {{"ca_file", ca_->cert()}}},
            {"expect_body_contains", "ok"}};
  auto check = testing::BuildCheck("http", j).check;
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

TEST_F(HttpsCheckTest, WrongCaFails) {
  auto check = MakeCheck(Url(server_->port()), {{"ca_file", other_ca_->cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  // The server sends its leaf only: the issuer is nowhere to be found.
  EXPECT_EQ(r.reason, "certificate verify failed: unable to get local issuer certificate");
}

TEST_F(HttpsCheckTest, WrongHostNameFails) {
  auto check =
      MakeCheck(Url(server_->port()), {{"ca_file", ca_->cert()}, {"server_name", "app.example"}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.reason, "host name mismatch");
}

TEST_F(HttpsCheckTest, ExpiredCertificateFails) {
  HttpsServer expired(ca_->IssueExpired("old-app", "DNS:localhost"));
  auto check = MakeCheck(Url(expired.port()), {{"ca_file", ca_->cert()}});
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
  BannerServer plain;
  auto check = MakeCheck(Url(plain.port()), {{"ca_file", ca_->cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_EQ(r.reason, "TLS handshake failed: wrong version number");
}

TEST_F(HttpsCheckTest, PeerThatClosesAtOnceFails) {
  testing::TcpListener closer;  // accepts and closes at once
  auto check = MakeCheck(Url(closer.port()), {{"ca_file", ca_->cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("TLS handshake failed: ")) << r.reason;
}

TEST_F(HttpsCheckTest, HandshakeThatNeverCompletesTimesOutAtTheDeadline) {
  HttpsServer hung(*good_);
  hung.Pause();
  auto check = MakeCheck(Url(hung.port()), {{"ca_file", ca_->cert()}});
  auto t = testing::RunFor(*check, milliseconds(500));
  hung.Resume();
  EXPECT_EQ(t.result.outcome, Outcome::kFail);
  EXPECT_TRUE(t.result.timed_out);
  EXPECT_EQ(t.result.reason, kHandshakeTimeout);
  EXPECT_GE(t.elapsed, milliseconds(480));
  EXPECT_LE(t.elapsed, milliseconds(500) + kLateness);
}

TEST_F(HttpsCheckTest, ClientCertificateRequiredAndMissingFails) {
  HttpsServer mtls(*good_, ca_->cert());
  auto check = MakeCheck(Url(mtls.port()), {{"ca_file", ca_->cert()}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_THAT(r.reason, HasSubstr("client certificate required")) << r.reason;
}

TEST_F(HttpsCheckTest, ClientCertificateGivenPasses) {
  HttpsServer mtls(*good_, ca_->cert());
  CertFiles client = ca_->Issue("vigil-client", "DNS:vigil", 30);
  auto check =
      MakeCheck(Url(mtls.port()),
                {{"ca_file", ca_->cert()}, {"cert_file", client.cert}, {"key_file", client.key}});
  CheckResult r = RunOnce(*check);
  EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
}

}  // namespace
}  // namespace vigil
