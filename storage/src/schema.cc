// The registered schema steps: one per bump of kSchemaVersion.
//
// To bump the schema (docs/storage.md, "Schema version and upgrades"):
//   1. raise kSchemaVersion in conect/storage/schema.h;
//   2. add a step {from = old version, summary, function} below that rewrites
//      what changed, inside the transaction it is given (a refold of every
//      record from the log is the usual tool when record states change);
//   3. describe the new layout in docs/storage.md;
//   4. run tests/upgrade: the committed 0.2.0 store must open through every
//      step and answer as before (update the expectations only for what the
//      step meant to change, and say so).
#include "conect/storage/schema.h"

#include <algorithm>

#include "codec.h"
#include "store_impl.h"

namespace conect::storage {
namespace {

// Schema 1 -> 2: `ops` as key-only positions. Every schema-1 entry (record
// key (41) || hlc (8) || origin (32) || seq (8) || index (4) -> delta id (32)
// || serialised Operation) becomes record key || origin || seq || index ->
// empty; the operation stays where it already was, in its signed delta in
// `log`. The new keys are written in order with MDB_APPEND (full pages).
Status ops_as_positions(lmdb::WriteTxn& txn) {
  lmdb::Dbi ops = txn.open_db("ops", 0);
  std::vector<std::string> keys;
  {
    auto c = txn.cursor(ops);
    for (bool ok = c.first(); ok; ok = c.next()) {
      std::string_view k = c.key();
      auto record =
          k.size() == codec::kOpKeySizeV1 ? RecordKey::decode(k.substr(0, codec::kRecordKeySize)) : std::nullopt;
      if (!record || c.value().size() < 32)
        return Error(Errc::storage_error, "an entry of ops does not have the layout of schema 1 (key " +
                                              to_hex(k.substr(0, 48)) + "...); restore a backup");
      // Drop the HLC (8 bytes after the record key): the fold sorts by it
      // from the delta itself.
      std::string key(k.substr(0, codec::kRecordKeySize));
      key += k.substr(codec::kRecordKeySize + 8);
      keys.push_back(std::move(key));
    }
  }
  txn.clear(ops);
  std::sort(keys.begin(), keys.end());
  constexpr std::string_view kEmpty("", 0);
  for (const auto& k : keys)
    if (!txn.append(ops, k, kEmpty)) txn.put(ops, k, kEmpty);
  // The old entries' pages are free now (about a third of the file), but
  // LMDB never shrinks data.mdb: mark the store for the daemon's compactor
  // (node/daemon compactor.h), which swaps in a compacting copy at its first
  // check, as after an erasure.
  txn.put(txn.open_db("meta", 0), meta::kCompactDue, meta::kCompactAfterUpgrade);
  return Status::Ok();
}

}  // namespace

std::string SchemaPlan::check() const {
  std::uint32_t next = oldest();
  for (const auto& step : steps) {
    if (step.from != next)
      return "schema step from " + std::to_string(step.from) + " found where one from " + std::to_string(next) +
             " was expected";
    if (!step.run) return "schema step from " + std::to_string(step.from) + " has no function";
    ++next;
  }
  if (next != version)
    return "schema steps end at " + std::to_string(next) + ", not at version " + std::to_string(version);
  return {};
}

const SchemaPlan& current_schema() {
  // Schema 1 is the layout of 0.1.0 and 0.2.0.
  static const SchemaPlan plan{kSchemaVersion,
                               {
                                   {1, "ops as key-only positions (the operations stay in the log)", ops_as_positions},
                               }};
  return plan;
}

}  // namespace conect::storage
