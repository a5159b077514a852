// A record's stored operations (schema 2): `ops` keeps only their positions
// (codec.h); the operations themselves are read back from their signed
// deltas in `log`, which hold them already. Only the refold of a record
// stored before the current group (records.cc) and its history (reads.cc)
// read them: a new record folds from the deltas in hand.
#pragma once

#include <map>
#include <string>
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

// The operations at stored positions, read from their signed deltas in the
// log. Each delta is read once while it stays in the cache (a record's
// operations come from a few deltas, and a delta's operations often go to
// one record), hashed once for its id, and only the operation asked for is
// parsed out of its body (a refold of stored records reads many small
// deltas: parsing whole ones was most of its cost).
class LoggedOps {
 public:
  LoggedOps(const lmdb::Txn& txn, const Dbs& db) : keys_(txn, db) {}
  // The operation at `p` with its position (throws storage_error when the
  // log lacks it: `ops` names only stored deltas).
  PositionedOp op(const StoredPosition& p);

 private:
  struct Delta {
    std::string body;  // the signed DeltaBody bytes
    DeltaId id;
    Hlc hlc;
    std::vector<std::pair<std::uint32_t, std::uint32_t>> ops;  // offset, size of each operation in `body`
  };
  const Delta& delta(const NodeId& origin, Seq seq);

  const Keys keys_;
  std::map<std::pair<NodeId, Seq>, Delta> cache_;
};

}  // namespace conect::storage
