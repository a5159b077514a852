// Schema 5 (storage/src/schema.cc: a `records` and an `ops` database per
// record type) answers exactly as schema 4 did. A store written by this
// build is turned back into schema 4 here (that layout is frozen: one
// `records`, one `ops`, keys starting with the type; docs/storage.md), then
// upgraded:
//   - every record, history, list page (with its cursor), query and digest
//     answers the same;
//   - every sub-database is byte-identical to the store as written (each
//     entry moved unchanged to its type's database), the old databases are
//     gone, the store is marked for compaction, and the upgraded store then
//     takes the rest of the history exactly as one that never left schema 5.
// The committed 0.2.0 store goes through every step and keeps every entry.
#include <gtest/gtest.h>

#include <set>
#include <sstream>

#include "../storage/history.h"
#include "conect/storage/lmdb.h"
#include "store_steps.h"
#include "v020.h"

namespace conect::upgrade {
namespace {

namespace fs = std::filesystem;
using storage::Store;
using storage::testing::dump_subdatabases;
using storage::testing::TempDir;

constexpr const char* kPerTypeStep = "a records and an ops database per record type";

// Rewrites a closed store of this build in schema 4's layout.
void write_schema_4(const fs::path& dir) {
  lmdb::EnvOptions eo;
  eo.map_size = std::uint64_t{256} << 20;
  eo.flags = MDB_NOTLS;
  auto env = lmdb::Env::open(dir, eo);
  ASSERT_TRUE(env.ok());
  lmdb::WriteTxn txn = env->begin_write();
  ASSERT_GT(write_one_records_and_ops(txn), 20u);
  std::string schema{0, 0, 0, 4};
  txn.put(txn.open_db("meta", 0), "schema", schema);
  txn.commit();
}

// Every record with its history, every list page with its cursor, the
// unfiltered queries' pages, and the digests.
std::string per_type_answers(const Store& store, const std::set<RecordKey>& records) {
  std::ostringstream out;
  out << "digest " << must(store.digest(), "digest").hex() << " recomputed "
      << must(store.digest_recomputed(), "digest_recomputed").hex() << "\n";
  for (const auto& key : records) {
    auto r = must(store.record(key), "record");
    out << "record " << key.text() << " " << (r ? to_hex(serialize_state(*r)) : std::string("none")) << "\n";
    for (const auto& p : must(store.history(key), "history").ops)
      out << "  op " << p.origin.hex() << " " << p.seq.value << " " << p.index << " " << p.delta_id.hex() << "\n";
  }
  for (const auto& [type, suffix] : kTypeDbs) {
    std::string cursor;
    do {
      auto page = must(store.list(type, cursor, 7), "list");
      for (const auto& v : page.items) out << "list " << suffix << " " << v.key.text() << "\n";
      out << "cursor " << page.next_cursor << "\n";
      cursor = page.next_cursor;
    } while (!cursor.empty());
  }
  storage::PlacementFilter pf;
  pf.limit = 7;
  do {
    auto page = must(store.placements(pf), "placements");
    for (const auto& p : page.items) out << "placement " << p.key.text() << "\n";
    out << "cursor " << page.next_cursor << "\n";
    pf.cursor = page.next_cursor;
  } while (!pf.cursor.empty());
  storage::MobilityFilter mf;
  mf.limit = 7;
  do {
    auto page = must(store.mobilities(mf), "mobilities");
    for (const auto& m : page.items) out << "mobility " << m.key.text() << "\n";
    out << "cursor " << page.next_cursor << "\n";
    mf.cursor = page.next_cursor;
  } while (!mf.cursor.empty());
  for (const auto& [type, n] : must(store.counts(), "counts"))
    out << "count " << static_cast<int>(type) << " " << n << "\n";
  return std::move(out).str();
}

std::set<RecordKey> records_touched(const std::vector<VerifiedDelta>& deltas) {
  std::set<RecordKey> out;
  for (const auto& d : deltas)
    for (const auto& op : d.body.ops())
      if (auto t = op_target(op); t.ok()) out.insert(*t);
  return out;
}

// One `records_*` and one `ops_*` per type, each holding only keys of its
// type; no `records` or `ops` left.
void expect_databases_per_type(const fs::path& dir) {
  auto dump = dump_subdatabases(dir);
  EXPECT_EQ(dump.count("records"), 0u);
  EXPECT_EQ(dump.count("ops"), 0u);
  for (const auto& [type, suffix] : kTypeDbs)
    for (const char* name : {"records_", "ops_"}) {
      auto it = dump.find(name + std::string(suffix));
      ASSERT_NE(it, dump.end()) << name << suffix;
      for (const auto& [k, v] : it->second)
        EXPECT_EQ(static_cast<unsigned char>(k.at(0)), static_cast<unsigned>(type)) << name << suffix;
    }
}

TEST(DatabasesPerType, AStoreOfSchemaFourAnswersTheSameThroughTheUpgrade) {
  TempDir t;
  auto h = storage::testing::random_history({.authors = 5, .deltas = 400, .seed = 31});
  const std::size_t half = h.deltas.size() / 2;
  std::vector<VerifiedDelta> first(h.deltas.begin(), h.deltas.begin() + static_cast<std::ptrdiff_t>(half));
  std::vector<VerifiedDelta> rest(h.deltas.begin() + static_cast<std::ptrdiff_t>(half), h.deltas.end());
  const std::set<RecordKey> records = records_touched(h.deltas);

  std::string answered;
  {
    auto s = storage::testing::open_store(t / "kept", step_test_options());
    for (std::size_t i = 0; i < first.size(); i += 25) {
      std::vector<VerifiedDelta> batch(first.begin() + static_cast<std::ptrdiff_t>(i),
                                       first.begin() + static_cast<std::ptrdiff_t>(std::min(i + 25, first.size())));
      auto out = s->apply(std::move(batch));
      ASSERT_TRUE(out.ok()) << out.error().message();
    }
    answered = per_type_answers(*s, records);
  }
  expect_databases_per_type(t / "kept");
  fs::create_directories(t / "upgraded");
  fs::copy_file(t / "kept" / "data.mdb", t / "upgraded" / "data.mdb");
  write_schema_4(t / "upgraded");
  auto kept_dump = dump_subdatabases(t / "kept");
  auto old_dump = dump_subdatabases(t / "upgraded");
  EXPECT_TRUE(old_dump["records"] == entries_of(kept_dump, "records"));
  EXPECT_TRUE(old_dump["ops"] == entries_of(kept_dump, "ops"));

  auto kept = storage::testing::open_store(t / "kept", step_test_options());
  auto upgraded = storage::testing::open_store(t / "upgraded", step_test_options());
  ASSERT_TRUE(upgraded->upgraded().has_value());
  EXPECT_EQ(upgraded->upgraded()->from, 4u);
  EXPECT_EQ(upgraded->upgraded()->steps, std::vector<std::string>{kPerTypeStep});
  EXPECT_EQ(per_type_answers(*upgraded, records), answered) << "the upgrade changed an answer";
  expect_compacted_after_upgrade(*upgraded);
  upgraded.reset();
  EXPECT_TRUE(dump_subdatabases(t / "upgraded") == kept_dump)
      << "the upgraded store differs from the one written by this build";

  upgraded = storage::testing::open_store(t / "upgraded", step_test_options());
  EXPECT_FALSE(upgraded->upgraded().has_value());
  for (Store* s : {kept.get(), upgraded.get()}) {
    auto out = s->apply(rest);
    ASSERT_TRUE(out.ok()) << out.error().message();
  }
  storage::testing::expect_same_state(*upgraded, storage::testing::replica_of(h));
  EXPECT_EQ(per_type_answers(*upgraded, records), per_type_answers(*kept, records))
      << "the upgraded store took the rest of the history differently";
  kept.reset();
  upgraded.reset();
  EXPECT_TRUE(dump_subdatabases(t / "upgraded") == dump_subdatabases(t / "kept"));
  expect_databases_per_type(t / "upgraded");
}

// The committed 0.2.0 store (schema 1) through every step: every record and
// every operation position is in its type's database, and the store
// answers as 0.2.0 did.
TEST(DatabasesPerType, TheZeroTwoZeroStoreKeepsEveryEntry) {
  TempDir t;
  auto dir = copy_store(t.path());
  auto before = dump_subdatabases(dir);
  ASSERT_GT(before["records"].size(), 10u);
  {
    auto s = Store::open(dir, upgrade_options());
    ASSERT_TRUE(s.ok()) << s.error().message();
    ASSERT_TRUE((*s)->upgraded().has_value());
    EXPECT_EQ((*s)->upgraded()->steps.back(), kPerTypeStep);
    expect_answers_of_020(**s);
  }
  auto after = dump_subdatabases(dir);
  std::set<std::string> keys_before, keys_after;
  for (const auto& [k, v] : before["records"]) keys_before.insert(k);
  for (const auto& [k, v] : entries_of(after, "records")) keys_after.insert(k);
  EXPECT_EQ(keys_after, keys_before);
  EXPECT_EQ(entries_of(after, "ops").size(), before["ops"].size());
  expect_databases_per_type(dir);
}

}  // namespace
}  // namespace conect::upgrade
