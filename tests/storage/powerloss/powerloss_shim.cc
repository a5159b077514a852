// A power-loss model for the crash test, loaded with LD_PRELOAD into the
// process that writes the store (LevelDB's fault_injection_test does the
// same inside its Env; conect's store talks to LMDB directly, so the seam is
// the C library).
//
// Killing a process keeps the kernel's page cache: everything it wrote is
// still read back, synced or not, so a kill -9 test passes even when nothing
// is ever fsync'd. A power cut keeps only what reached the disk. This shim
// journals, for the watched file (CONECT_POWERLOSS_FILE, a file name such as
// "data.mdb"), what every write replaced, and forgets the journal when the
// file is synced. After killing the process, the test (power_cut.h) uses the
// journal to undo all or a random part of the writes made since the last
// sync: the file as a disk could hold it after the power went.
//
// What counts as durable:
//   - fsync / fdatasync on any descriptor of the file: everything so far;
//   - a write through a descriptor opened with O_DSYNC / O_SYNC (LMDB writes
//     its meta page that way): that write only, as Linux does;
//   - msync(MS_SYNC) of a shared mapping of the file: everything so far.
// Writes through a writable shared mapping cannot be seen here: mapping the
// file that way aborts the process with a message.
//
// Journal (CONECT_POWERLOSS_JOURNAL), little-endian records appended in
// order, truncated to empty at each sync:
//   u32 kind (1 = volatile write, 2 = durable write), u64 offset, u64 length,
//   u64 file size before the write, then for kind 1 the bytes the write
//   replaced: min(length, max(0, size before - offset)) of them.
//
// The shim is built without sanitizers; under ASan run the child with
// ASAN_OPTIONS=verify_asan_link_order=0.
#undef _FORTIFY_SOURCE  // our open() must not meet the fortified inline one
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <cstdint>

