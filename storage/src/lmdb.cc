#include "conect/storage/lmdb.h"

#include <cerrno>
#include <cstring>

namespace conect::lmdb {

Error to_error(int rc, std::string_view context) {
  std::string where(context);
  std::string what = mdb_strerror(rc);
  switch (rc) {
    case MDB_MAP_FULL:
      return Error(Errc::storage_full, where +
                                           ": the LMDB map is full; raise [storage] map_size_mib in node.toml "
                                           "(StoreOptions::map_size / max_map_size) and restart");
    case ENOSPC:
      return Error(Errc::storage_full, where + ": the disk is full; free space and retry");
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
      return Error(Errc::storage_error, where + ": the store file is corrupted (" + what +
                                            "); stop the node and restore the data directory from a backup "
                                            "(docs/storage.md)");
    case MDB_INVALID:
      return Error(Errc::schema_mismatch, where +
                                              ": data.mdb is not an LMDB environment (a foreign or truncated file); "
                                              "point --data at a conect data directory or restore from a backup");
    case MDB_VERSION_MISMATCH:
      return Error(Errc::schema_mismatch, where + ": data.mdb was written by an incompatible LMDB version");
    case MDB_READERS_FULL:
      return Error(Errc::limit_exceeded, where +
                                             ": all LMDB reader slots are in use; fewer concurrent readers, or "
                                             "restart to clear slots of dead processes");
    case MDB_TXN_FULL:
      return Error(Errc::limit_exceeded, where + ": transaction too large; use smaller batches");
    case MDB_BAD_VALSIZE:
      return Error(Errc::invalid_argument, where + ": key or value size out of range");
    case EACCES:
    case EPERM:
    case EROFS:
      return Error(Errc::io_error, where + ": " + what +
                                       "; the store directory and its files must be writable by the node's "
                                       "user (check ownership, mode and read-only mounts)");
    case ENOENT:
      return Error(Errc::not_found, where + ": " + what);
    case ENOMEM:
      return Error(Errc::storage_error, where + ": cannot map the store (" + what +
                                            "); lower [storage] map_size_mib or raise the address-space limit");
    default:
      return Error(Errc::storage_error, where + ": LMDB error " + std::to_string(rc) + ": " + what);
  }
}

void fail(int rc, std::string_view context) { throw Failure{to_error(rc, context), rc}; }

// ---------------------------------------------------------------- Txn

Txn& Txn::operator=(Txn&& o) noexcept {
  if (this != &o) {
    abort();
    state_ = std::move(o.state_);
  }
  return *this;
}

Txn::~Txn() { abort(); }

void Txn::abort() noexcept {
  if (state_ && state_->txn) {
    MDB_txn* t = std::exchange(state_->txn, nullptr);
    mdb_txn_abort(t);
  }
}

std::optional<std::string_view> Txn::get(Dbi db, std::string_view key) const {
  MDB_val k = val(key), v{};
  int rc = mdb_get(handle(), db.handle, &k, &v);
  if (rc == MDB_NOTFOUND) return std::nullopt;
  check(rc, "reading the store");
  return view(v);
}

Cursor Txn::cursor(Dbi db) const {
  MDB_cursor* c = nullptr;
  check(mdb_cursor_open(handle(), db.handle, &c), "opening a cursor");
  return Cursor(c, state_);
}

ReadTxn ReadTxn::begin(MDB_env* env) {
  auto s = std::make_shared<detail::TxnState>();
  check(mdb_txn_begin(env, nullptr, MDB_RDONLY, &s->txn), "starting a read transaction");
  return ReadTxn(std::move(s));
}

WriteTxn WriteTxn::begin(MDB_env* env) {
  auto s = std::make_shared<detail::TxnState>();
  s->write = true;
  check(mdb_txn_begin(env, nullptr, 0, &s->txn), "starting a write transaction");
  return WriteTxn(std::move(s));
}

void WriteTxn::put(Dbi db, std::string_view key, std::string_view value, unsigned flags) {
  MDB_val k = val(key), v = val(value);
  check(mdb_put(handle(), db.handle, &k, &v, flags), "writing to the store");
}

bool WriteTxn::append(Dbi db, std::string_view key, std::string_view value) {
  MDB_val k = val(key), v = val(value);
  int rc = mdb_put(handle(), db.handle, &k, &v, MDB_APPEND);
  if (rc == MDB_KEYEXIST) return false;
  check(rc, "appending to the store");
  return true;
}

bool WriteTxn::put_new(Dbi db, std::string_view key, std::string_view value) {
  MDB_val k = val(key), v = val(value);
  int rc = mdb_put(handle(), db.handle, &k, &v, MDB_NOOVERWRITE);
  if (rc == MDB_KEYEXIST) return false;
  check(rc, "writing to the store");
  return true;
}

bool WriteTxn::del(Dbi db, std::string_view key) {
  MDB_val k = val(key);
  int rc = mdb_del(handle(), db.handle, &k, nullptr);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "deleting from the store");
  return true;
}

void WriteTxn::put_item(Dbi db, std::string_view key, std::string_view value) {
  MDB_val k = val(key), v = val(value), last{};
  unsigned flags = 0;
  {
    MDB_cursor* c = nullptr;
    check(mdb_cursor_open(handle(), db.handle, &c), "opening a cursor");
    int rc = mdb_cursor_get(c, &k, &last, MDB_SET_KEY);
    if (rc == MDB_SUCCESS) rc = mdb_cursor_get(c, &k, &last, MDB_LAST_DUP);
    // Compared before the cursor closes: `last` points into its page.
    if (rc == MDB_SUCCESS && mdb_dcmp(handle(), db.handle, &v, &last) > 0) flags = MDB_APPENDDUP;
    mdb_cursor_close(c);
    if (rc != MDB_SUCCESS && rc != MDB_NOTFOUND) fail(rc, "reading the store");
  }
  k = val(key);
  check(mdb_put(handle(), db.handle, &k, &v, flags), "writing to the store");
}

