// ${file:/path} expansion (what a file yields, what is refused and how) and
// the redis kind's password keys. Real files in a temp dir; no network.
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "agent/config/config.h"
#include "tests/support/check_builder.h"
#include "tests/support/ports.h"

namespace vigil {
namespace {

EnvLookup Env(std::map<std::string, std::string> vars = {}) {
  return [vars](const std::string& k) -> std::optional<std::string> {
    auto it = vars.find(k);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

bool Has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

class SecretFiles : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = testing::MakeTempDir("vigil-secret-files"); }
  void TearDown() override { testing::RemoveTree(dir_); }

  // Writes `contents` to DIR/name; its path.
  std::string Write(const std::string& name, const std::string& contents) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary | std::ios::trunc) << contents;
    return path;
  }

  std::string Expand(const std::string& in, FileExpansions* files = nullptr) {
    return ExpandVariables(in, Env({{"HOST", "127.0.0.1"}}), "checks[1].url", files);
  }

  std::string ErrorOf(const std::string& in) {
    try {
      Expand(in);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  }

  std::string dir_;
};

TEST_F(SecretFiles, OneTrailingLineEndIsCut) {
  EXPECT_EQ(Expand("${file:" + Write("a", "s3cret-pw\n") + "}"), "s3cret-pw");
  EXPECT_EQ(Expand("${file:" + Write("b", "s3cret-pw\r\n") + "}"), "s3cret-pw");
  EXPECT_EQ(Expand("${file:" + Write("c", "s3cret-pw") + "}"), "s3cret-pw");
  // Only one: more is content.
  EXPECT_EQ(Expand("${file:" + Write("d", "s3cret-pw\n\n") + "}"), "s3cret-pw\n");
  EXPECT_EQ(Expand("${file:" + Write("e", "s3cret-pw\r\n\r\n") + "}"), "s3cret-pw\r\n");
  EXPECT_EQ(Expand("${file:" + Write("f", "s3cret-pw\r") + "}"), "s3cret-pw\r");
  EXPECT_EQ(Expand("${file:" + Write("g", " s3cret pw \n") + "}"), " s3cret pw ");
  EXPECT_EQ(Expand("${file:" + Write("h", "") + "}"), "");
  EXPECT_EQ(Expand("${file:" + Write("i", "\n") + "}"), "");
}

TEST_F(SecretFiles, ExpandsInsideAValueBesideVariables) {
  const std::string pw = Write("pw", "p@ss:w0rd/x\n");
  EXPECT_EQ(Expand("redis://:${file:" + pw + "}@${HOST}:${PORT:-6379}/0"),
            "redis://:p@ss:w0rd/x@127.0.0.1:6379/0");
}

TEST_F(SecretFiles, DollarDollarStaysLiteral) {
  EXPECT_EQ(Expand("$${file:x}"), "${file:x}");
  EXPECT_EQ(Expand("$${file:/no/such/file}"), "${file:/no/such/file}");
}

TEST_F(SecretFiles, MissingFileIsRefusedNamingThePlaceAndPath) {
  EXPECT_EQ(ErrorOf("redis://:${file:" + dir_ + "/nope}@h"),
            "checks[1].url: cannot read secret file " + dir_ + "/nope: No such file or directory");
}

TEST_F(SecretFiles, RelativeAndEmptyPathsAreRefused) {
  EXPECT_EQ(ErrorOf("${file:pw}"),
            "checks[1].url: a ${file:...} path must be absolute (${file:/path})");
  EXPECT_EQ(ErrorOf("${file:./pw}"),
            "checks[1].url: a ${file:...} path must be absolute (${file:/path})");
  EXPECT_EQ(ErrorOf("${file:}"),
            "checks[1].url: a ${file:...} path must be absolute (${file:/path})");
}

TEST_F(SecretFiles, SizeCapIs64KiBAndTheContentsNeverShow) {
  const std::string fits(kMaxSecretFileBytes, 'k');
  EXPECT_EQ(Expand("${file:" + Write("fits", fits) + "}"), fits);
  const std::string big = Write("big", std::string(kMaxSecretFileBytes + 1, 'q'));
  const std::string error = ErrorOf("${file:" + big + "}");
  EXPECT_EQ(error, "checks[1].url: cannot read secret file " + big + ": larger than 64 KiB");
  EXPECT_EQ(error.find("qqqq"), std::string::npos);
}

TEST_F(SecretFiles, OnlyRegularFilesAndNoHangOnAFifo) {
  EXPECT_EQ(ErrorOf("${file:" + dir_ + "}"),
            "checks[1].url: cannot read secret file " + dir_ + ": not a regular file");
  const std::string fifo = dir_ + "/fifo";
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  EXPECT_EQ(ErrorOf("${file:" + fifo + "}"),
            "checks[1].url: cannot read secret file " + fifo + ": not a regular file");
}

TEST_F(SecretFiles, SymlinksAreFollowedAsASecretVolumeLaysThemOut) {
  // DIR/..2026_01/pw, DIR/..data -> ..2026_01, DIR/pw -> ..data/pw
  ASSERT_EQ(mkdir((dir_ + "/..2026_01").c_str(), 0755), 0);
  Write("..2026_01/pw", "OLDPASSWORD1\n");
  ASSERT_EQ(symlink("..2026_01", (dir_ + "/..data").c_str()), 0);
  ASSERT_EQ(symlink("..data/pw", (dir_ + "/pw").c_str()), 0);
  FileExpansions files;
  EXPECT_EQ(Expand("${file:" + dir_ + "/pw}", &files), "OLDPASSWORD1");
  ASSERT_EQ(files.files.size(), 1u);
  EXPECT_EQ(files.files[0].path, dir_ + "/pw");
  EXPECT_EQ(files.files[0].size, 13);
  struct stat st {};
  ASSERT_EQ(stat((dir_ + "/..2026_01/pw").c_str(), &st), 0);
  EXPECT_EQ(files.files[0].ino, st.st_ino);  // the target's, not the link's
}

TEST_F(SecretFiles, ParseConfigCollectsSecretsAndFiles) {
  const std::string pw = Write("pw", "FILEPASSWORD1\n");
  const std::string token = Write("token", "unused-by-this-config\n");
  Config c = ParseConfig(R"({"checks":[
      {"name":"tcp","kind":"tcp","address":"127.0.0.1:1"},
      {"name":"r","kind":"redis","url":"redis://:${file:)" +
                             pw + R"(}@127.0.0.1:6379"},
      {"name":"r2","kind":"redis","url":"redis://127.0.0.1:6380","password":"${file:)" +
                             pw + R"(}"}]})",
                         Env());
  EXPECT_TRUE(Has(c.secrets, "FILEPASSWORD1"));
  EXPECT_TRUE(c.checks[0].secrets.empty());
  EXPECT_TRUE(Has(c.checks[1].secrets, "FILEPASSWORD1"));
  EXPECT_TRUE(Has(c.checks[2].secrets, "FILEPASSWORD1"));
  EXPECT_EQ((*c.checks[2].spec)["password"], "FILEPASSWORD1");
  ASSERT_EQ(c.secret_files.size(), 1u);  // one file, read twice, watched once
  EXPECT_EQ(c.secret_files[0].path, pw);
  EXPECT_EQ(c.secret_files[0].size, 14);
  (void)token;
}

