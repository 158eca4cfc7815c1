// The `postgres` kind's hardening on a real PostgreSQL 15: server notices
// come back as notes (never raw on stderr), each distinct one once; and a
// hung server (every process SIGSTOPped) gets at most one cancel request in
// flight per check name, also from the new instance a reload builds.
#include <dirent.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "checks/check.h"
#include "tests/support/check_builder.h"
#include "tests/support/pg_server.h"
#include "tests/support/pg_suite.h"

namespace vigil {
namespace {

using std::chrono::milliseconds;
using testing::PgServerOptions;
using testing::RunFor;

constexpr char kPassword[] = "Pg-hard3n-7c1d";

int ThreadCount() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d)) n += e->d_name[0] != '.';
    closedir(d);
  }
  return n;
}

// Polls until ThreadCount() == want; bounded.
bool ThreadsSettleAt(int want, milliseconds limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    if (ThreadCount() == want) return true;
    std::this_thread::sleep_for(milliseconds(20));
  }
  return ThreadCount() == want;
}

class PostgresHardeningTest : public testing::PgSuite<PostgresHardeningTest> {
 public:
  static PgServerOptions ServerOptions() { return testing::PasswordOptions(kPassword); }
};

TEST_F(PostgresHardeningTest, ServerNoticesBecomeNotesOnceAndNeverReachStderr) {
  // A database whose stored setting names a tablespace that does not exist:
  // every new session gets a WARNING from the server while it starts.
  server_->Psql("CREATE DATABASE noticedb");
  server_->Psql("ALTER DATABASE noticedb SET default_tablespace = 'no_such_tablespace'");
  nlohmann::json spec = {{"name", "noticedb"},
                         {"url", server_->Url("noticedb")},
                         {"keep_open", false}};  // a new session (and notice) every run
  testing::BuiltCheck b = testing::BuildCheck("postgres", spec);

  ::testing::internal::CaptureStderr();
  std::vector<std::string> notes;
  for (int i = 0; i < 4; ++i) {
    CheckResult r = RunFor(*b.check, milliseconds(5000)).result;
    EXPECT_EQ(r.outcome, Outcome::kPass) << r.reason;
    notes.insert(notes.end(), r.notes.begin(), r.notes.end());
  }
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.find("WARNING"), std::string::npos) << err;
  EXPECT_EQ(err.find("default_tablespace"), std::string::npos) << err;
  ASSERT_EQ(notes.size(), 1u) << "one distinct notice, said once";
  EXPECT_NE(notes[0].find("default_tablespace"), std::string::npos) << notes[0];
  EXPECT_EQ(notes[0].find('\n'), std::string::npos) << notes[0];
  server_->Psql("DROP DATABASE noticedb");
}

TEST_F(PostgresHardeningTest, AtMostOneStuckCancelPerCheckAlsoAcrossAReload) {
  nlohmann::json spec = {{"name", "db-cancel"}, {"url", server_->Url()}};
  testing::BuiltCheck old_instance = testing::BuildCheck("postgres", spec);
  testing::BuiltCheck new_instance = testing::BuildCheck("postgres", spec);  // the reload's
  testing::BuiltCheck other = testing::BuildCheck(
      "postgres", nlohmann::json{{"name", "db-other"}, {"url", server_->Url()}});
  // Connections kept open, so the next runs get as far as the query.
  for (auto* c : {&old_instance, &new_instance, &other})
    ASSERT_EQ(RunFor(*c->check, milliseconds(5000)).result.outcome, Outcome::kPass);

  const int before = ThreadCount();
  server_->Pause();
  CheckResult r = RunFor(*old_instance.check, milliseconds(300)).result;
  EXPECT_TRUE(r.timed_out) << r.reason;
  // The cancel request blocks on the hung server: one thread stuck.
  ASSERT_TRUE(ThreadsSettleAt(before + 1, milliseconds(2000))) << ThreadCount();
  // More runs of the old instance (reconnecting: no query to cancel) and the
  // rebuilt instance's query timing out: still that one cancel.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(RunFor(*old_instance.check, milliseconds(200)).result.timed_out);
  }
  r = RunFor(*new_instance.check, milliseconds(300)).result;
  EXPECT_NE(r.reason.find("waiting for query"), std::string::npos) << r.reason;
  std::this_thread::sleep_for(milliseconds(200));
  EXPECT_EQ(ThreadCount(), before + 1);
  // Another check has a cancel of its own.
  r = RunFor(*other.check, milliseconds(300)).result;
  EXPECT_TRUE(r.timed_out) << r.reason;
  EXPECT_TRUE(ThreadsSettleAt(before + 2, milliseconds(2000))) << ThreadCount();
  // Resumed: the cancels finish and their threads end.
  server_->Resume();
  EXPECT_TRUE(ThreadsSettleAt(before, milliseconds(10000))) << ThreadCount();
  EXPECT_EQ(RunFor(*new_instance.check, milliseconds(5000)).result.outcome, Outcome::kPass);
}

}  // namespace
}  // namespace vigil
