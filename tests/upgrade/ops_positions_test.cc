// Schema 2 (storage/src/schema.cc: `ops` as key-only positions, the
// operations read back from the log) answers exactly
// as schema 1 did. Two stores go through the upgrade:
//   - the committed 0.2.0 store: its schema-1 `ops` entries, read raw before
//     the upgrade, come back from history() after it, operation for
//     operation (position, HLC, delta id, bytes), and it answers as 0.2.0 did;
//   - a store written by this build and turned back into schema 1 here (that
//     layout is frozen: docs/storage.md): every answer (records, histories,
//     queries, digest, heads, log, evidence) is the same after the upgrade,
//     every sub-database is byte-identical to the store as written, and the
//     upgraded store then takes the rest of the history (updates of stored
//     records, an equivocation that freezes stored operations) exactly as a
//     store that never left schema 2.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <stdexcept>

#include "../storage/history.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/ops.h"
#include "conect/storage/lmdb.h"
#include "store_steps.h"
#include "v020.h"

namespace conect::upgrade {
namespace {

namespace fs = std::filesystem;
using storage::Store;
using storage::testing::TempDir;

std::uint64_t be(std::string_view s, std::size_t at, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = v << 8 | static_cast<unsigned char>(s[at + i]);
  return v;
}
void put_be(std::string& out, std::uint64_t v, int n) {
  for (int shift = 8 * (n - 1); shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

using Entries = std::map<std::string, std::string>;
using storage::testing::dump_subdatabases;

// One schema-1 `ops` entry: record key (41) || hlc (8) || origin (32) ||
// seq (8) || index (4) -> delta id (32) || serialised Operation.
struct OpV1 {
  std::string record;  // encoded record key
  std::uint64_t hlc = 0;
  std::string origin;
  std::uint64_t seq = 0;
  std::uint32_t index = 0;
  std::string delta_id;
  std::string op;
};
std::vector<OpV1> decode_ops_v1(const Entries& ops) {
  std::vector<OpV1> out;
  for (const auto& [k, v] : ops) {
    EXPECT_EQ(k.size(), 93u);
    EXPECT_GE(v.size(), 32u);
    if (k.size() != 93 || v.size() < 32) continue;
    out.push_back({k.substr(0, 41), be(k, 41, 8), k.substr(49, 32), be(k, 81, 8),
                   static_cast<std::uint32_t>(be(k, 89, 4)), v.substr(0, 32), v.substr(32)});
  }
  return out;
}

// history() of `record` as schema-1 entries, in the order it lists them.
std::vector<OpV1> history_as_v1(const Store& store, const RecordKey& record) {
  std::vector<OpV1> out;
  auto h = store.history(record);
  EXPECT_TRUE(h.ok()) << h.error().message();
  if (!h.ok()) return out;
  for (const auto& p : h->ops)
    out.push_back({record.encode(), p.hlc.value, p.origin.raw(), p.seq.value, p.index, p.delta_id.raw(),
                   p.op.SerializeAsString()});
  return out;
}
bool operator==(const OpV1& a, const OpV1& b) {
  return std::tie(a.record, a.hlc, a.origin, a.seq, a.index, a.delta_id, a.op) ==
         std::tie(b.record, b.hlc, b.origin, b.seq, b.index, b.delta_id, b.op);
}

// Turns a closed store of this build back into schema 1: keys with whole
// ids, `ops` rewritten in the old layout from the positions (record key
// (41) || origin (32) || seq (8) || index (4), as schema 5 kept them) and
// the log, in one database, and one `records` of whole states.
void write_schema_1(const fs::path& dir) {
  auto before = dump_as_schema_5(dump_subdatabases(dir));
  auto env = open_to_rewrite(dir);
  lmdb::WriteTxn txn = env.begin_write();
  write_schema_5(txn);
  write_one_records_and_ops(txn);
  lmdb::Dbi ops = txn.open_db("ops", 0);
  lmdb::Dbi log = txn.open_db("log", 0);
  txn.clear(ops);
  for (const auto& [k, v] : entries_of(before, "ops")) {
    ASSERT_EQ(k.size(), 85u);
    ASSERT_TRUE(v.empty());
    auto bytes = txn.get(log, k.substr(41, 40));
    ASSERT_TRUE(bytes.has_value());
    v1::SignedDelta sd;
    v1::DeltaBody body;
    ASSERT_TRUE(sd.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())) && body.ParseFromString(sd.body()));
    auto index = static_cast<int>(be(k, 81, 4));
    ASSERT_LT(index, body.ops_size());
    std::string old_key = k.substr(0, 41);
    put_be(old_key, body.hlc(), 8);
    old_key += k.substr(41);
    std::string old_value = compute_delta_id(sd.body(), sd.signature()).raw();
    body.ops(index).AppendToString(&old_value);
    txn.put(ops, old_key, old_value);
  }
  write_whole_states(txn);
  mark_schema(txn, 1);
  txn.commit();
}

// What a store answers, as comparable text: digest, heads, the log, every
// record with its history, the queries, availability, evidence, counts.
std::string answers(const Store& store, const std::set<RecordKey>& records) {
  std::ostringstream out;
  out << "digest " << must(store.digest(), "digest").hex() << " recomputed "
      << must(store.digest_recomputed(), "digest_recomputed").hex() << "\n";
  auto heads = must(store.version_vector(), "version_vector");
  for (const auto& [origin, h] : heads) {
    out << "head " << origin.hex() << " " << h.seq.value << " " << h.id.hex() << " " << h.hlc.value << " "
        << h.frozen_at.value << "\n";
    auto log = must(store.deltas_from(origin, Seq{1}, 1'000'000, std::size_t{1} << 30), "deltas_from");
    for (const auto& d : log) out << "  delta " << to_hex(d) << "\n";
  }
  for (const auto& key : records) {
    auto r = must(store.record(key), "record");
    out << "record " << static_cast<int>(key.type) << ":" << key.text() << " "
        << (r ? to_hex(r->SerializeAsString()) : std::string("none")) << "\n";
    auto h = must(store.history(key), "history");
    for (const auto& p : h.ops)
      out << "  op " << p.hlc.value << " " << p.origin.hex() << " " << p.seq.value << " " << p.index << " "
          << p.delta_id.hex() << " " << to_hex(p.op.SerializeAsString()) << "\n";
    for (const auto& d : h.deltas)
      out << "  in " << d.origin.hex() << " " << d.seq.value << " " << d.id.hex() << " "
          << to_hex(d.signed_delta.SerializeAsString()) << "\n";
    if (key.type == v1::PLACEMENT && r) {
      auto windows = must(store.availability(key), "availability");
      for (const auto& w : windows)
        out << "  window " << w.window_id << " " << w.capacity << " " << w.confirmed << " " << w.pending << " "
            << w.available << "\n";
      auto reservations = must(store.reservations_of(key), "reservations_of");
      for (const auto& rv : reservations) out << "  reservation " << rv.key.text() << "\n";
    }
  }
  query_pages(out, store);  // several pages: the cursors must carry over too
  auto counts = must(store.counts(), "counts");
  for (const auto& [type, n] : counts) out << "count " << static_cast<int>(type) << " " << n << "\n";
  auto evidence = must(store.evidence(), "evidence");
  for (const auto& e : evidence) out << "evidence " << to_hex(e.SerializeAsString()) << "\n";
  out << "unknown " << must(store.unknown_operations(), "unknown_operations") << "\n";
  return std::move(out).str();
}

TEST(OpsPositions, TheZeroTwoZeroStoreKeepsEveryOperation) {
  TempDir t;
  auto dir = copy_store(t.path());
  std::vector<OpV1> before = decode_ops_v1(dump_subdatabases(dir)["ops"]);
  ASSERT_GT(before.size(), 20u);
  std::map<std::string, std::vector<OpV1>> by_record;
  for (const auto& op : before) by_record[op.record].push_back(op);
  {
    auto s = Store::open(dir, upgrade_options());
    ASSERT_TRUE(s.ok()) << s.error().message();
    ASSERT_TRUE((*s)->upgraded().has_value());
    EXPECT_EQ((*s)->upgraded()->steps.front(), "ops as key-only positions (the operations stay in the log)");
    for (const auto& [rk, ops] : by_record) {
      auto key = RecordKey::decode(rk);
      ASSERT_TRUE(key.has_value());
      std::vector<OpV1> now = history_as_v1(**s, *key);
      ASSERT_EQ(now.size(), ops.size()) << key->text();
      for (std::size_t i = 0; i < ops.size(); ++i) EXPECT_TRUE(now[i] == ops[i]) << key->text() << " op " << i;
    }
    expect_answers_of_020(**s);
    EXPECT_TRUE(*(*s)->compaction_due()) << "the upgrade freed the old ops pages: the compactor must give them back";
  }
  // The positions as schema 5 kept them (the step from 5 writes the ids in
  // them as node codes: node_codes_test).
  auto after = dump_as_schema_5(dump_subdatabases(dir));
  const auto ops_after = entries_of(after, "ops");
  EXPECT_EQ(ops_after.size(), before.size());
  for (const auto& [k, v] : ops_after) {
    EXPECT_EQ(k.size(), 85u);
    EXPECT_TRUE(v.empty());
  }
}

TEST(OpsPositions, AStoreOfThisBuildAnswersTheSameThroughTheUpgrade) {
  TempDir t;
  auto h = storage::testing::random_history({.authors = 5, .deltas = 300, .seed = 17});
  // A chain whose placement is rewritten, and a fork that freezes it from
  // seq 2 once the store is upgraded: the refold then reads the stored
  // operations through the migrated positions.
  testkit::Author freezer(4243);
  RecordKey placement = freezer.next_key(v1::PLACEMENT);
  std::vector<VerifiedDelta> chain;
  {
    v1::Placement p;
    p.set_trade("welding");
    p.set_status(v1::PLACEMENT_OPEN);
    chain.push_back(freezer.emit(ops::create_placement(placement, p)));
  }
  auto rewrite = [&](const char* city) {
    v1::Placement q;
    q.set_city(city);
    return std::vector<v1::Operation>{ops::write_placement(placement, q, {v1::Placement::kCityFieldNumber})};
  };
  VerifiedDelta fork = freezer.emit_fork(rewrite("Kiruna"));
  chain.push_back(freezer.emit(rewrite("Alta")));
  chain.push_back(freezer.emit(rewrite("Tornio")));

  const std::size_t half = h.deltas.size() / 2;
  std::vector<VerifiedDelta> first(h.deltas.begin(), h.deltas.begin() + static_cast<std::ptrdiff_t>(half));
  first.insert(first.end(), chain.begin(), chain.end());
  std::vector<VerifiedDelta> rest(h.deltas.begin() + static_cast<std::ptrdiff_t>(half), h.deltas.end());
  rest.push_back(fork);
  std::set<RecordKey> records = records_named(h.deltas);
  records.insert(placement);

  std::string answered;
  {
    auto s = storage::testing::open_store(t / "kept", step_test_options());
    ASSERT_EQ(apply_in_batches(*s, first), 0u);
    answered = answers(*s, records);
  }
  copy_closed_store(t / "kept", t / "upgraded");
  write_schema_1(t / "upgraded");
  auto kept_dump = dump_subdatabases(t / "kept");
  ASSERT_EQ(decode_ops_v1(dump_subdatabases(t / "upgraded")["ops"]).size(), entries_of(kept_dump, "ops").size());

  auto kept = storage::testing::open_store(t / "kept", step_test_options());
  auto upgraded = storage::testing::open_store(t / "upgraded", step_test_options());
  ASSERT_TRUE(upgraded->upgraded().has_value());
  EXPECT_EQ(upgraded->upgraded()->from, 1u);
  EXPECT_EQ(answers(*upgraded, records), answered) << "the upgrade changed an answer";
  expect_compacted_after_upgrade(*upgraded);
  EXPECT_EQ(answers(*upgraded, records), answered) << "the compaction changed an answer";
  upgraded.reset();
  EXPECT_TRUE(dump_subdatabases(t / "upgraded") == kept_dump)
      << "the upgraded store differs from the one written at schema 2";

  upgraded = storage::testing::open_store(t / "upgraded", step_test_options());
  EXPECT_FALSE(upgraded->upgraded().has_value());
  for (Store* s : {kept.get(), upgraded.get()}) {
    auto out = s->apply(rest);
    ASSERT_TRUE(out.ok()) << out.error().message();
    EXPECT_EQ(out->equivocations.size(), 1u);
  }
  auto p = upgraded->record(placement);
  ASSERT_TRUE(p.ok() && *p);
  EXPECT_EQ((*p)->placement().city(), "") << "the freeze must refold the placement from seq 1 alone";
  EXPECT_EQ(answers(*upgraded, records), answers(*kept, records))
      << "the upgraded store took the rest of the history differently";
}

}  // namespace
}  // namespace conect::upgrade
