// A thin RAII layer over LMDB with the sharp edges filed off (STYLE.md).
//
//   Env       owns an MDB_env; closes it on destruction.
//   ReadTxn   a read-only snapshot; aborted on destruction.
//   WriteTxn  the write transaction; aborted on destruction unless commit()
//             succeeded. commit() clears the handle BEFORE mdb_txn_commit,
//             because LMDB frees the transaction even when the commit fails
//             (a full map), so a failed commit can never be freed twice.
//   Cursor    closed on destruction. It may outlive its transaction: a write
//             transaction's cursors are freed by LMDB when it ends, and the
//             Cursor then knows not to close it again.
//
// Failure model: "no such key" and "key exists" are values (nullopt, false).
// Anything else LMDB reports (full map, corruption, I/O) is thrown as
// lmdb::Failure carrying a conect::Error that says what to do. Failures never
// leave the storage module: Store catches them at its public boundary and
// returns them as Result/Status (see guarded()).
//
// Thread-safety: an Env may be shared by threads. A transaction and its
// cursors belong to one thread at a time (the env is opened with MDB_NOTLS,
// so a read transaction may move between threads but never be used by two at
// once).
#pragma once

#include <lmdb.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "conect/crdt/error.h"

namespace conect::lmdb {

// Maps an LMDB return code to conect's error with advice. `context` names the
// operation ("opening the store in /x", "writing log entry").
Error to_error(int rc, std::string_view context);

struct Failure {
  Error error;
  int rc = 0;  // the LMDB code, 0 when not from LMDB
};
[[noreturn]] void fail(int rc, std::string_view context);
inline void check(int rc, std::string_view context) {
  if (rc != MDB_SUCCESS) fail(rc, context);
}

// Runs `fn` and turns a thrown Failure into the Error it carries.
// fn returns Result<T> or Status.
template <class F>
auto guarded(F&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Failure& f) {
    return f.error;
  }
}

