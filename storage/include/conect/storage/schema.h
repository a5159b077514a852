// The on-disk schema of a store and how an older one is upgraded
// (docs/storage.md, "Schema version and upgrades").
//
// Contract
//   - meta.schema holds the layout version of a store. kSchemaVersion is the
//     version this build writes; every bump of it registers exactly one step
//     from N to N+1 in current_schema() (storage/src/schema.cc), and
//     tests/upgrade/ opens the committed 0.2.0 store (schema 1) through all
//     of them.
//   - Store::open with StoreOptions::upgrade runs every step from the store's
//     version up to the plan's version inside ONE LMDB write transaction,
//     which also writes the new meta.schema last. A crash, a kill -9 or a
//     failing step therefore leaves the store exactly as it was (old version,
//     old contents) and the next open starts over: there is no half-migrated
//     store. Without `upgrade` an older store is refused untouched and the
//     message says how to upgrade it (start the node).
//   - A store newer than the plan is refused untouched (schema_mismatch).
//   - Steps see the store as the previous version left it; every sub-database
//     of the current version is already opened (created if missing) in the
//     transaction. A step reads and writes through `txn` only, never opens
//     another transaction, and reports a problem by returning an error (the
//     whole upgrade is then abandoned).
//   - LMDB keeps the flags a database was created with (opening it with
//     others changes nothing): a step that changes them deletes the database
//     (mdb_drop with del=1) and creates it again under its name, and the
//     databases are opened again after the last step (schema 3's step).
//
// Adding a sub-database that is created on open when missing needs no bump;
// changing the meaning or layout of existing keys or values does.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "conect/crdt/error.h"
#include "conect/storage/lmdb.h"

namespace conect::storage {

// Version of the on-disk layout this build writes (meta.schema).
//   1: 0.1.0 and 0.2.0.
//   2: `ops` holds positions only; the operations are read from the log
//      (docs/storage.md).
//   3: the query indexes by term are MDB_DUPSORT | MDB_DUPFIXED: the term
//      once per key, the 41-byte record keys as its items (docs/storage.md).
//   4: `records` keeps each state without the type and id fields its key
//      says (storage/src/stored_state.h).
//   5: a `records_*` and an `ops_*` database per record type, in place of
//      `records` and `ops` (docs/storage.md).
inline constexpr std::uint32_t kSchemaVersion = 6;

struct SchemaStep {
  std::uint32_t from = 0;  // reads schema `from`, leaves schema `from + 1`
  std::string summary;     // one line for the log and the operator
  std::function<Status(lmdb::WriteTxn& txn)> run;
};

struct SchemaPlan {
  std::uint32_t version = kSchemaVersion;  // what stores are upgraded to
  std::vector<SchemaStep> steps;           // ordered by `from`, contiguous
  // The oldest version the steps upgrade from (version when there are none).
  std::uint32_t oldest() const { return steps.empty() ? version : steps.front().from; }
  // Empty when steps run contiguously from oldest() to version; else why not.
  std::string check() const;
};

// kSchemaVersion and this build's registered steps.
const SchemaPlan& current_schema();

// What Store::open did to an older store.
struct SchemaUpgrade {
  std::uint32_t from = 0;
  std::uint32_t to = 0;
  std::vector<std::string> steps;  // summaries, in order
  std::uint64_t duration_ms = 0;   // the whole transaction, commit included
};

}  // namespace conect::storage