namespace {

constexpr int kMaxFd = 4096;
constexpr std::uint32_t kVolatile = 1, kDurable = 2;

struct FdInfo {
  bool watched = false;
  bool dsync = false;
};

FdInfo g_fds[kMaxFd];
pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;
int g_journal = -1;
const char* g_name = nullptr;
struct Mapping {
  std::uintptr_t begin = 0, end = 0;
};
Mapping g_maps[64];

template <typename F>
F next(const char* name) {
  return reinterpret_cast<F>(dlsym(RTLD_NEXT, name));
}

using open_fn = int (*)(const char*, int, ...);
using openat_fn = int (*)(int, const char*, int, ...);
using close_fn = int (*)(int);
using pwrite_fn = ssize_t (*)(int, const void*, size_t, off_t);
using write_fn = ssize_t (*)(int, const void*, size_t);
using writev_fn = ssize_t (*)(int, const struct iovec*, int);
using pwritev_fn = ssize_t (*)(int, const struct iovec*, int, off_t);
using sync_fn = int (*)(int);
using ftruncate_fn = int (*)(int, off_t);
using msync_fn = int (*)(void*, size_t, int);
using mmap_fn = void* (*)(void*, size_t, int, int, int, off_t);

[[noreturn]] void die(const char* what) {
  char buf[256];
  int n = snprintf(buf, sizeof buf, "powerloss shim: %s\n", what);
  if (n > 0) (void)!::write(2, buf, static_cast<size_t>(n));
  _exit(99);
}

void init() {
  if (g_name) return;
  g_name = getenv("CONECT_POWERLOSS_FILE");
  if (!g_name) g_name = "data.mdb";
  const char* journal = getenv("CONECT_POWERLOSS_JOURNAL");
  if (!journal) die("CONECT_POWERLOSS_JOURNAL is not set");
  g_journal = next<open_fn>("open")(journal, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (g_journal < 0) die("cannot open the journal");
}

bool names_watched_file(const char* path) {
  init();
  const char* base = strrchr(path, '/');
  base = base ? base + 1 : path;
  return strcmp(base, g_name) == 0;
}

void track(int fd, const char* path, int flags) {
  if (fd < 0 || fd >= kMaxFd || !path) return;
  pthread_mutex_lock(&g_mu);
  g_fds[fd].watched = names_watched_file(path);
  g_fds[fd].dsync = (flags & O_DSYNC) != 0;  // O_SYNC includes the O_DSYNC bit
  pthread_mutex_unlock(&g_mu);
}

bool watched(int fd) { return fd >= 0 && fd < kMaxFd && g_fds[fd].watched; }

void put_all(const void* data, size_t len) {
  const char* p = static_cast<const char*>(data);
  while (len > 0) {
    ssize_t n = next<write_fn>("write")(g_journal, p, len);
    if (n <= 0) die("cannot write the journal");
    p += n;
    len -= static_cast<size_t>(n);
  }
}

// Journals a write of `len` bytes at `off` (before it is made). Caller holds g_mu.
void journal_write(int fd, std::uint64_t off, std::uint64_t len) {
  struct stat st {};
  if (fstat(fd, &st) != 0) die("fstat failed");
  const std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
  const std::uint32_t kind = g_fds[fd].dsync ? kDurable : kVolatile;
  unsigned char header[28];
  memcpy(header, &kind, 4);
  memcpy(header + 4, &off, 8);
  memcpy(header + 12, &len, 8);
  memcpy(header + 20, &size, 8);
  put_all(header, sizeof header);
  if (kind == kDurable) return;
  std::uint64_t keep = off < size ? (size - off < len ? size - off : len) : 0;
  // The descriptor may be write-only: read what is replaced through one of our own.
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  int rd = next<open_fn>("open")(path, O_RDONLY | O_CLOEXEC);
  if (rd < 0) die("cannot reopen the watched file to read it");
  char buf[65536];
  while (keep > 0) {
    size_t want = keep < sizeof buf ? static_cast<size_t>(keep) : sizeof buf;
    ssize_t n = pread(rd, buf, want, static_cast<off_t>(off));
    if (n <= 0) die("cannot read the watched file");
    put_all(buf, static_cast<size_t>(n));
    off += static_cast<std::uint64_t>(n);
    keep -= static_cast<std::uint64_t>(n);
  }
  next<close_fn>("close")(rd);
}

void journal_synced() {
  if (next<ftruncate_fn>("ftruncate")(g_journal, 0) != 0) die("cannot truncate the journal");
}

std::uint64_t iov_len(const struct iovec* iov, int n) {
  std::uint64_t total = 0;
  for (int i = 0; i < n; ++i) total += iov[i].iov_len;
  return total;
}

struct Guard {
  Guard() { pthread_mutex_lock(&g_mu); }
  ~Guard() { pthread_mutex_unlock(&g_mu); }
};

}  // namespace

extern "C" {

int open(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  int fd = next<open_fn>("open")(path, flags, mode);
  track(fd, path, flags);
  return fd;
}

int open64(const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  int fd = next<open_fn>("open64")(path, flags, mode);
  track(fd, path, flags);
  return fd;
}

int openat(int dirfd, const char* path, int flags, ...) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) {
    va_list ap;
    va_start(ap, flags);
    mode = static_cast<mode_t>(va_arg(ap, int));
    va_end(ap);
  }
  int fd = next<openat_fn>("openat")(dirfd, path, flags, mode);
  track(fd, path, flags);
  return fd;
}

int close(int fd) {
  if (fd >= 0 && fd < kMaxFd) {
    Guard g;
    g_fds[fd] = FdInfo{};
  }
  return next<close_fn>("close")(fd);
}

ssize_t pwrite(int fd, const void* buf, size_t len, off_t off) {
  if (!watched(fd)) return next<pwrite_fn>("pwrite")(fd, buf, len, off);
  Guard g;
  journal_write(fd, static_cast<std::uint64_t>(off), len);
  return next<pwrite_fn>("pwrite")(fd, buf, len, off);
}

