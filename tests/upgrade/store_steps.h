// What the schema-step tests (ops_positions_test, indexes_by_term_test,
// states_test) share: the options they open stores with, a store answer's
// value, and `records` turned back into the layout of schemas 1 to 3.
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

// Rewrites `records` as schemas 1 to 3 kept it: each value the whole
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
