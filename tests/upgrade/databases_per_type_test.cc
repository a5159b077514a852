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

// Rewrites a closed store of this build in schema 4's layout (keys with
// whole ids, one `records`, one `ops`).
void write_schema_4(const fs::path& dir) {
  auto env = open_to_rewrite(dir);
  lmdb::WriteTxn txn = env.begin_write();
  write_schema_5(txn);
  ASSERT_GT(write_one_records_and_ops(txn), 20u);
  mark_schema(txn, 4);
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
  query_pages(out, store);
  for (const auto& [type, n] : must(store.counts(), "counts"))
    out << "count " << static_cast<int>(type) << " " << n << "\n";
  return std::move(out).str();
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
  const auto [first, rest] = halves(h.deltas);
  const std::set<RecordKey> records = records_named(h.deltas);
  auto answers = [&records](const Store& s) { return per_type_answers(s, records); };

  std::string answered;
  {
    auto s = storage::testing::open_store(t / "kept", step_test_options());
    apply_in_batches(*s, first);
    answered = answers(*s);
  }
  expect_databases_per_type(t / "kept");
  copy_closed_store(t / "kept", t / "upgraded");
  write_schema_4(t / "upgraded");
  auto kept_dump = dump_subdatabases(t / "kept");
  auto old_dump = dump_subdatabases(t / "upgraded");
  const auto kept_as_5 = dump_as_schema_5(kept_dump);
  EXPECT_TRUE(old_dump["records"] == entries_of(kept_as_5, "records"));
  EXPECT_TRUE(old_dump["ops"] == entries_of(kept_as_5, "ops"));

  {
    auto upgraded = storage::testing::open_store(t / "upgraded", step_test_options());
    ASSERT_TRUE(upgraded->upgraded().has_value());
    EXPECT_EQ(upgraded->upgraded()->from, 4u);
    EXPECT_EQ(upgraded->upgraded()->steps,
              (std::vector<std::string>{kPerTypeStep,
                                        "node ids in keys and states as 6-byte codes, log entries without what their key says"}));
    EXPECT_EQ(answers(*upgraded), answered) << "the upgrade changed an answer";
    expect_compacted_after_upgrade(*upgraded);
  }
  EXPECT_TRUE(dump_subdatabases(t / "upgraded") == kept_dump)
      << "the upgraded store differs from the one written by this build";

  expect_rest_taken_alike(t / "kept", t / "upgraded", rest, answers, [&h](const Store& s) {
    storage::testing::expect_same_state(s, storage::testing::replica_of(h));
  });
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
    EXPECT_EQ((*s)->upgraded()->steps.at(3), kPerTypeStep);
    expect_answers_of_020(**s);
  }
  auto after = dump_as_schema_5(dump_subdatabases(dir));  // the step from 5 writes node codes in the keys
  std::set<std::string> keys_before, keys_after;
  for (const auto& [k, v] : before["records"]) keys_before.insert(k);
  for (const auto& [k, v] : entries_of(after, "records")) keys_after.insert(k);
  EXPECT_EQ(keys_after, keys_before);
  EXPECT_EQ(entries_of(after, "ops").size(), before["ops"].size());
  expect_databases_per_type(dir);
}

}  // namespace
}  // namespace conect::upgrade
