// Test-only schema steps, appended after this build's real ones, that prove
// the upgrade mechanism (schema.h) while the real schema has had no bump:
//   aside: moves every entry of idx_placement_trade into a sub-database of
//          its own (on its own this breaks queries by trade);
//   back:  moves them back (together the two change nothing),
//          or fails, or announces itself on stdout and blocks until killed.
// Shared by the tests and the child process they kill.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "conect/storage/schema.h"

namespace conect::upgrade {

using storage::current_schema;
using storage::SchemaPlan;

enum class BackStep { move_back, fail, block };

inline constexpr const char* kAsideDb = "upgrade_test_aside";
inline constexpr const char* kMarkerKey = "upgrade_test_marker";

inline void move_all(lmdb::WriteTxn& txn, lmdb::Dbi from, lmdb::Dbi to) {
  std::vector<std::pair<std::string, std::string>> entries;
  {
    auto c = txn.cursor(from);
    for (bool more = c.first(); more; more = c.next()) entries.emplace_back(c.key(), c.value());
  }
  for (const auto& [k, v] : entries) txn.put(to, k, v);
  txn.clear(from);
}

inline SchemaPlan test_plan(BackStep back) {
  SchemaPlan plan = current_schema();
  const std::uint32_t first = plan.version;
  plan.steps.push_back({first, "test: move the trade index aside", [](lmdb::WriteTxn& txn) -> Status {
                          lmdb::Dbi meta = txn.open_db("meta", 0);
                          txn.put(meta, kMarkerKey, "aside");
                          // The aside database keeps the trade index's layout (a trade's
                          // record keys as items of one key).
                          move_all(txn, txn.open_db("idx_placement_trade", 0),
                                   txn.open_db(kAsideDb, MDB_CREATE | MDB_DUPSORT | MDB_DUPFIXED));
                          return {};
                        }});
  plan.steps.push_back({first + 1, "test: move the trade index back", [back](lmdb::WriteTxn& txn) -> Status {
                          if (back == BackStep::fail) return Error(Errc::invalid_argument, "test step refuses");
                          if (back == BackStep::block) {
                            // The parent kills us here: mid-transaction, after the first step.
                            std::fputs("in step\n", stdout);
                            std::fflush(stdout);
                            char c;
                            while (::read(0, &c, 1) > 0) {
                            }
                          }
                          move_all(txn, txn.open_db(kAsideDb, 0), txn.open_db("idx_placement_trade", 0));
                          txn.put(txn.open_db("meta", 0), kMarkerKey, "back");
                          return {};
                        }});
  plan.version = first + 2;
  return plan;
}

}  // namespace conect::upgrade
