// Schema 4 (storage/src/schema.cc and stored_state.h: `records` keeps each
// state without the type and id fields its key says) answers exactly as
// schema 3 did, and its digest is the same sum of the same record hashes. A
// store written by this build is turned back into schema 3 here (that
// layout is frozen: every value the whole serialize_state(); docs/storage.md),
// then upgraded:
//   - every record, query and digest answers the same, and every state is
//     the replica's, byte for byte;
//   - every sub-database is byte-identical to the store as written, the
//     store is marked for compaction, and the upgraded store then takes the
//     rest of the history (refolds of stored states, whose old hash the
//     digest subtracts) exactly as one that never left schema 4.
// The committed 0.2.0 store goes through every step and keeps every state.
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

constexpr const char* kStatesStep = "record states without the type and id their key says";

// Rewrites a closed store of this build in schema 3's layout (keys with
// whole ids, one `records` of whole states, one `ops`).
void write_schema_3(const fs::path& dir) {
  auto env = open_to_rewrite(dir);
  lmdb::WriteTxn txn = env.begin_write();
  write_schema_5(txn);
  write_one_records_and_ops(txn);
  ASSERT_GT(write_whole_states(txn), 20u);
  mark_schema(txn, 3);
  txn.commit();
}

// Every record's state as its bytes, the digests, and every page of the
// record lists and the unfiltered queries.
std::string states_answered(const Store& store, const std::set<RecordKey>& records) {
  std::ostringstream out;
  out << "digest " << must(store.digest(), "digest").hex() << " recomputed "
      << must(store.digest_recomputed(), "digest_recomputed").hex() << "\n";
  for (const auto& key : records) {
    auto r = must(store.record(key), "record");
    out << "record " << key.text() << " " << (r ? to_hex(serialize_state(*r)) : std::string("none")) << "\n";
  }
  for (auto type : {v1::ORGANISATION, v1::PLACEMENT, v1::RESERVATION, v1::MOBILITY, v1::CONTACT}) {
    std::string cursor;
    do {
      auto page = must(store.list(type, cursor, 7), "list");
      for (const auto& v : page.items)
        out << "list " << v.key.text() << " " << to_hex(serialize_state(v.state)) << "\n";
      cursor = page.next_cursor;
    } while (!cursor.empty());
  }
  query_pages(out, store);
  return std::move(out).str();
}

// No value of `records` holds the type or the id.
void expect_states_without_key_fields(const fs::path& dir) {
  auto records = entries_of(dump_subdatabases(dir), "records");
  ASSERT_FALSE(records.empty());
  for (const auto& [k, v] : records) {
    v1::RecordState s;
    ASSERT_TRUE(s.ParseFromString(v)) << to_hex(k);
    EXPECT_EQ(s.type(), v1::RECORD_TYPE_UNSPECIFIED) << to_hex(k);
    EXPECT_FALSE(s.has_id()) << to_hex(k);
  }
}

TEST(RecordStates, AStoreOfSchemaThreeAnswersTheSameThroughTheUpgrade) {
  TempDir t;
  auto h = storage::testing::random_history({.authors = 5, .deltas = 400, .seed = 29});
  const auto [first, rest] = halves(h.deltas);
  storage::testing::History first_half;
  first_half.deltas = first;
  const std::set<RecordKey> records = records_named(h.deltas);
  auto answers = [&records](const Store& s) { return states_answered(s, records); };

  std::string answered;
  {
    auto s = storage::testing::open_store(t / "kept", step_test_options());
    apply_in_batches(*s, first);
    storage::testing::expect_same_state(*s, storage::testing::replica_of(first_half));
    answered = answers(*s);
  }
  expect_states_without_key_fields(t / "kept");
  copy_closed_store(t / "kept", t / "upgraded");
  write_schema_3(t / "upgraded");
  auto kept_dump = dump_subdatabases(t / "kept");

  {
    auto upgraded = storage::testing::open_store(t / "upgraded", step_test_options());
    ASSERT_TRUE(upgraded->upgraded().has_value());
    EXPECT_EQ(upgraded->upgraded()->from, 3u);
    EXPECT_EQ(upgraded->upgraded()->steps.front(), kStatesStep);
    EXPECT_EQ(answers(*upgraded), answered) << "the upgrade changed an answer";
    storage::testing::expect_same_state(*upgraded, storage::testing::replica_of(first_half));
    expect_compacted_after_upgrade(*upgraded);
  }
  EXPECT_TRUE(dump_subdatabases(t / "upgraded") == kept_dump)
      << "the upgraded store differs from the one written at schema 4";

  expect_rest_taken_alike(t / "kept", t / "upgraded", rest, answers, [&h](const Store& s) {
    storage::testing::expect_same_state(s, storage::testing::replica_of(h));
  });
}

// The committed 0.2.0 store (schema 1) through every step: each state keeps
// its bytes but for the type and id in front, and the store answers as
// 0.2.0 did (its digest included).
TEST(RecordStates, TheZeroTwoZeroStoreKeepsEveryState) {
  TempDir t;
  auto dir = copy_store(t.path());
  auto before = entries_of(dump_subdatabases(dir), "records");
  ASSERT_GT(before.size(), 10u);
  {
    auto s = Store::open(dir, upgrade_options());
    ASSERT_TRUE(s.ok()) << s.error().message();
    ASSERT_TRUE((*s)->upgraded().has_value());
    EXPECT_EQ((*s)->upgraded()->steps.at(2), kStatesStep);
    expect_answers_of_020(**s);
    for (const auto& [k, v] : before) {
      auto key = RecordKey::decode(k);
      ASSERT_TRUE(key.has_value());
      auto state = (*s)->record(*key);
      ASSERT_TRUE(state.ok() && *state) << key->text();
      EXPECT_EQ(serialize_state(**state), v) << key->text();
    }
  }
  // The keys as schema 5 wrote them (the step from 5 writes node codes in them).
  auto after = entries_of(dump_as_schema_5(dump_subdatabases(dir)), "records");
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [k, v] : after) {
    ASSERT_TRUE(before.count(k));
    EXPECT_TRUE(before[k].ends_with(v)) << to_hex(k);
    EXPECT_GE(before[k].size(), v.size() + 40) << to_hex(k) << ": the type and id are 40 bytes or more";
  }
  expect_states_without_key_fields(dir);
}

}  // namespace
}  // namespace conect::upgrade
