// What the schema-step tests (ops_positions_test, indexes_by_term_test)
// share: the options they open stores with, and a store answer's value.
#pragma once

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

}  // namespace conect::upgrade
