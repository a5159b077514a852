// Env::copy_to_file: the copy that backups and Store::compact make.
//
// Why not mdb_env_copyfd2(MDB_CP_COMPACT) for a compacting copy: it drops
// free pages but copies every live page as it is, fill and all. The trees
// keyed by origin or owner (the log keyed origin || seq, records, ops,
// availability) append only while a new key sorts last; with several
// origins writing, LMDB splits their pages in half and the copy keeps them
// half empty (50,000 placements: 60 MiB copied from one origin, 88 from
// eight). Re-putting every entry in key order with MDB_APPEND(DUP) fills
// each page before starting the next, whatever order the keys arrived in
// (docs/performance.md, "Where the disk goes").
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "conect/storage/lmdb.h"

namespace conect::lmdb {
namespace {

// Bounds the target's dirty pages (LMDB keeps them in memory until the
// commit, and refuses a transaction past MDB_IDL_UM_MAX of them).
constexpr std::size_t kBytesPerTxn = std::size_t{32} << 20;

class RawEnv {
 public:
  RawEnv() { check(mdb_env_create(&env_), "creating an LMDB environment"); }
  ~RawEnv() {
    if (env_) mdb_env_close(env_);
  }
  RawEnv(const RawEnv&) = delete;
  RawEnv& operator=(const RawEnv&) = delete;
  MDB_env* get() const { return env_; }

