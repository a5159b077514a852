#include "conect/node/data_dir.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pwd.h>

#include <cerrno>
#include <cstring>

namespace conect {

namespace {

Error io(const std::string& what, const std::filesystem::path& p) {
  return Error(Errc::io_error, what + " " + p.string() + ": " + std::strerror(errno));
}

// The temporary file, created anew: O_EXCL|O_NOFOLLOW, so a symlink (or any
// file) planted at that name is never written through. A stale one from a
// crash is removed first (unlink removes a link itself, never its target).
int create_temporary(const std::filesystem::path& tmp, unsigned mode) {
  const int flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
  int fd = ::open(tmp.c_str(), flags, mode);
  if (fd < 0 && errno == EEXIST && ::unlink(tmp.c_str()) == 0) fd = ::open(tmp.c_str(), flags, mode);
  return fd;
}

void sync_directory(const std::filesystem::path& path) {
  auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  (void)::fsync(fd);
  ::close(fd);
}

}  // namespace

Status write_file_atomic(const std::filesystem::path& path, std::string_view content, unsigned mode, bool replace) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = create_temporary(tmp, mode);
  if (fd < 0) return io("cannot create", tmp);
  ::fchmod(fd, mode);
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Error e = io("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return e;
    }
    done += static_cast<std::size_t>(n);
  }
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  // rename() replaces a symlink at `path` itself, never its target;
  // RENAME_NOREPLACE refuses any existing entry, dangling symlinks included.
  if (ok) ok = ::renameat2(AT_FDCWD, tmp.c_str(), AT_FDCWD, path.c_str(), replace ? 0 : RENAME_NOREPLACE) == 0;
  // A file system without RENAME_NOREPLACE: link() refuses an existing entry too.
  if (!ok && !replace && errno == EINVAL) ok = ::link(tmp.c_str(), path.c_str()) == 0;
  if (!ok) {
    bool exists = errno == EEXIST;
    Error e = exists ? Error(Errc::already_exists, path.string() + " already exists; refusing to overwrite it")
                     : io("cannot write", path);
    ::unlink(tmp.c_str());
    return e;
  }
  ::unlink(tmp.c_str());  // after link(): the temporary name (after rename(): gone already)
  sync_directory(path);
  return {};
}

Status check_owner(const DataDir& dir) {
  struct stat st {};
  if (::geteuid() != 0 || ::stat(dir.root.c_str(), &st) != 0 || st.st_uid == 0) return {};
  const passwd* pw = ::getpwuid(st.st_uid);
  std::string user = pw ? pw->pw_name : std::to_string(st.st_uid);
  return Error(Errc::insecure_permissions,
               dir.root.string() + " belongs to user " + user +
                   "; running as root here would leave files that user cannot read: run the command as " + user +
                   ", e.g. `sudo -u " + user + " conect-node ... --data " + dir.root.string() + "`");
}

Result<std::string> read_small_file(const std::filesystem::path& path, bool secret) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error(errno == ENOENT ? Errc::not_found : Errc::io_error,
                 "cannot read " + path.string() + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || st.st_size > (1 << 20)) {
    ::close(fd);
    return Error(Errc::io_error, path.string() + " is not a small regular file");
  }
  if (secret && (st.st_mode & 077) != 0) {
    ::close(fd);
    return Error(Errc::insecure_permissions,
                 path.string() + " is readable by group or others; run `chmod 600 " + path.string() + "`");
  }
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  ssize_t n = ::read(fd, out.data(), out.size());
  ::close(fd);
  if (n != static_cast<ssize_t>(out.size())) return Error(Errc::io_error, "short read of " + path.string());
  return out;
}

}  // namespace conect
