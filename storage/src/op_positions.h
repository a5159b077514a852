// A record's stored operations (schema 2): `ops` keeps only their positions
// (codec.h); the operations themselves are read back from their signed
// deltas in `log`, which hold them already. Only the refold of a record
// stored before the current group (records.cc) and its history (reads.cc)
// read them: a new record folds from the deltas in hand.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "store_impl.h"

namespace conect::storage {

// Where one stored operation of a record is.
struct StoredPosition {
  NodeId origin;
  Seq seq;
  std::uint32_t index = 0;
  auto operator<=>(const StoredPosition&) const = default;
};

// The positions of every stored operation of `key`, in key order.
std::vector<StoredPosition> stored_positions(const lmdb::Txn& txn, const Dbs& db, const RecordKey& key);

// Stored deltas as the log holds them, each parsed once while it stays in a
// small cache (a record's operations come from a few deltas, and a delta's
// operations often from one record).
class LoggedDeltas {
 public:
  struct Delta {
    v1::SignedDelta signed_delta;
    v1::DeltaBody body;
    DeltaId id;
  };
  LoggedDeltas(const lmdb::Txn& txn, const Dbs& db) : txn_(txn), db_(db) {}
  // The stored delta (throws storage_error when the log lacks it: `ops`
  // names only stored deltas).
  const Delta& delta(const NodeId& origin, Seq seq);
  // The operation at `p` with its position, read from its delta.
  PositionedOp op(const StoredPosition& p);

 private:
  const lmdb::Txn& txn_;
  const Dbs& db_;
  std::map<std::pair<NodeId, Seq>, std::unique_ptr<Delta>> cache_;
};

}  // namespace conect::storage
