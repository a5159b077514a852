// The only way the sync engine sees storage: a narrow, read-only view
// (DESIGN §12: node/sync depends on storage only through this interface).
// Writes leave the engine as actions (ApplyBatch, StoreEvidence) that the
// node carries out and reports back.
//
// The node adapts storage::Store to it; the simulator and the unit tests
// adapt their own stores. Every method is a read of committed state and must
// be cheap enough to call on each message (a head is a point lookup).
#pragma once

#include <cstddef>
#include <optional>
#include <utility>
#include <vector>

#include "delta.pb.h"
#include "conect/crdt/error.h"
#include "conect/crdt/types.h"

namespace conect::sync {

// One origin's committed head.
struct OriginHead {
  Seq seq;          // last stored seq, gap-free from 1 (0: nothing stored)
  DeltaId id;       // id of the delta at `seq`
  Seq frozen_at{};  // 0, or the fork seq of the equivocation evidence held:
                    // nothing of this origin from that seq on counts
};

class SyncStoreView {
 public:
  virtual ~SyncStoreView() = default;

  // Every origin with at least one stored delta (any order).
  virtual Result<std::vector<std::pair<NodeId, OriginHead>>> version_vector() const = 0;
  // The head of one origin; seq 0 when nothing is stored.
  virtual Result<OriginHead> head(const NodeId& origin) const = 0;
  // Stored deltas of `origin` from seq `from` on, in order: at most
  // `max_count`, and at most about `max_bytes` of body + signature (the first
  // delta may exceed it; the engine checks credit itself).
  virtual Result<std::vector<v1::SignedDelta>> deltas_from(const NodeId& origin, Seq from,
                                                           std::size_t max_count,
                                                           std::size_t max_bytes) const = 0;
  // The equivocation evidence held for `origin` with the lowest seq, if any.
  virtual Result<std::optional<v1::EquivocationEvidence>> evidence(const NodeId& origin) const = 0;
};

}  // namespace conect::sync
