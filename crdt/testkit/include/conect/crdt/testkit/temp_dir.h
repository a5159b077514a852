// A fresh private directory under $TMPDIR for one test, removed with its
// contents on destruction (even where the test took away its permissions).
#pragma once

#include <filesystem>
#include <string>

namespace conect::testkit {

class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& s) const { return path_ / s; }

 private:
  std::filesystem::path path_;
};

}  // namespace conect::testkit
