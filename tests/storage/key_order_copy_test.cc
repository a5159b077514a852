// Compaction and backup rewrite the store in key order (Env::copy_to with
// `compact`): the same entries in every database, full pages however many
// origins wrote them, and a consistent snapshot while writers commit. Real
// LMDB files.
#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "conect/crdt/ops.h"
#include "conect/storage/store.h"
#include "history.h"

namespace conect::storage {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

std::uint64_t size_of(const fs::path& p) { return fs::file_size(p); }

TEST(CompactionInKeyOrder, EveryDatabaseReadsBackTheSame) {
  TempDir t;
  const fs::path dir = t / "store";
  auto h = testing::random_history({.authors = 5, .deltas = 400, .seed = 7});
  {
    auto s = testing::open_store(dir);
    std::mt19937_64 rng(7);
    testing::deliver_randomly(*s, h, rng);
  }
  const testing::SubDatabases before = testing::dump_subdatabases(dir);
  {
    auto s = testing::open_store(dir);
    auto done = s->compact();
    ASSERT_TRUE(done.ok()) << done.error().message();
    ASSERT_TRUE(done->compacted) << done->busy;
    EXPECT_LT(done->bytes_after, done->bytes_before);
  }
  // Every key and value of every database, the items of the MDB_DUPSORT
  // ones, and each database's flags.
  EXPECT_EQ(testing::dump_subdatabases(dir), before);
  auto s = testing::open_store(dir);
  testing::expect_same_state(*s, testing::replica_of(h));
  // It takes writes as before.
  ASSERT_TRUE(s->put_peer("ws://127.0.0.1:7700/sync", "after the compaction").ok());
  EXPECT_EQ(**s->peer("ws://127.0.0.1:7700/sync"), "after the compaction");
}

// Bytes of data.mdb once the deltas are applied and the store compacted.
std::uint64_t compacted_size(const fs::path& dir, std::vector<VerifiedDelta> deltas) {
  auto s = testing::open_store(dir);
  for (std::size_t i = 0; i < deltas.size(); i += 200) {
    std::vector<VerifiedDelta> batch(deltas.begin() + static_cast<long>(i),
                                     deltas.begin() + static_cast<long>(std::min(deltas.size(), i + 200)));
    auto r = s->apply(std::move(batch));
    EXPECT_TRUE(r.ok()) << r.error().message();
  }
  EXPECT_EQ(s->counts()->at(v1::PLACEMENT), deltas.size());
  auto done = s->compact();
  EXPECT_TRUE(done.ok() && done->compacted);
  return size_of(dir / "data.mdb");
}

// Trees keyed by origin or owner append only for the origin that sorts
// last; the others' keys go inside the tree, where LMDB splits pages in
// half. A page-for-page copy keeps those half pages (+45 %); the copy in
// key order fills them.
TEST(CompactionInKeyOrder, InterleavedOriginsTakeNoMoreThanOne) {
  TempDir t;
  constexpr std::size_t kDeltas = 4000;
  const std::uint64_t one = compacted_size(t / "one", testing::interleaved_placements(kDeltas, 1));
  const std::uint64_t eight = compacted_size(t / "eight", testing::interleaved_placements(kDeltas, 8));
  // Eight organisations instead of one, and page granularity.
  EXPECT_LE(eight, one + one / 20) << "1 origin: " << one << " B, 8 origins: " << eight << " B";
}

TEST(StoreBackup, WhileAWriterCommitsHoldsAConsistentPrefix) {
  TempDir t;
  auto s = testing::open_store(t / "store");
  KeyPair key = testkit::test_key(1);
  ASSERT_TRUE(s->initialise(testkit::test_federation(), key.public_key()).ok());
  auto write = [&](std::uint64_t i) {
    v1::Placement p;
    p.set_trade("welding");
    p.set_country("FI");
    p.set_city(std::string(200, 'c'));
    DeltaDraft d;
    d.ops = ops::create_placement(RecordKey{v1::PLACEMENT, {}, 0}, p);
    return s->author(key, d, 1'000'000 + i).ok();
  };
  for (std::uint64_t i = 0; i < 2000; ++i) ASSERT_TRUE(write(i));
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> written{2000};
  std::thread writer([&] {
    while (!stop && write(written)) ++written;
  });
  while (written < 2100) std::this_thread::yield();
  Status st = s->backup(t / "backup");
  const std::uint64_t during = written;
  stop = true;
  writer.join();
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_GT(written.load(), during) << "the writer stopped during the backup";

  StoreOptions o;
  o.map_size = std::uint64_t{256} << 20;
  auto b = testing::open_store(t / "backup", o);
  ASSERT_TRUE(b);
  const Seq head = b->version_vector()->at(key.public_key()).seq;
  EXPECT_GE(head.value, 2100u);
  EXPECT_LE(head.value, written.load());
  // Every delta up to its head, and the state they fold to.
  EXPECT_EQ(b->deltas_from(key.public_key(), Seq{1}, 1'000'000, std::size_t{1} << 30)->size(), head.value);
  EXPECT_EQ(b->counts()->at(v1::PLACEMENT), head.value);
  EXPECT_EQ(*b->digest(), *b->digest_recomputed());
}

}  // namespace
}  // namespace conect::storage
