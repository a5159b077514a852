// What the schema-step tests (ops_positions_test, indexes_by_term_test,
// record_states_test, databases_per_type_test) share: the options they open
// stores with, a store answer's value, and `records` and `ops` turned back
// into the layouts of older schemas.
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "../storage/history.h"
#include "conect/crdt/merge.h"
#include "conect/storage/lmdb.h"
#include "conect/storage/store.h"

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

}  // namespace conect::upgrade
