#include "secret_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace conect::secret_file {

Status write(const std::filesystem::path& path, const std::uint8_t* secret, std::size_t size, const Kind& kind) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return Error(Errc::already_exists, path.string() + " exists; refusing to overwrite " + std::string(kind.article) +
                                             " " + std::string(kind.noun));
    return Error(Errc::io_error, "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  // The umask cannot widen 0600, but fchmod makes the mode explicit anyway.
  ::fchmod(fd, 0600);
  ssize_t written = ::write(fd, secret, size);
  bool ok = written == static_cast<ssize_t>(size) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Error(Errc::io_error, "cannot write " + path.string());
  return {};
}

namespace {

// The file opened for reading, refused unless only its owner can read it.
Result<int> open_private(const std::filesystem::path& path, const Kind& kind) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error(errno == ENOENT ? Errc::not_found : Errc::io_error, "cannot open " + std::string(kind.noun) + " " +
                                                                         path.string() + ": " + std::strerror(errno) +
                                                                         std::string(kind.open_hint));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return Error(Errc::insecure_permissions,
                 path.string() + " is readable by group or others; run `chmod 600 " + path.string() + "`");
  }
  return fd;
}

}  // namespace

Status read(const std::filesystem::path& path, std::uint8_t* secret, std::size_t size, const Kind& kind) {
  auto opened = open_private(path, kind);
  if (!opened.ok()) return opened.error();
  const int fd = *opened;
  ssize_t n = ::read(fd, secret, size);
  char extra = 0;
  ssize_t more = ::read(fd, &extra, 1);
  ::close(fd);
  if (n != static_cast<ssize_t>(size) || more != 0)
    return Error(Errc::malformed_body, path.string() + " is not " + std::string(kind.shape));
  return {};
}

Status replace(const std::filesystem::path& path, std::string_view bytes, const Kind& kind) {
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  ::unlink(tmp.c_str());  // a leftover of a crash mid-write
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0)
    return Error(Errc::io_error,
                 "cannot create " + tmp.string() + " for the " + std::string(kind.noun) + ": " + std::strerror(errno));
  ::fchmod(fd, 0600);
  ssize_t written = bytes.empty() ? 0 : ::write(fd, bytes.data(), bytes.size());
  bool ok = written == static_cast<ssize_t>(bytes.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string why = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Error(Errc::io_error, "cannot write " + std::string(kind.noun) + " " + path.string() + ": " + why);
  }
  // The rename is durable only once the directory is.
  std::filesystem::path dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  if (int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Result<std::string> read_all(const std::filesystem::path& path, std::size_t max_size, const Kind& kind) {
  auto opened = open_private(path, kind);
  if (!opened.ok()) return opened.error();
  const int fd = *opened;
  std::string out(max_size + 1, '\0');
  std::size_t got = 0;
  while (got < out.size()) {
    ssize_t n = ::read(fd, out.data() + got, out.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (got > max_size) return Error(Errc::malformed_body, path.string() + " is larger than " + std::string(kind.shape));
  out.resize(got);
  return out;
}

}  // namespace conect::secret_file
