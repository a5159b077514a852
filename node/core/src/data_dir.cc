#include "conect/node/data_dir.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <pwd.h>

#include <cerrno>
#include <cstring>

namespace conect {

Status write_file_atomic(const std::filesystem::path& path, std::string_view content, unsigned mode, bool replace) {
  if (!replace && std::filesystem::exists(path))
    return Error(Errc::already_exists, path.string() + " already exists; refusing to overwrite it");
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return Error(Errc::io_error, "cannot create " + tmp.string() + ": " + std::strerror(errno));
  ::fchmod(fd, mode);
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      return Error(Errc::io_error, "cannot write " + tmp.string() + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  bool ok = ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0)
    return Error(Errc::io_error, "cannot write " + path.string() + ": " + std::strerror(errno));
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