inline MDB_val val(std::string_view s) {
  return MDB_val{s.size(), const_cast<char*>(s.data())};  // LMDB never writes through it
}
inline std::string_view view(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

struct Dbi {
  MDB_dbi handle = 0;
};

namespace detail {
struct TxnState {
  MDB_txn* txn = nullptr;
  bool write = false;
};
}  // namespace detail

class Cursor;

// Shared by ReadTxn and WriteTxn: lookups and cursors.
class Txn {
 public:
  Txn(Txn&&) noexcept = default;
  Txn& operator=(Txn&& o) noexcept;
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn();

  // The value stored under `key`, valid until the transaction ends or the
  // same key is written again in it.
  std::optional<std::string_view> get(Dbi db, std::string_view key) const;
  Cursor cursor(Dbi db) const;
  MDB_txn* handle() const { return state_ ? state_->txn : nullptr; }
  bool active() const { return handle() != nullptr; }
  // Ends the transaction without keeping anything (idempotent).
  void abort() noexcept;

 protected:
  explicit Txn(std::shared_ptr<detail::TxnState> s) : state_(std::move(s)) {}
  std::shared_ptr<detail::TxnState> state_;
};

class ReadTxn : public Txn {
 public:
  static ReadTxn begin(MDB_env* env);

 private:
  using Txn::Txn;
};

class WriteTxn : public Txn {
 public:
  static WriteTxn begin(MDB_env* env);

  // Overwrites. Throws Failure (storage_full when the map is full).
  void put(Dbi db, std::string_view key, std::string_view value, unsigned flags = 0);
  // MDB_APPEND: false (nothing written) when the key does not sort last.
  bool append(Dbi db, std::string_view key, std::string_view value);
  // Stores only if absent; false when the key exists.
  bool put_new(Dbi db, std::string_view key, std::string_view value);
  // True if the key was there.
  bool del(Dbi db, std::string_view key);
  // In an MDB_DUPSORT database: adds the item `value` to `key`, with
  // MDB_APPENDDUP when it sorts after the key's last item. LMDB splits a
  // full MDB_DUPFIXED page in half whatever the position of the new item,
  // unless it is told the item goes last: items added in order then leave
  // full pages behind instead of half-empty ones.
  void put_item(Dbi db, std::string_view key, std::string_view value);
  // In an MDB_DUPSORT database: deletes the one item `value` of `key`; true
  // if it was there.
  bool del(Dbi db, std::string_view key, std::string_view value);
  void clear(Dbi db);
  // Deletes the database itself (its name and flags too) and closes `db`.
  void drop(Dbi db);
  // Opens (creating if asked) a named database inside this transaction.
  Dbi open_db(const char* name, unsigned flags);
  // Makes everything durable (unless the env has MDB_NOSYNC). The handle is
  // released first, so the transaction is over whatever the result.
  void commit();

 private:
  using Txn::Txn;
};

// Iteration over one database. Positioning calls return false at the end.
class Cursor {
 public:
  Cursor(Cursor&& o) noexcept : c_(std::exchange(o.c_, nullptr)), txn_(std::move(o.txn_)) {}
  Cursor& operator=(Cursor&&) = delete;
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() { close(); }

  bool first() { return move(MDB_FIRST); }
  bool last() { return move(MDB_LAST); }
  bool next() { return move(MDB_NEXT); }
  bool prev() { return move(MDB_PREV); }
  // First key >= `key`.
  bool seek(std::string_view key);
  // MDB_DUPSORT databases: the first item >= `value` among those of exactly
  // `key` (false, unpositioned, when there is none); the next item of the
  // same key; the first item of the next key.
  bool seek_item(std::string_view key, std::string_view value);
  bool next_item() { return move(MDB_NEXT_DUP); }
  bool next_key() { return move(MDB_NEXT_NODUP); }
  std::string_view key() const { return view(k_); }
  std::string_view value() const { return view(v_); }
  void close() noexcept;

 private:
  friend class Txn;
  Cursor(MDB_cursor* c, std::shared_ptr<detail::TxnState> txn) : c_(c), txn_(std::move(txn)) {}
  bool move(MDB_cursor_op op);
  MDB_cursor* c_ = nullptr;
  std::shared_ptr<detail::TxnState> txn_;
  MDB_val k_{}, v_{};
};

struct EnvOptions {
  std::uint64_t map_size = 0;
  unsigned max_dbs = 32;
  unsigned max_readers = 126;
  unsigned flags = 0;  // MDB_NOTLS, MDB_NOSYNC, MDB_RDONLY, ...
};

class Env {
 public:
  // Opens the environment whose data.mdb lives in `dir` (which must exist).
  static Result<Env> open(const std::filesystem::path& dir, const EnvOptions& options);

  Env(Env&& o) noexcept : env_(std::exchange(o.env_, nullptr)) {}
  Env& operator=(Env&& o) noexcept;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env();

  MDB_env* get() const { return env_; }
  ReadTxn begin_read() const { return ReadTxn::begin(env_); }
  WriteTxn begin_write() const { return WriteTxn::begin(env_); }
  // Only when no transaction of this process is active (LMDB does not check).
  Status set_map_size(std::uint64_t bytes);
  std::uint64_t map_size() const;
  // Bytes of the map in use: pages up to the last one written (free pages
  // inside are reused by later writes, so this is what the file needs).
  std::uint64_t used_bytes() const;
  // The id of the last commit a reader starting now sees: it grows with
  // every commit, so an unchanged id means unchanged data, and a read begun
  // after this call sees at least that commit.
  std::uint64_t last_txn_id() const;
  // Clears reader slots left by dead processes; returns how many.
  int reader_check();
  // A consistent copy of the latest commit into `dir`/data.mdb (dir exists
  // and holds no data.mdb): the file is created with mode 0600 (never
  // readable by others, not even while it is written), not through a
  // symlink, and fsync'd. Without `compact`, page for page
  // (mdb_env_copyfd2). With it, a fresh environment that every named
  // database is put into in key order (MDB_APPEND, MDB_APPENDDUP for a
  // key's items), each with its own flags, the same map size: only live
  // entries, and full pages whatever order the keys were written in
  // (lmdb_copy.cc says why MDB_CP_COMPACT is not enough).
  Status copy_to(const std::filesystem::path& dir, bool compact) const;
  // The same into the file `file` (which must not exist).
  Status copy_to_file(const std::filesystem::path& file, bool compact) const;
  // Closes the environment now (its process's locks on lock.mdb go with
  // it); only get() == nullptr may be asked afterwards.
  void close() noexcept;
  Status sync(bool force);

 private:
  explicit Env(MDB_env* e) : env_(e) {}
  MDB_env* env_ = nullptr;
};

}  // namespace conect::lmdb
