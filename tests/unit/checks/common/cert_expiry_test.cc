// Certificate expiry turning a passing run into a warn, and the wording of
// a handshake timeout: pure logic on CheckResult.
#include <gtest/gtest.h>

#include "checks/check.h"
#include "checks/common/tls.h"

namespace vigil {
namespace {

constexpr int64_t kNow = 1'800'000'000;
constexpr int64_t kDay = 86400;

CheckResult PassExpiringIn(int64_t seconds) {
  CheckResult r = CheckResult::Pass();
  r.tls_not_after = kNow + seconds;
  return r;
}

TEST(CertExpiryTest, WithinTheWindowWarnsWithDaysLeft) {
  CheckResult r = PassExpiringIn(5 * kDay - 30);  // made for 5 days, a moment ago
  ApplyCertExpiry(&r, 14, kNow);
  EXPECT_EQ(r.outcome, Outcome::kWarn);
  EXPECT_EQ(r.reason, "certificate expires in 5 days");

  CheckResult one = PassExpiringIn(kDay + 100);
  ApplyCertExpiry(&one, 14, kNow);
  EXPECT_EQ(one.reason, "certificate expires in 1 day");

  CheckResult hours = PassExpiringIn(3600);
  ApplyCertExpiry(&hours, 14, kNow);
  EXPECT_EQ(hours.reason, "certificate expires in less than a day");

  CheckResult past = PassExpiringIn(-kDay);  // only with insecure_skip_verify
  ApplyCertExpiry(&past, 14, kNow);
  EXPECT_EQ(past.outcome, Outcome::kWarn);
  EXPECT_EQ(past.reason, "certificate has expired");
}

TEST(CertExpiryTest, OutsideTheWindowOrOffOrNotTlsStaysAsItWas) {
  CheckResult far = PassExpiringIn(30 * kDay);
  ApplyCertExpiry(&far, 14, kNow);
  EXPECT_EQ(far.outcome, Outcome::kPass);
  EXPECT_EQ(far.reason, "");

  CheckResult off = PassExpiringIn(kDay);
  ApplyCertExpiry(&off, 0, kNow);
  EXPECT_EQ(off.outcome, Outcome::kPass);

  CheckResult plain = CheckResult::Pass();
  ApplyCertExpiry(&plain, 14, kNow);
  EXPECT_EQ(plain.outcome, Outcome::kPass);

  CheckResult failed = CheckResult::Fail("connection refused");
  failed.tls_not_after = kNow + kDay;
  ApplyCertExpiry(&failed, 14, kNow);
  EXPECT_EQ(failed.outcome, Outcome::kFail);
  EXPECT_EQ(failed.reason, "connection refused");
}

TEST(CertExpiryTest, KeepsWhatTheRunAlreadySaid) {
  CheckResult note = PassExpiringIn(5 * kDay);
  note.reason = kInsecureNote;  // a pass with its one-time note
  ApplyCertExpiry(&note, 14, kNow);
  EXPECT_EQ(note.outcome, Outcome::kWarn);
  EXPECT_EQ(note.reason, std::string("certificate expires in 5 days; ") + kInsecureNote);

  CheckResult warn = CheckResult::Warn("used_memory is 95% of maxmemory (over 90%)");
  warn.tls_not_after = kNow + 2 * kDay;
  ApplyCertExpiry(&warn, 14, kNow);
  EXPECT_EQ(warn.reason,
            "certificate expires in 2 days; used_memory is 95% of maxmemory (over 90%)");
}

TEST(CertExpiryTest, HandshakeTimeoutIsATimeoutThatSaysSo) {
  CheckResult r = HandshakeTimeoutResult();
  EXPECT_EQ(r.outcome, Outcome::kFail);
  EXPECT_TRUE(r.timed_out);
  EXPECT_EQ(TimeoutReasonOf(r, std::chrono::milliseconds(200)),
            "timeout after 200 ms (handshake timeout)");
  EXPECT_EQ(
      TimeoutReasonOf(CheckResult::Timeout("waiting for PONG"), std::chrono::milliseconds(200)),
      "timeout after 200 ms");
}

TEST(CertExpiryTest, InsecureNoteIsGivenOnce) {
  TlsConfig tls;
  tls.insecure_skip_verify = true;
  bool noted = false;
  CheckResult failed = CheckResult::Fail("down");
  NoteInsecureOnce(tls, &noted, &failed);
  EXPECT_EQ(failed.reason, "down");
  EXPECT_FALSE(noted);
  CheckResult first = CheckResult::Pass();
  NoteInsecureOnce(tls, &noted, &first);
  EXPECT_EQ(first.reason, kInsecureNote);
  CheckResult second = CheckResult::Pass();
  NoteInsecureOnce(tls, &noted, &second);
  EXPECT_EQ(second.reason, "");
  TlsConfig verified;
  bool never = false;
  CheckResult pass = CheckResult::Pass();
  NoteInsecureOnce(verified, &never, &pass);
  EXPECT_EQ(pass.reason, "");
}

}  // namespace
}  // namespace vigil
