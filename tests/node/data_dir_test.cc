// write_file_atomic never writes through a symlink and never overwrites
// unless asked (the key, token and config files go through it).
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "conect/node/data_dir.h"

namespace conect {
namespace {

namespace fs = std::filesystem;

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

class DataDirFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("conect-datadir-" + std::to_string(::getpid()) + "-" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    std::ofstream(dir_ / "elsewhere") << "not yours";
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
};

TEST_F(DataDirFiles, APlantedTemporarySymlinkIsNotFollowed) {
  // Someone who can write the directory expects the token at api.token.tmp.
  fs::create_symlink(dir_ / "elsewhere", dir_ / "api.token.tmp");
  ASSERT_TRUE(write_file_atomic(dir_ / "api.token", "secret\n", 0600, false).ok());
  EXPECT_EQ(read(dir_ / "elsewhere"), "not yours");
  EXPECT_FALSE(fs::is_symlink(dir_ / "api.token"));
  EXPECT_EQ(read(dir_ / "api.token"), "secret\n");
  struct stat st {};
  ASSERT_EQ(::lstat((dir_ / "api.token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(fs::symlink_status(dir_ / "api.token.tmp")));
}

TEST_F(DataDirFiles, ASymlinkAtTheTargetIsNeitherFollowedNorOverwritten) {
  fs::create_symlink(dir_ / "elsewhere", dir_ / "node.toml");
  Status st = write_file_atomic(dir_ / "node.toml", "x = 1\n", 0644, false);
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(st.error().is(Errc::already_exists)) << st.error().message();
  // A dangling one counts as existing too.
  fs::create_symlink(dir_ / "nowhere", dir_ / "identity.key");
  EXPECT_FALSE(write_file_atomic(dir_ / "identity.key", "k", 0600, false).ok());
  // Replacing replaces the link itself, never what it points at.
  ASSERT_TRUE(write_file_atomic(dir_ / "node.toml", "x = 2\n", 0644, true).ok());
  EXPECT_FALSE(fs::is_symlink(dir_ / "node.toml"));
  EXPECT_EQ(read(dir_ / "node.toml"), "x = 2\n");
  EXPECT_EQ(read(dir_ / "elsewhere"), "not yours");
}

TEST_F(DataDirFiles, AStaleTemporaryFromACrashIsReplaced) {
  std::ofstream(dir_ / "ports.json.tmp") << "half";
  ASSERT_TRUE(write_file_atomic(dir_ / "ports.json", "{}\n", 0644, true).ok());
  EXPECT_EQ(read(dir_ / "ports.json"), "{}\n");
  EXPECT_FALSE(fs::exists(dir_ / "ports.json.tmp"));
}

}  // namespace
}  // namespace conect
