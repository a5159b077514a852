// The RAII layer on a real LMDB environment.
#include "conect/storage/lmdb.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "history.h"

namespace conect::lmdb {
namespace {

using storage::testing::TempDir;

struct Fixture {
  TempDir dir;
  Env env;
  Dbi db;

  explicit Fixture(std::uint64_t map_size = std::uint64_t{64} << 20) : env(open_env(dir.path(), map_size)) {
    WriteTxn t = env.begin_write();
    db = t.open_db("kv", MDB_CREATE);
    t.commit();
  }
  static Env open_env(const std::filesystem::path& p, std::uint64_t map_size) {
    EnvOptions o;
    o.map_size = map_size;
    o.flags = MDB_NOTLS;
    auto e = Env::open(p, o);
    if (!e.ok()) throw std::runtime_error(e.error().message());
    return std::move(*e);
  }
  std::optional<std::string> get(std::string_view k) {
    ReadTxn r = env.begin_read();
    auto v = r.get(db, k);
    return v ? std::optional<std::string>(std::string(*v)) : std::nullopt;
  }
};

TEST(Lmdb, UncommittedWriteIsAbortedOnDestruction) {
  Fixture f;
  {
    WriteTxn t = f.env.begin_write();
    t.put(f.db, "k", "v");
    EXPECT_EQ(t.get(f.db, "k"), std::optional<std::string_view>("v"));
  }
  EXPECT_EQ(f.get("k"), std::nullopt);
  // The writer lock was released: another write goes through.
  WriteTxn t = f.env.begin_write();
  t.put(f.db, "k", "w");
  t.commit();
  EXPECT_EQ(f.get("k"), "w");
}

TEST(Lmdb, MovedTransactionIsAbortedOnce) {
  Fixture f;
  WriteTxn a = f.env.begin_write();
  a.put(f.db, "k", "v");
  WriteTxn b = std::move(a);
  EXPECT_FALSE(a.active());  // NOLINT(bugprone-use-after-move): the point of the test
  EXPECT_TRUE(b.active());
  b.commit();
  EXPECT_FALSE(b.active());
  EXPECT_EQ(f.get("k"), "v");
}

TEST(Lmdb, ReadSnapshotIgnoresLaterCommits) {
  Fixture f;
  ReadTxn r = f.env.begin_read();
  WriteTxn t = f.env.begin_write();
  t.put(f.db, "k", "v");
  t.commit();
  EXPECT_EQ(r.get(f.db, "k"), std::nullopt);
  EXPECT_EQ(f.get("k"), "v");
}

// Env::last_txn_id() is what the node's readers compare to skip work
// (Store::last_commit_id: the courier's scan of its own records, the
// compactor's quiet period): a read begun after it must see that commit.
// mdb_env_info's id comes from the meta page, written and flushed before a
// commit is published to new readers, so during every flush it ran one
// commit ahead and a scan taken then missed a record for a minute.
TEST(Lmdb, ALastTxnIdIsNeverAheadOfWhatAReaderThenSees) {
  Fixture f;
  auto commit_own_id = [&] {
    WriteTxn t = f.env.begin_write();
    t.put(f.db, "id", std::to_string(mdb_txn_id(t.handle())));
    t.commit();
  };
  commit_own_id();
  std::atomic<bool> done{false};
  std::thread writer([&] {
    for (int i = 0; i < 300; ++i) commit_own_id();  // each commit flushed: the window is the flush
    done = true;
  });
  std::size_t reads = 0, ahead = 0;
  while (!done) {
    const std::uint64_t id = f.env.last_txn_id();
    const std::uint64_t seen = std::stoull(f.get("id").value());
    ++reads;
    if (seen < id) ++ahead;
  }
  writer.join();
  EXPECT_EQ(ahead, 0u) << "in " << reads << " reads, the id named a commit the next read did not see";
  EXPECT_EQ(std::stoull(f.get("id").value()), f.env.last_txn_id());
}

TEST(Lmdb, CursorMayOutliveItsTransaction) {
  Fixture f;
  {
    WriteTxn t = f.env.begin_write();
    for (char c = 'a'; c <= 'e'; ++c) t.put(f.db, std::string(1, c), "x");
    Cursor cur = t.cursor(f.db);
    ASSERT_TRUE(cur.seek("c"));
    EXPECT_EQ(cur.key(), "c");
    t.commit();  // LMDB frees the write cursor; ~Cursor must not close it again
  }
  ReadTxn r = f.env.begin_read();
  Cursor cur = r.cursor(f.db);
  int n = 0;
  for (bool ok = cur.first(); ok; ok = cur.next()) ++n;
  EXPECT_EQ(n, 5);
  r.abort();  // a read cursor is closed after its transaction: allowed
}

TEST(Lmdb, AppendRefusesOutOfOrderKeys) {
  Fixture f;
  WriteTxn t = f.env.begin_write();
  EXPECT_TRUE(t.append(f.db, "b", "1"));
  EXPECT_TRUE(t.append(f.db, "c", "2"));
  EXPECT_FALSE(t.append(f.db, "a", "3"));
  EXPECT_FALSE(t.put_new(f.db, "b", "4"));
  EXPECT_TRUE(t.del(f.db, "c"));
  EXPECT_FALSE(t.del(f.db, "c"));
  t.commit();
  EXPECT_EQ(f.get("b"), "1");
  EXPECT_EQ(f.get("a"), std::nullopt);
}

// A full map fails at put or at commit; either way the transaction is freed
// exactly once (ASan would report a double free) and nothing of it stays.
TEST(Lmdb, FullMapFailsCleanlyAndKeepsEarlierData) {
  Fixture f(std::uint64_t{1} << 20);
  {
    WriteTxn t = f.env.begin_write();
    t.put(f.db, "keep", "me");
    t.commit();
  }
  std::string value(3000, 'x');
  bool failed = false;
  try {
    WriteTxn t = f.env.begin_write();
    for (int i = 0; i < 10'000; ++i) t.put(f.db, "k" + std::to_string(i), value);
    t.commit();
  } catch (const Failure& e) {
    failed = true;
    EXPECT_TRUE(e.error.is(Errc::storage_full)) << e.error.message();
    EXPECT_NE(e.error.detail.find("map_size"), std::string::npos) << e.error.detail;
  }
  EXPECT_TRUE(failed);
  EXPECT_EQ(f.get("keep"), "me");
  EXPECT_EQ(f.get("k0"), std::nullopt);
  // Growing the map (no transaction active) lets the same write through.
  ASSERT_TRUE(f.env.set_map_size(std::uint64_t{64} << 20).ok());
  WriteTxn t = f.env.begin_write();
  for (int i = 0; i < 1000; ++i) t.put(f.db, "k" + std::to_string(i), value);
  t.commit();
  EXPECT_EQ(f.get("k999"), value);
}

TEST(Lmdb, CommitFailureClearsTheHandleFirst) {
  Fixture f(std::uint64_t{1} << 20);
  WriteTxn t = f.env.begin_write();
  std::string value(3000, 'y');
  try {
    for (int i = 0; i < 10'000; ++i) t.put(f.db, "k" + std::to_string(i), value);
    t.commit();
  } catch (const Failure&) {
  }
  // Whether put or commit failed, aborting again is harmless.
  t.abort();
  EXPECT_EQ(f.get("k0"), std::nullopt);
}

// Every entry of every database of the environment in `dir`, in order:
// (database, key, value), the main database's plain entries under "".
using Entries = std::vector<std::tuple<std::string, std::string, std::string>>;
Entries entries_of(const std::filesystem::path& dir, const std::vector<std::string>& dbs) {
  EnvOptions o;
  o.flags = MDB_NOTLS | MDB_RDONLY;
  auto env = Env::open(dir, o);
  if (!env.ok()) throw std::runtime_error(env.error().message());
  ReadTxn r = env->begin_read();
  Entries out;
  for (const std::string& name : dbs) {
    MDB_dbi dbi = 0;
    check(mdb_dbi_open(r.handle(), name.empty() ? nullptr : name.c_str(), 0, &dbi), "test");
    unsigned flags = 0;
    check(mdb_dbi_flags(r.handle(), dbi, &flags), "test");
    out.emplace_back(name, "flags", std::to_string(flags));
    Cursor c = r.cursor(Dbi{dbi});
    for (bool more = c.first(); more; more = c.next())
      out.emplace_back(name, std::string(c.key()), name.empty() ? "" : std::string(c.value()));
  }
  return out;
}

// The copy in key order commits every 32 MiB: a copy larger than that, with
// items of an MDB_DUPSORT | MDB_DUPFIXED database, values on overflow
// pages and a plain entry in the main database, reads back the same.
TEST(Lmdb, CopyInKeyOrderKeepsEveryEntryAcrossItsTransactions) {
  Fixture f(std::uint64_t{256} << 20);
  std::mt19937_64 rng(5);
  {
    WriteTxn t = f.env.begin_write();
    Dbi items = t.open_db("items", MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED);
    MDB_dbi main = 0;
    check(mdb_dbi_open(t.handle(), nullptr, 0, &main), "test");
    MDB_val k = val("plain"), v = val("entry of the main database");
    check(mdb_put(t.handle(), main, &k, &v, 0), "test");
    for (int i = 0; i < 9'000; ++i) {
      // Out of order, as several origins write.
      const std::string key = std::to_string(rng() % 1'000'000);
      t.put(f.db, key, std::string(i % 10 == 0 ? 6000 : 4000, static_cast<char>('a' + i % 26)));
      char item[17];
      std::snprintf(item, sizeof item, "%016llu", static_cast<unsigned long long>(rng() % 10'000'000'000ULL));
      t.put_item(items, "term " + std::to_string(i % 7), item);
    }
    t.commit();
  }
  const std::vector<std::string> dbs = {"", "items", "kv"};
  TempDir copy;
  ASSERT_TRUE(f.env.copy_to(copy.path(), /*compact=*/true).ok());
  EXPECT_GT(std::filesystem::file_size(copy.path() / "data.mdb"), std::uint64_t{32} << 20);
  EXPECT_FALSE(std::filesystem::exists(copy.path() / "lock.mdb"));
  f.env.close();
  EXPECT_EQ(entries_of(copy.path(), dbs), entries_of(f.dir.path(), dbs));
}

TEST(Lmdb, ErrorsSayWhatToDo) {
  EXPECT_TRUE(to_error(MDB_MAP_FULL, "x").is(Errc::storage_full));
  EXPECT_TRUE(to_error(MDB_CORRUPTED, "x").is(Errc::storage_error));
  EXPECT_NE(to_error(MDB_CORRUPTED, "x").detail.find("backup"), std::string::npos);
  EXPECT_TRUE(to_error(MDB_INVALID, "x").is(Errc::schema_mismatch));
  EXPECT_TRUE(to_error(EACCES, "x").is(Errc::io_error));
  EXPECT_TRUE(to_error(EROFS, "x").is(Errc::io_error));
  EXPECT_TRUE(to_error(MDB_READERS_FULL, "x").is(Errc::limit_exceeded));
}

}  // namespace
}  // namespace conect::lmdb
