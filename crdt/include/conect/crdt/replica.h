// An in-memory replica: every authentic delta held per origin in chain
// order, every record refolded from its operations, and the state digest
// kept incrementally. It is the reference model of a node's state: tests,
// benchmarks and the sync simulator's oracle use it, and the LMDB storage is
// checked against it. So it is kept simple and obviously correct rather
// than fast: each record keeps its open fold (RecordFolder) and continues it
// when new operations sort last, and refolds from the first operation when
// they do not.
//
// apply() buffers nothing. A delta is taken only when its predecessor is the
// held head and every delta it names in deps is held; otherwise it is
// refused with the reason, and the caller retries later.
//
// Equivocation (DESIGN §4): two authentic deltas of one origin with the same
// seq and different ids. The pair is kept as evidence, the origin is frozen
// at the seq before the fork, the deltas from the fork on are dropped and
// the records they touched refolded without them; nothing of that origin
// beyond the freeze is taken again.
//
// The roster the merge reads for every operation (authority.h) is the one a
// node's store reads (storage/src/fold_context.h): for a member the
// replicated roster admitted, its standing there, derived from the held
// membership deltas (membership.h: its role, and its cut once removed or
// left); for any other origin, the role of its card (set_roster). A change of
// either refolds the records of the origins whose standing changed. The
// replica is its own ChainView (its held logs).
//
// Not thread-safe.
#pragma once

#include <cstddef>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "conect/crdt/authority.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/error.h"
#include "conect/crdt/membership.h"
#include "conect/crdt/merge.h"
#include "conect/crdt/types.h"
#include "delta.pb.h"
#include "state.pb.h"

namespace conect {

struct ReplicaRecord {
  std::deque<PositionedOp> ops;  // as they arrived (a deque: the folder points into it)
  v1::RecordState state;
  std::string bytes;  // serialize_state(state)
  Hash256 hash;       // record_hash(key, bytes)
  // The open fold behind `state`; null after a copy (the next refold starts afresh).
  std::unique_ptr<RecordFolder> folder;

  ReplicaRecord() = default;
  ReplicaRecord(const ReplicaRecord& o) : ops(o.ops), state(o.state), bytes(o.bytes), hash(o.hash) {}
  ReplicaRecord& operator=(const ReplicaRecord& o) {
    if (this != &o) *this = ReplicaRecord(o);
    return *this;
  }
  ReplicaRecord(ReplicaRecord&&) noexcept = default;
  ReplicaRecord& operator=(ReplicaRecord&&) noexcept = default;
};

// What a replica's merge reads of the roster: the replicated roster for the
// members it admitted, the cards for everyone else.
class ReplicaRoster final : public RosterAt {
 public:
  Standing standing(const NodeId& origin, Seq seq) const override;

  LocalRoster cards;
  ReplicatedRoster replicated;
};

class Replica final : public ChainView {
 public:
  Replica() = default;
  // Copies and moves drop the open folds (they point at their replica).
  Replica(const Replica& o);
  Replica(Replica&& o) noexcept;
  Replica& operator=(const Replica& o);
  Replica& operator=(Replica&& o) noexcept;
  ~Replica() override = default;

  // `d` must be authentic (verify_single / verify_range / build_delta).
  // Ok when applied, and for an exact duplicate of a held delta (no change).
  // Errors: sequence_gap (predecessor or a named dependency not held),
  // broken_chain (prev is not the held predecessor's id, or a dependency
  // names another delta than the one held at that seq), equivocation (it
  // forks from a held delta: evidence kept and origin frozen; or its origin
  // is frozen and it lies beyond the freeze), malformed_body (a dependency
  // that names no valid origin).
  Status apply(const VerifiedDelta& d);

  // Evidence learnt from elsewhere: two authentic deltas of one origin and
  // seq with different ids. Freezes the origin as apply() would.
  // Errors: invalid_argument when the pair is not an equivocation.
  Status apply_evidence(const VerifiedDelta& a, const VerifiedDelta& b);

  // The cards' roles the merge reads for origins the replicated roster has
  // not admitted. Records touched by an origin whose role changed are
  // refolded.
  void set_roster(LocalRoster roster);
  const LocalRoster& roster() const { return roster_.cards; }
  // The roster derived from the held membership deltas; it changes (and the
  // records of the origins whose standing it changed are refolded) when a
  // membership delta is applied or dropped by a freeze.
  const ReplicatedRoster& replicated_roster() const { return roster_.replicated; }
  // ChainView: an operation of a held delta.
  const v1::Operation* operation(const NodeId& origin, Seq seq, std::uint32_t index) const override;

  // 0 when nothing is held from `origin`.
  Seq head(const NodeId& origin) const;
  std::optional<DeltaId> head_id(const NodeId& origin) const;
  // Held deltas of `origin`: seq 1..head in order (empty if none).
  const std::vector<VerifiedDelta>& log(const NodeId& origin) const;
  std::vector<NodeId> origins() const;
  bool holds(const NodeId& origin, Seq seq, const DeltaId& id) const;
  std::size_t delta_count() const { return delta_count_; }
  // The last seq kept of a frozen origin.
  std::optional<Seq> frozen_at(const NodeId& origin) const;
  const std::vector<v1::EquivocationEvidence>& evidence() const { return evidence_; }

  const Hash256& digest() const { return digest_.value(); }
  const std::map<RecordKey, ReplicaRecord>& records() const { return records_; }
  const ReplicaRecord* record(const RecordKey& key) const;
  std::size_t op_count() const { return op_count_; }
  // Operations that name no record validly (op_target failed), with why.
  const std::vector<v1::RejectedOp>& untargeted() const { return untargeted_; }

  // Reservations whose (created) request names `placement`.
  std::vector<RecordKey> reservations_of(const RecordKey& placement) const;
  // placement_availability over the held placement and its reservations;
  // empty when the placement is not held.
  std::vector<WindowAvailability> availability(const RecordKey& placement) const;

 private:
  using Fresh = std::map<RecordKey, std::vector<const PositionedOp*>>;
  void add_ops(const VerifiedDelta& d, Fresh& fresh);
  // Folds `fresh` (just added to the record) into its state; with none, or
  // when they do not sort last, folds every operation again.
  void refold(const RecordKey& key, const std::vector<const PositionedOp*>& fresh);
  void freeze(const NodeId& origin, Seq fork, v1::EquivocationEvidence evidence);
  // Refolds from scratch every record the held operations of `origin` touch.
  void refold_origin(const NodeId& origin);
  FoldContext context() const { return {roster_, *this}; }
  void drop_folds();
  // Derives the replicated roster again from the held membership deltas and
  // refolds the origins whose admission, role or cut it changed.
  void derive_roster();
  static std::optional<RecordKey> placement_of(const v1::RecordState& reservation);

  ReplicaRoster roster_;
  // (origin, seq) of every held delta that carries a membership operation.
  std::set<std::pair<NodeId, Seq>> membership_;
  std::map<NodeId, std::vector<VerifiedDelta>> logs_;
  std::map<NodeId, Seq> frozen_;
  std::vector<v1::EquivocationEvidence> evidence_;
  std::map<RecordKey, ReplicaRecord> records_;
  std::map<RecordKey, std::set<RecordKey>> reservations_by_placement_;
  std::vector<v1::RejectedOp> untargeted_;
  StateDigest digest_;
  std::size_t delta_count_ = 0;
  std::size_t op_count_ = 0;
};

// A reference to a held delta, for DeltaDraft.deps.
v1::DeltaRef delta_ref(const VerifiedDelta& d);

}  // namespace conect
