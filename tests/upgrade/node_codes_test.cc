// Schema 6 (storage/src/schema.cc and node_codes.h: every node id in a key
// written as its 6-byte node code, which `node_codes` maps both ways)
// answers exactly as schema 5 did. A store written by this build is turned
// back into schema 5 here (that layout is frozen: whole ids in the keys of
// `log`, `records_*`, `ops_*`, `availability` and the indexes;
// docs/storage.md, store_steps.h), then upgraded:
//   - every record, history, log, list page (with its cursor), query,
//     digest and count answers the same;
//   - every sub-database is byte-identical to the store as written (the
//     same codes, escaped ones included: an id that starts with 0xff, and
//     one that shares its first 6 bytes with an id met before it), the
//     store is marked for compaction, and the upgraded store then takes the
//     rest of the history exactly as one that never left schema 6.
// The committed 0.2.0 store goes through every step and ends with a code
// for every node id its keys held, and keys of the new sizes.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../storage/history.h"
#include "conect/crdt/ops.h"
#include "conect/storage/lmdb.h"
#include "store_steps.h"
#include "v020.h"

namespace conect::upgrade {
namespace {

namespace fs = std::filesystem;
using storage::Store;
using storage::testing::dump_subdatabases;
using storage::testing::SubDatabases;
using storage::testing::TempDir;

constexpr const char* kCodesStep = "node ids in keys and states as 6-byte codes, log entries without what their key says";

// An escaped node code: 0xff || counter (5 bytes).
std::string escaped(std::uint64_t counter) {
  std::string code(1, '\xff');
  for (int shift = 32; shift >= 0; shift -= 8) code.push_back(static_cast<char>((counter >> shift) & 0xff));
  return code;
}

// Rewrites a closed store of this build in schema 5's layout.
void write_schema_5_at(const fs::path& dir) {
  auto env = open_to_rewrite(dir);
  lmdb::WriteTxn txn = env.begin_write();
  ASSERT_GT(write_schema_5(txn), 100u);
  mark_schema(txn, 5);
  txn.commit();
}

// The codes of a dump's `node_codes` (id -> code), after checking that it
// maps both ways, that each id has its own first 6 bytes unless they start
// with 0xff or another id has them, and that the escaped codes count from 1.
std::map<std::string, std::string> expect_node_codes(const SubDatabases& dump) {
  std::map<std::string, std::string> code_of, id_of;
  auto it = dump.find("node_codes");
  if (it == dump.end()) {
    ADD_FAILURE() << "no node_codes";
    return code_of;
  }
  for (const auto& [k, v] : it->second) {
    if (k.size() == 7 && k[0] == 'c' && v.size() == 32)
      id_of.emplace(k.substr(1), v);
    else if (k.size() == 33 && k[0] == 'i' && v.size() == 6)
      code_of.emplace(k.substr(1), v);
    else
      ADD_FAILURE() << "node_codes holds " << to_hex(k) << " -> " << to_hex(v);
  }
  EXPECT_EQ(code_of.size(), id_of.size());
  std::set<std::string> escaped_codes;
  for (const auto& [id, code] : code_of) {
    auto back = id_of.find(code);
    EXPECT_TRUE(back != id_of.end() && back->second == id) << to_hex(id) << " -> " << to_hex(code);
    if (static_cast<unsigned char>(code[0]) != 0xff) {
      EXPECT_EQ(code, id.substr(0, 6)) << to_hex(id);
    } else {
      escaped_codes.insert(code);
      if (static_cast<unsigned char>(id[0]) != 0xff) {
        EXPECT_EQ(id_of.count(id.substr(0, 6)), 1u) << to_hex(id) << " was escaped, its own code free";
      }
    }
  }
  std::set<std::string> counted;
  for (std::uint64_t n = 1; n <= escaped_codes.size(); ++n) counted.insert(escaped(n));
  EXPECT_EQ(escaped_codes, counted) << "the escaped codes do not count from 1";
  return code_of;
}

// How the keys of kDbsWithIds write a node id.
enum class Ids { whole, coded };

// Every entry of every database of kDbsWithIds has the size of its layout
// with ids written `as` (32 or 6 bytes: log 40 or 14, record keys 41 or 15,
// ops 85 or 33, record-keyed index entries 82 or 30), and each id (or code)
// in it is one of `known`.
void expect_key_forms(const SubDatabases& dump, Ids as, const std::set<std::string>& known) {
  const std::size_t n = as == Ids::whole ? 32 : 6;
  const std::size_t rk = 1 + n + 8;
  for (const auto& [name, where] : kDbsWithIds) {
    auto it = dump.find(name);
    ASSERT_NE(it, dump.end()) << name;
    for (const auto& [entry, value] : it->second) {
      if (entry.empty()) continue;  // the flags of an index by term
      const std::string_view k(entry);
      std::size_t size = 0;  // 0: a term, then a record key
      std::vector<std::size_t> at;
      switch (where) {
        case IdsIn::log:
          size = n + 8;
          at = {0};
          break;
        case IdsIn::record:
          size = rk;
          at = {1};
          break;
        case IdsIn::op:
          size = rk + n + 12;
          at = {1, rk};
          break;
        case IdsIn::term_record:
          at = {k.size() - rk + 1};
          break;
        case IdsIn::record_term:
          size = 2 * rk;
          at = {1, rk + 1};
          break;
      }
      if (size != 0 ? k.size() != size : k.size() <= rk) {
        ADD_FAILURE() << name << " holds a key of " << k.size() << " bytes: " << to_hex(k);
        continue;
      }
      for (std::size_t i : at)
        EXPECT_EQ(known.count(std::string(k.substr(i, n))), 1u)
            << name << " key " << to_hex(k) << " names " << to_hex(k.substr(i, n));
    }
  }
}

// Every page of `f`, 3 at a time: each record with its state, then the cursor.
template <class Filter, class Query>
void pages_of(std::ostream& out, const std::string& name, Filter f, Query query) {
  f.limit = 3;
  do {
    auto page = must(query(f), name.c_str());
    out << name << "\n";
    for (const auto& v : page.items) out << "  " << v.key.text() << " " << to_hex(serialize_state(v.state)) << "\n";
    out << "  cursor " << page.next_cursor << "\n";
    f.cursor = page.next_cursor;
  } while (!f.cursor.empty());
}

// What a store answers from keys that hold node ids: digests, heads and the
// log, membership deps, every record with its history (operations and
// deltas), availability and reservations, the lists (by owner too), every
// query by a term of each index (by host and organisation: terms that are
// record keys; a host and an owner the store never met), counts, evidence.
std::string coded_answers(const Store& store, const std::set<RecordKey>& records) {
  std::ostringstream out;
  out << "digest " << must(store.digest(), "digest").hex() << " recomputed "
      << must(store.digest_recomputed(), "digest_recomputed").hex() << "\n";
  for (const auto& [origin, head] : must(store.version_vector(), "version_vector")) {
    out << "head " << origin.hex() << " " << head.seq.value << " " << head.id.hex() << " " << head.hlc.value << " "
        << head.frozen_at.value << "\n";
    for (const auto& d : must(store.deltas_from(origin, Seq{1}, 1'000'000, std::size_t{1} << 30), "deltas_from"))
      out << "  delta " << to_hex(d) << "\n";
  }
  for (const auto& ref : must(store.membership_deps(), "membership_deps"))
    out << "membership dep " << to_hex(ref.SerializeAsString()) << "\n";

  const RecordKey stranger{v1::ORGANISATION, testkit::Author(9999).id(), 1u << 16};
  std::set<NodeId> owners{stranger.owner};
  std::set<RecordKey> organisations{stranger};
  for (const auto& key : records) {
    owners.insert(key.owner);
    if (key.type == v1::ORGANISATION) organisations.insert(key);
    auto r = must(store.record(key), "record");
    out << "record " << static_cast<int>(key.type) << ":" << key.text() << " "
        << (r ? to_hex(serialize_state(*r)) : std::string("none")) << "\n";
    auto h = must(store.history(key), "history");
    for (const auto& p : h.ops)
      out << "  op " << p.hlc.value << " " << p.origin.hex() << " " << p.seq.value << " " << p.index << " "
          << p.delta_id.hex() << " " << to_hex(p.op.SerializeAsString()) << "\n";
    for (const auto& d : h.deltas) out << "  in " << d.origin.hex() << " " << d.seq.value << " " << d.id.hex() << "\n";
    if (key.type == v1::PLACEMENT) {
      if (auto windows = store.availability(key); windows.ok())
        for (const auto& w : *windows)
          out << "  window " << w.window_id << " " << w.capacity << " " << w.confirmed << " " << w.pending << " "
              << w.available << "\n";
      else
        out << "  no availability: " << windows.error().message() << "\n";
      for (const auto& rv : must(store.reservations_of(key), "reservations_of"))
        out << "  reservation " << rv.key.text() << "\n";
    }
  }

  std::set<std::string> trades, countries;
  for (const auto& [type, suffix] : kTypeDbs) {
    std::string cursor;
    do {
      auto page = must(store.list(type, cursor, 7), "list");
      for (const auto& v : page.items) {
        out << "list " << suffix << " " << v.key.text() << "\n";
        if (type == v1::PLACEMENT) {
          trades.insert(v.state.placement().trade());
          countries.insert(v.state.placement().country());
        }
      }
      out << "  cursor " << page.next_cursor << "\n";
      cursor = page.next_cursor;
    } while (!cursor.empty());
    for (const auto& owner : owners) {
      do {
        auto page = must(store.list_owned(type, owner, cursor, 3), "list_owned");
        out << "owned " << suffix << " by " << owner.hex();
        for (const auto& v : page.items) out << " " << v.key.text();
        out << "\n  cursor " << page.next_cursor << "\n";
        cursor = page.next_cursor;
      } while (!cursor.empty());
    }
  }

  query_pages(out, store);
  auto placements = [&](const storage::PlacementFilter& f) { return store.placements(f); };
  auto mobilities = [&](const storage::MobilityFilter& f) { return store.mobilities(f); };
  for (const auto& trade : trades) {
    storage::PlacementFilter f;
    f.trade = trade;
    if (!trade.empty()) pages_of(out, "trade " + trade, f, placements);
  }
  for (const auto& country : countries) {
    storage::PlacementFilter f;
    f.country = country;
    if (!country.empty()) pages_of(out, "country " + country, f, placements);
  }
  storage::PlacementFilter from;
  from.from = 19000;
  pages_of(out, "placement period", from, placements);
  storage::PlacementFilter available;
  available.available = true;
  pages_of(out, "available", available, placements);
  for (const auto& org : organisations) {
    storage::PlacementFilter by_host;
    by_host.host = org;
    pages_of(out, "host " + org.text(), by_host, placements);
    storage::MobilityFilter by_org;
    by_org.organisation = org;
    pages_of(out, "organisation " + org.text(), by_org, mobilities);
  }
  for (int status = 1; status <= 6; ++status) {
    storage::MobilityFilter f;
    f.status = static_cast<v1::MobilityStatus>(status);
    pages_of(out, "status " + std::to_string(status), f, mobilities);
  }
  storage::MobilityFilter mfrom;
  mfrom.from = 19000;
  pages_of(out, "mobility period", mfrom, mobilities);

  for (const auto& [type, count] : must(store.counts(), "counts"))
    out << "count " << static_cast<int>(type) << " " << count << "\n";
  for (const auto& e : must(store.evidence(), "evidence")) out << "evidence " << to_hex(e.SerializeAsString()) << "\n";
  out << "unknown " << must(store.unknown_operations(), "unknown_operations") << "\n";
  return std::move(out).str();
}

// The first author whose id starts with 0xff: its code is escaped.
testkit::Author escaped_author() {
  for (std::uint32_t n = 7000;; ++n) {
    testkit::Author a(n);
    if (static_cast<unsigned char>(a.id().raw()[0]) == 0xff) return a;
  }
}

// Deltas that need escaped codes, beside a random history whose first
// author is `met`: a stranger writes to a placement of `collider` (an id
// sharing met's first 6 bytes: a record id's owner is any bytes a member
// wrote, and its operations are kept, refused), and an author whose id
// starts with 0xff creates an organisation and a placement it hosts (an
// index term with an escaped code). The first deltas of each, then the
// rest.
struct Escapes {
  NodeId collider;
  NodeId escaped_id;
  std::vector<VerifiedDelta> stranger_first, escaped_first, rest;
  std::set<RecordKey> records;
};
Escapes escapes(const NodeId& met) {
  Escapes x;
  std::string raw = met.raw().substr(0, 6) + std::string(26, '\xff');  // sorts after met
  x.collider = *NodeId::from_raw(raw);
  testkit::Author stranger(4300);
  testkit::Author ff = escaped_author();
  x.escaped_id = ff.id();

  const RecordKey foreign{v1::PLACEMENT, x.collider, 1u << 16};
  auto write_city = [](const RecordKey& key, const char* city) {
    v1::Placement p;
    p.set_city(city);
    return std::vector<v1::Operation>{ops::write_placement(key, p, {v1::Placement::kCityFieldNumber})};
  };
  x.stranger_first.push_back(stranger.emit(write_city(foreign, "Nowhere")));

  const RecordKey org = ff.next_key(v1::ORGANISATION, 0);
  v1::Organisation o;
  o.add_names()->set_text("Escaped school");
  o.set_country("EE");
  x.escaped_first.push_back(ff.emit(ops::create_organisation(org, o)));
  const RecordKey placement = ff.next_key(v1::PLACEMENT, 0);
  v1::Placement p;
  *p.mutable_host_organisation() = org.to_proto();
  p.set_trade("Welding");
  p.set_country("EE");
  p.set_status(v1::PLACEMENT_OPEN);
  auto* w = p.add_windows();
  w->set_window_id(1);
  w->mutable_start()->set_days(19100);
  w->mutable_end()->set_days(19130);
  w->set_capacity(2);
  x.escaped_first.push_back(ff.emit(ops::create_placement(placement, p)));

  x.rest.push_back(stranger.emit(write_city(foreign, "Elsewhere")));
  x.rest.push_back(ff.emit(write_city(placement, "Tartu")));
  x.records = {foreign, org, placement};
  return x;
}

TEST(NodeCodes, AStoreOfSchemaFiveAnswersTheSameThroughTheUpgrade) {
  TempDir t;
  auto h = storage::testing::random_history({.authors = 5, .deltas = 400, .seed = 37});
  const NodeId met = h.authors.at(0).id();
  ASSERT_NE(static_cast<unsigned char>(met.raw()[0]), 0xff);
  const Escapes x = escapes(met);
  auto [first, rest] = halves(h.deltas);
  rest.insert(rest.end(), x.rest.begin(), x.rest.end());
  storage::testing::History all = h;
  for (const auto* part : {&x.stranger_first, &x.escaped_first, &x.rest})
    all.deltas.insert(all.deltas.end(), part->begin(), part->end());
  std::set<RecordKey> records = records_named(h.deltas);
  records.insert(x.records.begin(), x.records.end());
  auto answers = [&records](const Store& s) { return coded_answers(s, records); };

  std::string answered;
  {
    auto s = storage::testing::open_store(t / "kept", step_test_options());
    // With a federation, so that the log's values are trimmed too.
    ASSERT_TRUE(s->initialise(testkit::test_federation(), met).ok());
    apply_in_batches(*s, first);
    // In this order: `met` has its code before the collider asks for it,
    // and the collider's escaped code comes before the 0xff author's (as
    // the step, which gives codes in the ids' order, gives them).
    EXPECT_EQ(must(s->apply(x.stranger_first), "apply").rejected.size(), 0u);
    EXPECT_EQ(must(s->apply(x.escaped_first), "apply").rejected.size(), 0u);
    answered = answers(*s);
  }
  auto kept_dump = dump_subdatabases(t / "kept");
  const auto codes = expect_node_codes(kept_dump);
  ASSERT_EQ(codes.count(x.collider.raw()), 1u) << "the foreign placement's operation was not kept";
  EXPECT_EQ(codes.at(met.raw()), met.raw().substr(0, 6));
  EXPECT_EQ(codes.at(x.collider.raw()), escaped(1));
  EXPECT_EQ(codes.at(x.escaped_id.raw()), escaped(2));
  std::set<std::string> known_ids, known_codes;
  for (const auto& [id, code] : codes) {
    known_ids.insert(id);
    known_codes.insert(code);
  }
  expect_key_forms(kept_dump, Ids::coded, known_codes);
  for (const auto& [k, v] : kept_dump.at("log"))
    EXPECT_EQ(v.at(0), '\x7a') << "log entry " << to_hex(k) << " is not trimmed (docs/storage.md)";

  copy_closed_store(t / "kept", t / "upgraded");
  write_schema_5_at(t / "upgraded");
  auto old_dump = dump_subdatabases(t / "upgraded");
  EXPECT_EQ(old_dump.count("node_codes"), 0u);
  auto expected_old = dump_as_schema_5(kept_dump);
  expected_old["meta"]["schema"] = std::string("\0\0\0\5", 4);
  EXPECT_TRUE(old_dump == expected_old) << "schema 5 would hold other entries";
  expect_key_forms(old_dump, Ids::whole, known_ids);

  {
    auto upgraded = storage::testing::open_store(t / "upgraded", step_test_options());
    ASSERT_TRUE(upgraded->upgraded().has_value());
    EXPECT_EQ(upgraded->upgraded()->from, 5u);
    EXPECT_EQ(upgraded->upgraded()->to, storage::kSchemaVersion);
    EXPECT_EQ(upgraded->upgraded()->steps, std::vector<std::string>{kCodesStep});
    EXPECT_EQ(answers(*upgraded), answered) << "the upgrade changed an answer";
    expect_compacted_after_upgrade(*upgraded);
    EXPECT_EQ(answers(*upgraded), answered) << "the compaction changed an answer";

    // A cursor handed out before the upgrade (schema 5's: the index's
    // letter, then the last entry with whole ids) is refused, not taken
    // for a place in the new keys.
    auto page = must(upgraded->list(v1::PLACEMENT, "", 7), "list");
    ASSERT_FALSE(page.next_cursor.empty());
    auto raw = from_hex(page.next_cursor);
    ASSERT_TRUE(raw && raw->size() == 2 + 15 && (*raw)[0] == 6) << page.next_cursor;
    const std::string old_cursor =
        to_hex(raw->substr(1, 1) + entry_as_schema_5(ids_by_code(kept_dump.at("node_codes")), "records_placement",
                                                     IdsIn::record, raw->substr(2)));
    auto refused = upgraded->list(v1::PLACEMENT, old_cursor, 7);
    ASSERT_FALSE(refused.ok());
    EXPECT_TRUE(refused.error().is(Errc::invalid_argument));
    EXPECT_NE(refused.error().message().find("handed out before 0.4.0"), std::string::npos)
        << refused.error().message();
  }
  EXPECT_TRUE(dump_subdatabases(t / "upgraded") == kept_dump)
      << "the upgraded store differs from the one written by this build";

  expect_rest_taken_alike(t / "kept", t / "upgraded", rest, answers, [&all](const Store& s) {
    storage::testing::expect_same_state(s, storage::testing::replica_of(all));
  });
  auto after = dump_subdatabases(t / "upgraded");
  std::set<std::string> codes_after;
  for (const auto& [id, code] : expect_node_codes(after)) codes_after.insert(code);
  expect_key_forms(after, Ids::coded, codes_after);
}

// The ids a schema-1 store's keys hold (the 0.2.0 layout: whole ids; ops
// keys record key (41) || hlc (8) || origin (32) || seq (8) || index (4);
// index entries term || record key with the term a record key too for the
// host, organisation and reservation indexes).
std::set<std::string> ids_in_schema_1_keys(SubDatabases& dump) {
  std::set<std::string> ids;
  for (const auto& [k, v] : dump["log"]) ids.insert(k.substr(0, 32));
  for (const char* name : {"records", "availability", "idx_placement_available"})
    for (const auto& [k, v] : dump[name]) ids.insert(k.substr(1, 32));
  for (const auto& [k, v] : dump["ops"]) {
    EXPECT_EQ(k.size(), 93u);
    ids.insert(k.substr(1, 32));
    ids.insert(k.substr(49, 32));
  }
  for (const auto& [name, where] : kDbsWithIds) {
    if (where != IdsIn::term_record && where != IdsIn::record_term) continue;
    for (const auto& [k, v] : dump[name]) {
      EXPECT_GT(k.size(), 41u) << name;
      ids.insert(k.substr(k.size() - 40, 32));
      if (where == IdsIn::record_term) ids.insert(k.substr(1, 32));
    }
  }
  return ids;
}

// The committed 0.2.0 store (schema 1) through every step: every node id
// its keys held (the owners of its records, the origins of its deltas) has
// its code, every key has the new size and reads back, code for id, as the
// keys of before, and the store answers as 0.2.0 did.
TEST(NodeCodes, TheZeroTwoZeroStoreHasACodeForEveryNodeId) {
  TempDir t;
  auto dir = copy_store(t.path());
  auto before = dump_subdatabases(dir);
  ASSERT_GT(before["records"].size(), 10u);
  const std::set<std::string> ids = ids_in_schema_1_keys(before);
  std::set<std::string> owners, origins;
  for (const auto& [k, v] : before["records"]) owners.insert(k.substr(1, 32));
  for (const auto& [k, v] : before["log"]) origins.insert(k.substr(0, 32));
  ASSERT_GT(owners.size(), 1u);
  {
    auto s = Store::open(dir, upgrade_options());
    ASSERT_TRUE(s.ok()) << s.error().message();
    ASSERT_TRUE((*s)->upgraded().has_value());
    EXPECT_EQ((*s)->upgraded()->from, 1u);
    EXPECT_EQ((*s)->upgraded()->steps.back(), kCodesStep);
    expect_answers_of_020(**s);
  }
  auto after = dump_subdatabases(dir);
  const auto codes = expect_node_codes(after);
  std::set<std::string> coded_ids, known_codes;
  for (const auto& [id, code] : codes) {
    coded_ids.insert(id);
    known_codes.insert(code);
  }
  EXPECT_EQ(coded_ids, ids) << "node_codes holds other ids than the keys did";
  for (const auto& owner : owners) EXPECT_EQ(codes.count(owner), 1u) << "no code for the owner " << to_hex(owner);
  for (const auto& origin : origins) EXPECT_EQ(codes.count(origin), 1u) << "no code for the origin " << to_hex(origin);
  expect_key_forms(after, Ids::coded, known_codes);

  // Read with whole ids, the keys are the ones 0.2.0 wrote.
  auto as_5 = dump_as_schema_5(after);
  EXPECT_TRUE(as_5["log"] == before["log"]) << "the log moved or changed";
  std::set<std::string> keys_before, keys_after;
  for (const auto& [k, v] : before["records"]) keys_before.insert(k);
  for (const auto& [k, v] : entries_of(as_5, "records")) keys_after.insert(k);
  EXPECT_EQ(keys_after, keys_before);
  for (const char* name : {"availability", "idx_placement_available"}) EXPECT_TRUE(as_5[name] == before[name]) << name;
  for (const auto& [name, where] : kDbsWithIds) {
    if (where != IdsIn::term_record && where != IdsIn::record_term) continue;
    as_5[name].erase("");
    EXPECT_TRUE(as_5[name] == before[name]) << name;
  }
  std::set<std::string> ops_before, ops_after;
  for (const auto& [k, v] : before["ops"]) ops_before.insert(k.substr(0, 41) + k.substr(49));  // without the hlc
  for (const auto& [k, v] : entries_of(as_5, "ops")) ops_after.insert(k);
  EXPECT_EQ(ops_after, ops_before);
}

}  // namespace
}  // namespace conect::upgrade