bool WriteTxn::del(Dbi db, std::string_view key, std::string_view value) {
  MDB_val k = val(key), v = val(value);
  int rc = mdb_del(handle(), db.handle, &k, &v);
  if (rc == MDB_NOTFOUND) return false;
  check(rc, "deleting from the store");
  return true;
}

void WriteTxn::clear(Dbi db) { check(mdb_drop(handle(), db.handle, 0), "clearing a database"); }

void WriteTxn::drop(Dbi db) { check(mdb_drop(handle(), db.handle, 1), "deleting a database"); }

Dbi WriteTxn::open_db(const char* name, unsigned flags) {
  Dbi db;
  check(mdb_dbi_open(handle(), name, flags, &db.handle), std::string("opening database ") + name);
  return db;
}

void WriteTxn::commit() {
  // mdb_txn_commit frees the transaction even when it fails: forget it first.
  MDB_txn* t = std::exchange(state_->txn, nullptr);
  check(mdb_txn_commit(t), "committing a write transaction");
}

// ------------------------------------------------------------- Cursor

bool Cursor::seek(std::string_view key) {
  if (key.empty()) return first();  // LMDB refuses an empty key
  k_ = val(key);
  return move(MDB_SET_RANGE);
}

bool Cursor::seek_item(std::string_view key, std::string_view value) {
  if (key.empty()) return false;  // LMDB refuses an empty key; none is stored
  k_ = val(key);
  v_ = val(value);
  // MDB_GET_BOTH_RANGE leaves k_ pointing at the caller's bytes: read the
  // position back so that key() outlives them.
  return move(MDB_GET_BOTH_RANGE) && move(MDB_GET_CURRENT);
}

bool Cursor::move(MDB_cursor_op op) {
  int rc = mdb_cursor_get(c_, &k_, &v_, op);
  if (rc == MDB_NOTFOUND) {
    k_ = v_ = MDB_val{};
    return false;
  }
  check(rc, "iterating the store");
  return true;
}

void Cursor::close() noexcept {
  if (!c_) return;
  MDB_cursor* c = std::exchange(c_, nullptr);
  // A write transaction's cursors die with it; a read transaction's must be
  // closed explicitly, before or after the transaction ends.
  if (!txn_->write || txn_->txn != nullptr) mdb_cursor_close(c);
  txn_.reset();
}

// ---------------------------------------------------------------- Env

Result<Env> Env::open(const std::filesystem::path& dir, const EnvOptions& options) {
  MDB_env* raw = nullptr;
  int rc = mdb_env_create(&raw);
  if (rc != MDB_SUCCESS) return to_error(rc, "creating an LMDB environment");
  Env env(raw);
  const std::string where = "opening the store in " + dir.string();
  if ((rc = mdb_env_set_maxdbs(raw, options.max_dbs)) != MDB_SUCCESS) return to_error(rc, where);
  if ((rc = mdb_env_set_maxreaders(raw, options.max_readers)) != MDB_SUCCESS) return to_error(rc, where);
  if (options.map_size != 0 && (rc = mdb_env_set_mapsize(raw, options.map_size)) != MDB_SUCCESS)
    return to_error(rc, where);
  if ((rc = mdb_env_open(raw, dir.c_str(), options.flags, 0600)) != MDB_SUCCESS) return to_error(rc, where);
  return env;
}

Env& Env::operator=(Env&& o) noexcept {
  if (this != &o) {
    if (env_) mdb_env_close(env_);
    env_ = std::exchange(o.env_, nullptr);
  }
  return *this;
}

Env::~Env() {
  if (env_) mdb_env_close(env_);
}

Status Env::set_map_size(std::uint64_t bytes) {
  int rc = mdb_env_set_mapsize(env_, bytes);
  if (rc != MDB_SUCCESS) return to_error(rc, "resizing the LMDB map");
  return Status::Ok();
}

std::uint64_t Env::map_size() const {
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  return info.me_mapsize;
}

std::uint64_t Env::used_bytes() const {
  MDB_envinfo info{};
  MDB_stat st{};
  mdb_env_info(env_, &info);
  mdb_env_stat(env_, &st);
  return (static_cast<std::uint64_t>(info.me_last_pgno) + 1) * st.ms_psize;
}

std::uint64_t Env::last_txn_id() const {
  // The snapshot a reader starting now gets, not mdb_env_info's id: that one
  // is read from the meta page, which a commit writes (and flushes) before
  // it publishes the snapshot to new readers. A caller that took the meta's
  // id, then read, could see the commit before and take it for read.
  MDB_txn* txn = nullptr;
  if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) == MDB_SUCCESS) {
    const std::uint64_t id = mdb_txn_id(txn);
    mdb_txn_abort(txn);
    return id;
  }
  // No reader slot free: one less than the meta's id, which may be ahead of
  // the published snapshot by that one commit. Too small is safe (a caller
  // reads again); too large is the fault above.
  MDB_envinfo info{};
  mdb_env_info(env_, &info);
  return info.me_last_txnid > 0 ? info.me_last_txnid - 1 : 0;
}

int Env::reader_check() {
  int dead = 0;
  mdb_reader_check(env_, &dead);
  return dead;
}

void Env::close() noexcept {
  if (env_) mdb_env_close(std::exchange(env_, nullptr));
}

Status Env::sync(bool force) {
  int rc = mdb_env_sync(env_, force ? 1 : 0);
  if (rc != MDB_SUCCESS) return to_error(rc, "syncing the store");
  return Status::Ok();
}

}  // namespace conect::lmdb