TEST_F(SecretFiles, FilesSeenIncludeTheUnreadableOneOnFailure) {
  const std::string pw = Write("pw", "FILEPASSWORD1\n");
  const std::string text = R"({"checks":[
      {"name":"a","kind":"redis","url":"redis://:${file:)" +
                           pw + R"(}@127.0.0.1:6379"},
      {"name":"b","kind":"redis","url":"redis://:${file:)" +
                           dir_ + R"(/gone}@127.0.0.1:6380"}]})";
  std::vector<SecretFile> seen;
  try {
    ParseConfig(text, Env(), CheckRegistry::Builtin(), &seen);
    FAIL() << "accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()), "checks[1].url: cannot read secret file " + dir_ +
                                         "/gone: No such file or directory");
    EXPECT_EQ(std::string(e.what()).find("FILEPASSWORD1"), std::string::npos);
  }
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].path, pw);
  EXPECT_EQ(seen[0].size, 14);
  EXPECT_EQ(seen[1].path, dir_ + "/gone");
  EXPECT_EQ(seen[1].size, -1);
}

std::string BuildError(const nlohmann::json& json) {
  try {
    testing::BuildCheck("redis", json);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(RedisPasswordKeys, SecretsAndRefusals) {
  auto b = testing::BuildCheck(
      "redis", {{"url", "redis+sentinel://:SENTINELPW1@h1:26379/m"}, {"password", "MASTERPW123"}});
  EXPECT_TRUE(Has(b.secrets, "SENTINELPW1"));
  EXPECT_TRUE(Has(b.secrets, "MASTERPW123"));
  b = testing::BuildCheck(
      "redis", {{"url", "redis+sentinel://h1:26379/m"}, {"sentinel_password", "SENTINELPW2"}});
  EXPECT_TRUE(Has(b.secrets, "SENTINELPW2"));
  b = testing::BuildCheck("redis", {{"url", "redis://app@h:6379"}, {"password", "MASTERPW123"}});
  EXPECT_TRUE(Has(b.secrets, "MASTERPW123"));

  EXPECT_EQ(BuildError({{"url", "redis://h:6379"}, {"sentinel_password", "SENTINELPW2"}}),
            "checks[0].sentinel_password: only for redis+sentinel:// URLs");
  EXPECT_EQ(BuildError({{"url", "redis://:URLPASSWORD1@h:6379"}, {"password", "MASTERPW123"}}),
            "checks[0].password: the URL holds a password too: give it in one place");
  EXPECT_EQ(BuildError({{"url", "redis+sentinel://:URLPASSWORD1@h:26379/m"},
                        {"password", "MASTERPW123"},
                        {"sentinel_password", "SENTINELPW2"}}),
            "checks[0].url: with both password and sentinel_password set, a password in the URL "
            "would be used for nothing: leave it out");
  EXPECT_EQ(BuildError({{"url", "redis://h:6379"}, {"password", 12345678}}),
            "checks[0].password: must be a string");
}

}  // namespace
}  // namespace vigil