 private:
  MDB_env* env_ = nullptr;
};

struct Named {
  std::string name;
  MDB_dbi source = 0;
  unsigned flags = 0;
};

// The main database holds a record per named database (the tree's root,
// depth, counts: rebuilt by the target as it fills them, never copied) and
// may hold plain entries of its own, which are copied as data.
struct Layout {
  std::vector<Named> named;
  std::vector<std::pair<std::string, std::string>> plain;
};

Layout layout_of(MDB_txn* txn, const std::string& where) {
  MDB_dbi main = 0;
  check(mdb_dbi_open(txn, nullptr, 0, &main), where);
  Layout out;
  std::vector<std::pair<std::string, std::string>> entries;
  {
    MDB_cursor* c = nullptr;
    check(mdb_cursor_open(txn, main, &c), where);
    MDB_val k{}, v{};
    int rc;
    while ((rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) == MDB_SUCCESS) entries.emplace_back(view(k), view(v));
    mdb_cursor_close(c);
    if (rc != MDB_NOTFOUND) fail(rc, where);
  }
  for (auto& [key, value] : entries) {
    Named db{key};
    // A key with a NUL inside cannot name a database.
    int rc = key.find('\0') == std::string::npos ? mdb_dbi_open(txn, key.c_str(), 0, &db.source) : MDB_INCOMPATIBLE;
    if (rc == MDB_INCOMPATIBLE) {
      out.plain.emplace_back(std::move(key), std::move(value));
      continue;
    }
    check(rc, where);
    check(mdb_dbi_flags(txn, db.source, &db.flags), where);
    out.named.push_back(std::move(db));
  }
  return out;
}

// Fills the fresh environment `target` from the snapshot `source`.
void copy_in_key_order(MDB_txn* source, MDB_env* target, const Layout& layout, const std::string& where) {
  MDB_txn* txn = nullptr;
  auto begin = [&] { check(mdb_txn_begin(target, nullptr, 0, &txn), where); };
  auto commit = [&] { check(mdb_txn_commit(std::exchange(txn, nullptr)), where); };
  struct Abort {
    MDB_txn*& t;
    ~Abort() {
      if (t) mdb_txn_abort(t);
    }
  } abort_on_failure{txn};

  begin();
  std::size_t pending = 0;
  for (const Named& db : layout.named) {
    MDB_dbi to = 0;
    check(mdb_dbi_open(txn, db.name.c_str(), MDB_CREATE | db.flags, &to), where);
    MDB_cursor* from = nullptr;
    check(mdb_cursor_open(source, db.source, &from), where);
    struct Close {
      MDB_cursor* c;
      ~Close() { mdb_cursor_close(c); }
    } close_from{from};
    MDB_cursor* out = nullptr;
    check(mdb_cursor_open(txn, to, &out), where);

    const bool items = (db.flags & MDB_DUPSORT) != 0;
    MDB_val k{}, v{};
    int rc = mdb_cursor_get(from, &k, &v, MDB_FIRST);
    while (rc == MDB_SUCCESS) {
      // MDB_APPEND refuses a key equal to the last one: a key's further
      // items go last among its items instead.
      unsigned flags = MDB_APPEND;
      do {
        if (pending >= kBytesPerTxn) {
          commit();  // frees `out` with the transaction
          begin();
          check(mdb_cursor_open(txn, to, &out), where);
          pending = 0;
        }
        MDB_val key = k, value = v;  // mdb_cursor_put may rewrite them
        check(mdb_cursor_put(out, &key, &value, flags), where);
        pending += k.mv_size + v.mv_size;
        flags = MDB_APPENDDUP;
      } while (items && (rc = mdb_cursor_get(from, &k, &v, MDB_NEXT_DUP)) == MDB_SUCCESS);
      if (items && rc != MDB_NOTFOUND) break;
      rc = mdb_cursor_get(from, &k, &v, MDB_NEXT_NODUP);
    }
    if (rc != MDB_NOTFOUND) fail(rc, where);
  }
  if (!layout.plain.empty()) {
    MDB_dbi main = 0;
    check(mdb_dbi_open(txn, nullptr, 0, &main), where);
    for (const auto& [key, value] : layout.plain) {
      MDB_val k = val(key), v = val(value);
      check(mdb_put(txn, main, &k, &v, 0), where);
    }
  }
  commit();
}

Status rewrite_in_key_order(MDB_env* source_env, const std::filesystem::path& file) {
  const std::string where = "copying the store to " + file.string();
  return guarded([&]() -> Status {
    // The writers go on while this snapshot is copied.
    ReadTxn source = ReadTxn::begin(source_env);
    const Layout layout = layout_of(source.handle(), where);
    MDB_envinfo info{};
    check(mdb_env_info(source_env, &info), where);

    RawEnv target;
    check(mdb_env_set_maxdbs(target.get(), static_cast<MDB_dbi>(layout.named.size())), where);
    check(mdb_env_set_mapsize(target.get(), info.me_mapsize), where);
    // Nobody else knows the file yet: no lock file; one sync at the end.
    check(mdb_env_open(target.get(), file.c_str(), MDB_NOSUBDIR | MDB_NOLOCK | MDB_NOSYNC | MDB_NOTLS, 0600), where);
    copy_in_key_order(source.handle(), target.get(), layout, where);
    source.abort();
    check(mdb_env_sync(target.get(), 1), where);
    int fd = -1;
    check(mdb_env_get_fd(target.get(), &fd), where);
    if (::fsync(fd) != 0) return Error(Errc::io_error, "cannot write " + file.string() + ": " + std::strerror(errno));
    return Status::Ok();
  });
}

}  // namespace

Status Env::copy_to(const std::filesystem::path& dir, bool compact) const {
  return copy_to_file(dir / "data.mdb", compact);
}

Status Env::copy_to_file(const std::filesystem::path& file, bool compact) const {
  // Created here, not by LMDB: private from its first byte, never through a
  // symlink, never over an existing file.
  int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return Error(Errc::io_error, "cannot create " + file.string() + ": " + std::strerror(errno));
  if (compact) {
    ::close(fd);
    Status s = rewrite_in_key_order(env_, file);
    if (!s.ok()) {
      std::error_code ec;
      std::filesystem::remove(file, ec);
    }
    return s;
  }
  int rc = mdb_env_copyfd2(env_, fd, 0);
  bool synced = rc == MDB_SUCCESS && ::fsync(fd) == 0;
  int err = errno;
  ::close(fd);
  if (rc != MDB_SUCCESS) return to_error(rc, "copying the store to " + file.string());
  if (!synced) return Error(Errc::io_error, "cannot write " + file.string() + ": " + std::strerror(err));
  return Status::Ok();
}

}  // namespace conect::lmdb
