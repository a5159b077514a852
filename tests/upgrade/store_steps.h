// What the schema-step tests (ops_positions_test, indexes_by_term_test,
// record_states_test, databases_per_type_test) share. Each writes the first
// half of a history with this build ("kept"), copies that store and turns
// the copy back into an older schema's layout ("upgraded"), opens both, and
// checks that the upgraded store answers, holds and then takes the second
// half exactly as the kept one. Here: the options they open stores with, a
// store answer's value, the steps of that shape, the keys with node codes
// (schema 6) turned back into keys with whole ids (schema 5), and `records`
// and `ops` turned back into the layouts of older schemas.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <map>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "../storage/history.h"
#include "conect/crdt/merge.h"
#include "conect/storage/lmdb.h"
#include "conect/storage/store.h"
#include "state.pb.h"

namespace conect::upgrade {

// Upgrades allowed (as `conect-node run` does); no fsync: nothing here is
// about durability.
inline storage::StoreOptions step_test_options() {
  storage::StoreOptions o = storage::testing::test_options();
  o.no_sync = true;
  o.upgrade = true;
  return o;
}

// The value of a store answer (an error ends the test with its message).
template <class T>
T must(Result<T> r, const char* what) {
  if (!r.ok()) throw std::runtime_error(std::string(what) + ": " + r.error().message());
  return std::move(*r);
}

// The first and the second half of `deltas`.
inline std::pair<std::vector<VerifiedDelta>, std::vector<VerifiedDelta>> halves(
    const std::vector<VerifiedDelta>& deltas) {
  const auto middle = deltas.begin() + static_cast<std::ptrdiff_t>(deltas.size() / 2);
  return {std::vector<VerifiedDelta>(deltas.begin(), middle), std::vector<VerifiedDelta>(middle, deltas.end())};
}

// Applies `deltas` 25 per call, as a peer's batches arrive; returns how many
// the store rejected.
inline std::size_t apply_in_batches(storage::Store& store, const std::vector<VerifiedDelta>& deltas) {
  std::size_t rejected = 0;
  for (std::size_t i = 0; i < deltas.size(); i += 25) {
    std::vector<VerifiedDelta> batch(deltas.begin() + static_cast<std::ptrdiff_t>(i),
                                     deltas.begin() + static_cast<std::ptrdiff_t>(std::min(i + 25, deltas.size())));
    rejected += must(store.apply(std::move(batch)), "apply").rejected.size();
  }
  return rejected;
}

// Every record an operation of `deltas` names.
inline std::set<RecordKey> records_named(const std::vector<VerifiedDelta>& deltas) {
  std::set<RecordKey> out;
  for (const auto& d : deltas)
    for (const auto& op : d.body.ops())
      if (auto t = op_target(op); t.ok()) out.insert(*t);
  return out;
}

// A copy of the closed store in `from`, in `to`.
inline void copy_closed_store(const std::filesystem::path& from, const std::filesystem::path& to) {
  std::filesystem::create_directories(to);
  std::filesystem::copy_file(from / "data.mdb", to / "data.mdb");
}

// The environment of a closed store, opened to rewrite it in an older
// layout; mark_schema() then says which.
inline lmdb::Env open_to_rewrite(const std::filesystem::path& dir) {
  lmdb::EnvOptions eo;
  eo.map_size = std::uint64_t{256} << 20;
  eo.flags = MDB_NOTLS;
  return must(lmdb::Env::open(dir, eo), "open the environment");
}
inline void mark_schema(lmdb::WriteTxn& txn, std::uint32_t version) {
  const std::string be{static_cast<char>(version >> 24), static_cast<char>(version >> 16),
                       static_cast<char>(version >> 8), static_cast<char>(version)};
  txn.put(txn.open_db("meta", 0), "schema", be);
}

// Every page of the unfiltered placement and mobility queries, 7 at a time:
// each record with its state's bytes as the query read it, and the cursor
// after each page.
inline void query_pages(std::ostream& out, const storage::Store& store) {
  storage::PlacementFilter pf;
  pf.limit = 7;
  do {
    auto page = must(store.placements(pf), "placements");
    for (const auto& p : page.items)
      out << "placement " << p.key.text() << " " << to_hex(serialize_state(p.state)) << "\n";
    out << "cursor " << page.next_cursor << "\n";
    pf.cursor = page.next_cursor;
  } while (!pf.cursor.empty());
  storage::MobilityFilter mf;
  mf.limit = 7;
  do {
    auto page = must(store.mobilities(mf), "mobilities");
    for (const auto& m : page.items)
      out << "mobility " << m.key.text() << " " << to_hex(serialize_state(m.state)) << "\n";
    out << "cursor " << page.next_cursor << "\n";
    mf.cursor = page.next_cursor;
  } while (!mf.cursor.empty());
}

// The last part of every step test: the upgraded store (reopened: nothing
// left to upgrade) and the kept one take the rest of the history alike,
// answer alike, and end byte-identical. `check` runs on each store after
// the rest is applied.
template <class Answers, class Check>
void expect_rest_taken_alike(const std::filesystem::path& kept_dir, const std::filesystem::path& upgraded_dir,
                             const std::vector<VerifiedDelta>& rest, Answers answers, Check check) {
  auto kept = storage::testing::open_store(kept_dir, step_test_options());
  auto upgraded = storage::testing::open_store(upgraded_dir, step_test_options());
  EXPECT_FALSE(upgraded->upgraded().has_value());
  for (storage::Store* s : {kept.get(), upgraded.get()}) {
    must(s->apply(rest), "apply the rest");
    check(*s);
  }
  EXPECT_EQ(answers(*upgraded), answers(*kept)) << "the upgraded store took the rest of the history differently";
  kept.reset();
  upgraded.reset();
  EXPECT_TRUE(storage::testing::dump_subdatabases(upgraded_dir) == storage::testing::dump_subdatabases(kept_dir))
      << "the upgraded store holds the rest of the history differently";
}

// A step that leaves the old layout's pages free marks the store for the
// daemon's compactor, whose copy is smaller and logs why it ran.
inline void expect_compacted_after_upgrade(storage::Store& upgraded) {
  EXPECT_TRUE(*upgraded.compaction_due());
  auto compacted = upgraded.compact();
  ASSERT_TRUE(compacted.ok()) << compacted.error().message();
  ASSERT_TRUE(compacted->compacted);
  EXPECT_EQ(compacted->reason, "upgrade") << "the daemon's log would name an erasure that never happened";
  EXPECT_LT(compacted->bytes_after, compacted->bytes_before);
  EXPECT_FALSE(*upgraded.compaction_due());
}

// The record types and the suffix of their `records_*` and `ops_*`
// databases (schema 5).
inline constexpr std::pair<v1::RecordType, const char*> kTypeDbs[] = {
    {v1::ORGANISATION, "organisation"}, {v1::PLACEMENT, "placement"}, {v1::RESERVATION, "reservation"},
    {v1::MOBILITY, "mobility"},         {v1::CONTACT, "contact"},
};

// Every entry of `name` ("records" or "ops") in a dump: its own (schemas 1
// to 4) and those of its databases per type (schema 5).
inline std::map<std::string, std::string> entries_of(const storage::testing::SubDatabases& dump,
                                                     const std::string& name) {
  std::map<std::string, std::string> out;
  if (auto it = dump.find(name); it != dump.end()) out = it->second;
  for (const auto& [type, suffix] : kTypeDbs)
    if (auto it = dump.find(name + "_" + suffix); it != dump.end()) out.insert(it->second.begin(), it->second.end());
  return out;
}

// Moves the entries of the databases per type back into one `records` and
// one `ops`, as schemas 1 to 4 kept them, and deletes the databases per
// type. Returns how many entries it moved.
inline std::size_t write_one_records_and_ops(lmdb::WriteTxn& txn) {
  std::size_t moved = 0;
  for (const char* name : {"records", "ops"}) {
    lmdb::Dbi one = txn.open_db(name, MDB_CREATE);
    for (const auto& [type, suffix] : kTypeDbs) {
      lmdb::Dbi of_type = txn.open_db((std::string(name) + "_" + suffix).c_str(), 0);
      {
        auto c = txn.cursor(of_type);
        for (bool ok = c.first(); ok; ok = c.next(), ++moved) txn.put(one, c.key(), c.value());
      }
      txn.drop(of_type);
    }
  }
  return moved;
}

// Rewrites `records` (one database: call write_one_records_and_ops first)
// as schemas 1 to 3 kept it: each value the whole
// serialize_state(), with the type and id fields that schema 4 leaves to the
// key. Returns how many values it rewrote.
inline std::size_t write_whole_states(lmdb::WriteTxn& txn) {
  lmdb::Dbi records = txn.open_db("records", 0);
  std::vector<std::pair<std::string, std::string>> whole;
  {
    auto c = txn.cursor(records);
    for (bool ok = c.first(); ok; ok = c.next()) {
      auto key = RecordKey::decode(c.key());
      v1::RecordState s;
      if (!key || !s.ParseFromArray(c.value().data(), static_cast<int>(c.value().size())) || s.type() != 0 ||
          s.has_id())
        throw std::runtime_error("records holds a value that is not a schema-4 state");
      s.set_type(key->type);
      *s.mutable_id() = key->to_proto();
      whole.emplace_back(c.key(), serialize_state(s));
    }
  }
  for (const auto& [k, v] : whole) txn.put(records, k, v);
  return whole.size();
}

// The databases whose keys hold node ids, and where (the step from schema 5,
// storage/src/schema.cc). Schema 6 writes each id there as its 6-byte node
// code (`node_codes`: 'c' || code -> id, 'i' || id -> code); schema 5 wrote
// the whole id. That layout is frozen (docs/storage.md describes it), so it
// is written out here rather than taken from the step:
//   log          origin || seq
//   record       a record key: type (1) || owner || serial (8)
//   op           record key || origin || seq (8) || index (4)
//   term_record  an index by term, its items record keys
//   record_term  an index whose term is a record key too
// An entry of an index by term (MDB_DUPSORT) is its key || item, as a dump
// lists it.
enum class IdsIn { log, record, op, term_record, record_term };
inline constexpr std::pair<const char*, IdsIn> kDbsWithIds[] = {
    {"log", IdsIn::log},
    {"records_organisation", IdsIn::record},
    {"records_placement", IdsIn::record},
    {"records_reservation", IdsIn::record},
    {"records_mobility", IdsIn::record},
    {"records_contact", IdsIn::record},
    {"ops_organisation", IdsIn::op},
    {"ops_placement", IdsIn::op},
    {"ops_reservation", IdsIn::op},
    {"ops_mobility", IdsIn::op},
    {"ops_contact", IdsIn::op},
    {"availability", IdsIn::record},
    {"idx_placement_available", IdsIn::record},
    {"idx_placement_trade", IdsIn::term_record},
    {"idx_placement_country", IdsIn::term_record},
    {"idx_placement_period", IdsIn::term_record},
    {"idx_mobility_period", IdsIn::term_record},
    {"idx_mobility_status", IdsIn::term_record},
    {"idx_placement_host", IdsIn::record_term},
    {"idx_mobility_org", IdsIn::record_term},
    {"idx_reservation_placement", IdsIn::record_term},
};
inline constexpr std::size_t kNodeCodeSize = 6;
inline constexpr std::size_t kRecordKeySize = 1 + kNodeCodeSize + 8;  // schema 6
inline constexpr std::size_t kRecordKeySizeV5 = 41;

// The ids of the codes in the entries of `node_codes`: code -> id.
using IdsByCode = std::map<std::string, std::string, std::less<>>;
inline IdsByCode ids_by_code(const std::map<std::string, std::string>& node_codes) {
  IdsByCode out;
  for (const auto& [k, v] : node_codes) {
    if (k.size() == 1 + kNodeCodeSize && k[0] == 'c' && v.size() == 32)
      out.emplace(k.substr(1), v);
    else if (k.size() != 33 || k[0] != 'i' || v.size() != kNodeCodeSize)
      throw std::runtime_error("node_codes holds an entry of neither form (key " + to_hex(k) + ")");
  }
  return out;
}

// One entry (key, or key || item) of a database of kDbsWithIds as schema 5
// wrote it: each node code in it replaced by the id it stands for.
inline std::string entry_as_schema_5(const IdsByCode& ids, const std::string& db, IdsIn where, std::string_view entry) {
  auto fail = [&](const std::string& why) -> std::runtime_error {
    return std::runtime_error(db + " holds an entry " + why + " (" + to_hex(entry) + ")");
  };
  auto id = [&](std::string_view code) -> const std::string& {
    auto it = ids.find(code);
    if (it == ids.end()) throw fail("with node code " + to_hex(code) + ", which node_codes lacks");
    return it->second;
  };
  auto record = [&](std::string_view key) {
    return std::string(key.substr(0, 1)) + id(key.substr(1, kNodeCodeSize)) +
           std::string(key.substr(1 + kNodeCodeSize));
  };
  auto expect_size = [&](bool right) {
    if (!right) throw fail("of " + std::to_string(entry.size()) + " bytes");
  };
  switch (where) {
    case IdsIn::log:
      expect_size(entry.size() == kNodeCodeSize + 8);
      return id(entry.substr(0, kNodeCodeSize)) + std::string(entry.substr(kNodeCodeSize));
    case IdsIn::record:
      expect_size(entry.size() == kRecordKeySize);
      return record(entry);
    case IdsIn::op:
      expect_size(entry.size() == kRecordKeySize + kNodeCodeSize + 12);
      return record(entry.substr(0, kRecordKeySize)) + id(entry.substr(kRecordKeySize, kNodeCodeSize)) +
             std::string(entry.substr(kRecordKeySize + kNodeCodeSize));
    case IdsIn::term_record:
      expect_size(entry.size() > kRecordKeySize);
      return std::string(entry.substr(0, entry.size() - kRecordKeySize)) +
             record(entry.substr(entry.size() - kRecordKeySize));
    case IdsIn::record_term:
      expect_size(entry.size() == 2 * kRecordKeySize);
      return record(entry.substr(0, kRecordKeySize)) + record(entry.substr(kRecordKeySize));
  }
  throw fail("of no known layout");
}

// Every node id inside a message that schema 6 writes as a code: the owner
// of each RecordId it holds, at any depth (found by reflection, so a
// reference the store forgets to code shows up as an id of the wrong size),
// and the origin at the front of each OR-set tag (SetElement.tags).
inline void for_each_coded_id(google::protobuf::Message& m, const std::function<void(std::string&, bool)>& f) {
  const auto* refl = m.GetReflection();
  if (m.GetDescriptor() == v1::RecordId::descriptor()) {
    auto& id = static_cast<v1::RecordId&>(m);
    if (!id.owner().empty()) f(*id.mutable_owner(), false);
    return;
  }
  if (m.GetDescriptor() == v1::SetElement::descriptor()) {
    for (auto& tag : *static_cast<v1::SetElement&>(m).mutable_tags()) f(tag, true);
    return;
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  refl->ListFields(m, &fields);
  for (const auto* field : fields) {
    if (field->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (field->is_repeated()) {
      for (int i = 0; i < refl->FieldSize(m, field); ++i)
        for_each_coded_id(*refl->MutableRepeatedMessage(&m, field, i), f);
    } else {
      for_each_coded_id(*refl->MutableMessage(&m, field), f);
    }
  }
}

// A `records_*` value as schema 5 kept it: the state without its type and
// id, ids whole. Schema 6 marks a state whose inner ids it coded with the
// field 31 = 1 in front (docs/storage.md) and keeps any other as it was.
inline std::string state_as_schema_5(const IdsByCode& ids, std::string_view value) {
  constexpr std::string_view kCoded{"\xf8\x01\x01", 3};
  if (!value.starts_with(kCoded)) return std::string(value);
  v1::RecordState s;
  value.remove_prefix(kCoded.size());
  if (!s.ParseFromArray(value.data(), static_cast<int>(value.size())))
    throw std::runtime_error("a coded record state that does not parse");
  for_each_coded_id(s, [&](std::string& field, bool tag) {
    if (field.size() != kNodeCodeSize + (tag ? 12 : 0))
      throw std::runtime_error("a coded record state holds an id of " + std::to_string(field.size()) + " bytes");
    auto it = ids.find(std::string_view(field).substr(0, kNodeCodeSize));
    if (it == ids.end()) throw std::runtime_error("a coded record state names a code node_codes lacks");
    field.replace(0, kNodeCodeSize, it->second);
  });
  return serialize_state(s);
}

// A `log` value (a SignedDelta) as schema 5 kept it: whole. Schema 6 keeps
// a body that starts with the store's federation, the entry's origin and
// its seq (DeltaBody fields 1 to 3) without them, under field 15 instead of
// field 1 (docs/storage.md); here they are written in front again.
inline std::string log_value_as_schema_5(std::string_view federation, std::string_view origin, std::uint64_t seq,
                                         std::string_view value) {
  auto varint = [](std::string& out, std::uint64_t v) {
    for (; v >= 0x80; v >>= 7) out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    out.push_back(static_cast<char>(v));
  };
  if (value.empty() || value[0] != 0x7a) return std::string(value);
  std::size_t at = 1, shift = 0;
  std::uint64_t size = 0;
  for (unsigned char c = 0x80; c & 0x80; shift += 7) {
    if (at >= value.size()) throw std::runtime_error("a trimmed log value ends inside its length");
    c = static_cast<unsigned char>(value[at++]);
    size |= static_cast<std::uint64_t>(c & 0x7f) << shift;
  }
  if (size > value.size() - at || federation.size() != 16) throw std::runtime_error("a malformed trimmed log value");
  std::string body{0x0a, 16};
  body += federation;
  body += std::string{0x12, 32};
  body += origin;
  body.push_back(0x18);
  varint(body, seq);
  body += value.substr(at, size);
  std::string out(1, 0x0a);
  varint(out, body.size());
  return out + body + std::string(value.substr(at + size));
}

inline std::uint64_t big_endian_u64(std::string_view s) {
  std::uint64_t v = 0;
  for (char c : s) v = (v << 8) | static_cast<unsigned char>(c);
  return v;
}

// A dump of a store of this build (schema 6) as the same store in schema 5's
// layout would dump: every key of kDbsWithIds with whole ids, no
// `node_codes`. The values, the flags ("" -> "flags N") and every other
// database stay as they are.
inline storage::testing::SubDatabases dump_as_schema_5(const storage::testing::SubDatabases& dump) {
  auto codes = dump.find("node_codes");
  if (codes == dump.end()) throw std::runtime_error("the dump has no node_codes: not a store of schema 6");
  const auto ids = ids_by_code(codes->second);
  std::string federation;
  if (auto meta = dump.find("meta"); meta != dump.end())
    if (auto f = meta->second.find("federation"); f != meta->second.end()) federation = f->second;
  storage::testing::SubDatabases out = dump;
  out.erase("node_codes");
  for (const auto& [name, where] : kDbsWithIds) {
    auto it = dump.find(name);
    if (it == dump.end()) continue;
    auto& entries = out[name];
    entries.clear();
    for (const auto& [k, v] : it->second) {
      const std::string key = k.empty() ? k : entry_as_schema_5(ids, name, where, k);  // "" is the flags entry
      std::string value = v;
      if (where == IdsIn::log && !k.empty())
        value = log_value_as_schema_5(federation, key.substr(0, 32), big_endian_u64(key.substr(32)), v);
      if (std::string_view(name).starts_with("records_") && !k.empty()) value = state_as_schema_5(ids, v);
      entries.emplace(key, std::move(value));
    }
  }
  return out;
}

// Rewrites a closed store of this build (schema 6, opened with
// open_to_rewrite) in schema 5's layout: every key of kDbsWithIds with
// whole ids (each database deleted and created again with its flags, as an
// index's items change size), and no `node_codes`. Returns how many entries
// it rewrote. mark_schema() is the caller's.
inline std::size_t write_schema_5(lmdb::WriteTxn& txn) {
  lmdb::Dbi node_codes = txn.open_db("node_codes", 0);
  std::map<std::string, std::string> codes;
  {
    auto c = txn.cursor(node_codes);
    for (bool ok = c.first(); ok; ok = c.next()) codes.emplace(c.key(), c.value());
  }
  const auto ids = ids_by_code(codes);
  const std::string federation(txn.get(txn.open_db("meta", 0), "federation").value_or(std::string_view()));
  std::size_t rewritten = 0;
  for (const auto& [name, where] : kDbsWithIds) {
    lmdb::Dbi db = txn.open_db(name, 0);
    unsigned flags = 0;
    lmdb::check(mdb_dbi_flags(txn.handle(), db.handle, &flags), std::string("reading the flags of ") + name);
    const bool by_term = (flags & MDB_DUPSORT) != 0;
    std::vector<std::pair<std::string, std::string>> entries;  // schema 5's entry (key || item) and value
    {
      auto c = txn.cursor(db);
      for (bool ok = c.first(); ok; ok = c.next()) {
        const std::string entry = by_term ? std::string(c.key()) + std::string(c.value()) : std::string(c.key());
        std::string whole = entry_as_schema_5(ids, name, where, entry);
        std::string value = by_term ? std::string() : std::string(c.value());
        if (where == IdsIn::log)
          value = log_value_as_schema_5(federation, whole.substr(0, 32), big_endian_u64(whole.substr(32)), value);
        if (std::string_view(name).starts_with("records_")) value = state_as_schema_5(ids, value);
        entries.emplace_back(std::move(whole), std::move(value));
      }
    }
    txn.drop(db);
    db = txn.open_db(name, MDB_CREATE | flags);
    for (const auto& [entry, value] : entries) {
      if (by_term)
        txn.put(db, std::string_view(entry).substr(0, entry.size() - kRecordKeySizeV5),
                std::string_view(entry).substr(entry.size() - kRecordKeySizeV5));
      else
        txn.put(db, entry, value);
    }
    rewritten += entries.size();
  }
  txn.drop(node_codes);
  return rewritten;
}

}  // namespace conect::upgrade
