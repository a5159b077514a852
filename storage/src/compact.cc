// Compaction after an erasure or an upgrade (Store::compact): a copy of the
// environment rewritten in key order (Env::copy_to_file) swapped in for
// data.mdb, so that erased plaintext left in LMDB's free pages (and in the
// unused tail of live pages) leaves the file, and pages half emptied by
// interleaved origins are filled again.
//
// Who else may have the file open. LMDB holds a shared fcntl lock on byte 0
// of lock.mdb in every process that has the environment open, and a process
// opening it waits (F_SETLKW) while another holds that byte exclusively. So
// the compaction takes byte 0 exclusively (granted only when no other
// process has the store open; our own process's lock is ours to upgrade),
// copies, closes its environment (which drops every lock of this process on
// lock.mdb, POSIX semantics), takes the byte again (someone may have opened
// in that instant: then it gives up and reopens the old file), renames the
// copy over data.mdb and releases the byte. A process opening afterwards
// maps the new file; the first opener re-initialises lock.mdb's reader
// table for it (LMDB does so whenever it opens exclusively).
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <optional>

#include "store_impl.h"

namespace conect::storage {
namespace {

namespace fs = std::filesystem;

// Byte 0 of lock.mdb held exclusively while it lives (see above).
class ExclusiveLock {
 public:
  explicit ExclusiveLock(const fs::path& lock_file) : fd_(::open(lock_file.c_str(), O_RDWR | O_CLOEXEC | O_NOFOLLOW)) {}
  ~ExclusiveLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  ExclusiveLock(const ExclusiveLock&) = delete;
  ExclusiveLock& operator=(const ExclusiveLock&) = delete;

  // False when another process holds byte 0 (has the store open).
  bool take() {
    if (fd_ < 0) return false;
    struct flock l {};
    l.l_type = F_WRLCK;
    l.l_whence = SEEK_SET;
    l.l_start = 0;
    l.l_len = 1;
    int rc;
    while ((rc = ::fcntl(fd_, F_SETLK, &l)) != 0 && errno == EINTR) {
    }
    return rc == 0;
  }

 private:
  int fd_;
};

std::uint64_t size_of(const fs::path& p) {
  std::error_code ec;
  auto n = fs::file_size(p, ec);
  return ec ? 0 : n;
}

Status fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return Error(Errc::io_error, "cannot open " + dir.string() + ": " + std::strerror(errno));
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return Error(Errc::io_error, "cannot sync " + dir.string() + ": " + std::strerror(err));
  return Status::Ok();
}

const char* kBusy =
    "another process has the store open (a CLI command such as `audit export` or `report`); "
    "the node retries once it has closed it";

}  // namespace

Result<bool> Store::compaction_due() const {
  return impl_->read(
      [&](lmdb::ReadTxn& txn) -> Result<bool> { return txn.get(impl_->db.meta, meta::kCompactDue).has_value(); });
}

Result<Compaction> Store::compact() {
  Impl& im = *impl_;
  const auto started = std::chrono::steady_clock::now();
  auto step = [&](std::string_view name) {
    if (im.options.compaction_step) im.options.compaction_step(name);
  };
  // No transaction of this process is active or starts until the swap is
  // done (the same lock a map resize takes).
  std::unique_lock lock(im.resize_mu);
  if (!im.env.get()) return Error(Errc::storage_error, "the store is closed; restart the node");
  const fs::path data = im.dir / "data.mdb";
  const fs::path copy = im.dir / kCompactingFile;
  Compaction out;
  out.bytes_before = size_of(data);

  std::optional<ExclusiveLock> others(std::in_place, im.dir / "lock.mdb");
  if (!others->take()) {
    out.busy = kBusy;
    return out;
  }
  std::error_code ec;
  fs::remove(copy, ec);
  if (Status s = im.env.copy_to_file(copy, /*compact=*/true); !s.ok()) {
    fs::remove(copy, ec);
    return s.error();
  }
  step("copied");
  const lmdb::EnvOptions eo = env_options(im.options, im.env.map_size());
  const std::uint64_t last_commit = im.commit_id_base + im.env.last_txn_id();
  im.env.close();
  step("closed");
  // Closing dropped our lock: nobody may have opened the old file since.
  bool swapped = false;
  std::optional<Error> failed;
  if (others->take()) {
    fs::rename(copy, data, ec);
    if (ec) {
      failed = Error(Errc::io_error, "cannot rename " + copy.string() + " to data.mdb: " + ec.message());
    } else {
      swapped = true;
      step("renamed");
      if (Status s = fsync_dir(im.dir); !s.ok()) failed = s.error();
    }
  }
  if (!swapped) fs::remove(copy, ec);
  others.reset();  // released before our own open, which takes byte 0 again

  auto env = lmdb::Env::open(im.dir, eo);
  if (!env.ok()) return env.error();  // check_open() refuses from now on
  im.env = std::move(*env);
  // The copy restarts LMDB's transaction ids; last_commit_id() must not.
  im.commit_id_base = last_commit + 1 - im.env.last_txn_id();
  Status reopened = lmdb::guarded([&]() -> Status {
    lmdb::WriteTxn txn = im.env.begin_write();
    open_databases(txn, im.db);
    if (swapped) {
      if (auto mark = txn.get(im.db.meta, meta::kCompactDue))
        out.reason = *mark == meta::kCompactAfterUpgrade ? "upgrade" : "erasure";
      txn.del(im.db.meta, meta::kCompactDue);
    }
    txn.commit();
    return Status::Ok();
  });
  if (!reopened.ok()) return reopened.error();
  if (failed) return *failed;
  if (!swapped) {
    out.busy = kBusy;
    return out;
  }
  out.compacted = true;
  out.bytes_after = size_of(data);
  out.ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count());
  return out;
}

}  // namespace conect::storage