ssize_t pwrite64(int fd, const void* buf, size_t len, off_t off) { return pwrite(fd, buf, len, off); }

ssize_t write(int fd, const void* buf, size_t len) {
  if (!watched(fd)) return next<write_fn>("write")(fd, buf, len);
  Guard g;
  off_t at = lseek(fd, 0, SEEK_CUR);
  if (at < 0) die("write to an unseekable watched descriptor");
  journal_write(fd, static_cast<std::uint64_t>(at), len);
  return next<write_fn>("write")(fd, buf, len);
}

ssize_t writev(int fd, const struct iovec* iov, int n) {
  if (!watched(fd)) return next<writev_fn>("writev")(fd, iov, n);
  Guard g;
  off_t at = lseek(fd, 0, SEEK_CUR);
  if (at < 0) die("writev to an unseekable watched descriptor");
  journal_write(fd, static_cast<std::uint64_t>(at), iov_len(iov, n));
  return next<writev_fn>("writev")(fd, iov, n);
}

ssize_t pwritev(int fd, const struct iovec* iov, int n, off_t off) {
  if (!watched(fd)) return next<pwritev_fn>("pwritev")(fd, iov, n, off);
  Guard g;
  journal_write(fd, static_cast<std::uint64_t>(off), iov_len(iov, n));
  return next<pwritev_fn>("pwritev")(fd, iov, n, off);
}

ssize_t pwritev64(int fd, const struct iovec* iov, int n, off_t off) { return pwritev(fd, iov, n, off); }

int ftruncate(int fd, off_t length) {
  if (!watched(fd)) return next<ftruncate_fn>("ftruncate")(fd, length);
  Guard g;
  struct stat st {};
  if (fstat(fd, &st) != 0) die("fstat failed");
  // Growing: new zero bytes past the old end; shrinking: the cut-off bytes.
  std::uint64_t from = static_cast<std::uint64_t>(length < st.st_size ? length : st.st_size);
  std::uint64_t to = static_cast<std::uint64_t>(length < st.st_size ? st.st_size : length);
  if (to > from) journal_write(fd, from, to - from);
  return next<ftruncate_fn>("ftruncate")(fd, length);
}

int ftruncate64(int fd, off_t length) { return ftruncate(fd, length); }

int fsync(int fd) {
  int rc = next<sync_fn>("fsync")(fd);
  if (rc == 0 && watched(fd)) {
    Guard g;
    journal_synced();
  }
  return rc;
}

int fdatasync(int fd) {
  int rc = next<sync_fn>("fdatasync")(fd);
  if (rc == 0 && watched(fd)) {
    Guard g;
    journal_synced();
  }
  return rc;
}

void* mmap(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  void* p = next<mmap_fn>("mmap")(addr, len, prot, flags, fd, off);
  if (p != MAP_FAILED && watched(fd)) {
    if ((prot & PROT_WRITE) && (flags & MAP_SHARED))
      die("a writable shared mapping of the watched file: its writes are invisible to this model");
    Guard g;
    for (auto& m : g_maps)
      if (m.begin == 0) {
        m.begin = reinterpret_cast<std::uintptr_t>(p);
        m.end = m.begin + len;
        break;
      }
  }
  return p;
}

void* mmap64(void* addr, size_t len, int prot, int flags, int fd, off_t off) {
  return mmap(addr, len, prot, flags, fd, off);
}

int msync(void* addr, size_t len, int flags) {
  int rc = next<msync_fn>("msync")(addr, len, flags);
  if (rc == 0 && (flags & MS_SYNC)) {
    Guard g;
    auto b = reinterpret_cast<std::uintptr_t>(addr);
    for (const auto& m : g_maps)
      if (m.begin != 0 && b < m.end && b + len > m.begin) journal_synced();
  }
  return rc;
}

}  // extern "C"
