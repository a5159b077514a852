// conect-bytecopy: the plainest copy of the same records from one process to
// another over loopback, the baseline every catch-up figure is divided by.
// No CRDT, no crypto, no database: a child process reads the records
// (length-prefixed frames, as `conect-seed --frames` writes them) and sends
// them over a TCP connection on 127.0.0.1; the parent reads the stream,
// appends every record to a file and calls fdatasync after each chunk of
// `--chunk` records (a catch-up makes its batches durable the same way).
//
//   conect-bytecopy --frames FILE --out FILE [--chunk 512]
//
// Prints one JSON line: records, bytes, seconds (from the fork until the
// last fdatasync returned), records_per_second, file_bytes.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

[[noreturn]] void die(const char* what) {
  std::fprintf(stderr, "conect-bytecopy: %s: %s\n", what, std::strerror(errno));
  std::exit(1);
}

void write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      die("write");
    }
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

std::vector<char> read_file(const char* path) {
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open frames");
  std::vector<char> out;
  char buf[1 << 16];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read frames");
    }
    if (r == 0) break;
    out.insert(out.end(), buf, buf + r);
  }
  ::close(fd);
  return out;
}

std::uint32_t get_u32(const char* p) {
  return (std::uint32_t{static_cast<unsigned char>(p[0])} << 24) |
         (std::uint32_t{static_cast<unsigned char>(p[1])} << 16) |
         (std::uint32_t{static_cast<unsigned char>(p[2])} << 8) | std::uint32_t{static_cast<unsigned char>(p[3])};
}

// The source: reads the records as a node reads its log, then sends them.
[[noreturn]] void send_records(const char* frames, std::uint16_t port) {
  std::vector<char> data = read_file(frames);
  int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) die("connect");
  write_all(s, data.data(), data.size());
  ::shutdown(s, SHUT_WR);
  ::close(s);
  std::_Exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  const char* frames = nullptr;
  const char* out = nullptr;
  std::size_t chunk = 512;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--frames")
      frames = argv[i + 1];
    else if (a == "--out")
      out = argv[i + 1];
    else if (a == "--chunk")
      chunk = std::strtoull(argv[i + 1], nullptr, 10);
  }
  if (!frames || !out || chunk == 0) {
    std::fprintf(stderr, "usage: conect-bytecopy --frames FILE --out FILE [--chunk 512]\n");
    return 2;
  }
  int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (ls < 0) die("socket");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(ls, 1) != 0 ||
      ::getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    die("listen");
  int file = ::open(out, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (file < 0) die("open out");

  const auto t0 = std::chrono::steady_clock::now();
  pid_t child = ::fork();
  if (child < 0) die("fork");
  if (child == 0) send_records(frames, ntohs(addr.sin_port));
  int s = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
  if (s < 0) die("accept");

  // Receive, cut the stream into frames, append each chunk and make it durable.
  std::vector<char> buf;
  std::size_t parsed = 0;    // bytes of buf already counted as whole frames
  std::size_t in_chunk = 0;  // records in buf[0, parsed) not yet written
  std::uint64_t records = 0, bytes = 0;
  auto flush = [&] {
    write_all(file, buf.data(), parsed);
    if (::fdatasync(file) != 0) die("fdatasync");
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(parsed));
    parsed = 0;
    in_chunk = 0;
  };
  char tmp[1 << 16];
  for (;;) {
    ssize_t r = ::read(s, tmp, sizeof tmp);
    if (r < 0) {
      if (errno == EINTR) continue;
      die("read");
    }
    if (r == 0) break;
    buf.insert(buf.end(), tmp, tmp + r);
    while (buf.size() - parsed >= 4) {
      std::uint32_t n = get_u32(buf.data() + parsed);
      if (buf.size() - parsed - 4 < n) break;
      parsed += 4 + n;
      bytes += n;
      ++records;
      if (++in_chunk == chunk) flush();
    }
  }
  if (parsed != buf.size()) {
    std::fprintf(stderr, "conect-bytecopy: the stream ended inside a frame\n");
    return 1;
  }
  if (in_chunk > 0) flush();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  int status = 0;
  ::waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "conect-bytecopy: the sending process failed\n");
    return 1;
  }
  struct stat st {};
  ::fstat(file, &st);
  ::close(file);
  std::printf("{\"records\":%llu,\"bytes\":%llu,\"seconds\":%.6f,\"records_per_second\":%.1f,\"file_bytes\":%lld}\n",
              static_cast<unsigned long long>(records), static_cast<unsigned long long>(bytes), secs,
              static_cast<double>(records) / secs, static_cast<long long>(st.st_size));
  return 0;
}
