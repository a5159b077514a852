// What the schema-step tests (ops_positions_test, indexes_by_term_test)
// share: the options they open stores with, and a store answer's value.
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "../storage/history.h"
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

}  // namespace conect::upgrade
