// Test and benchmark support (not part of the node): a member that authors a
// signed chain of deltas from a deterministic key, and small helpers to fold
// records from deltas.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "conect/crdt/delta.h"
#include "conect/crdt/hlc.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/merge.h"

namespace conect::testkit {

// The key pair derived from seed bytes {n, n, ..., n} xor a tag: cheap,
// deterministic and distinct per n.
KeyPair test_key(std::uint32_t n);
FederationId test_federation();

class Author {
 public:
  explicit Author(std::uint32_t n, FederationId federation = test_federation());
  explicit Author(const KeyPair& key, FederationId federation = test_federation());

  const NodeId& id() const { return key_.public_key(); }
  const KeyPair& key() const { return key_; }
  Seq seq() const { return seq_; }
  const DeltaId& head() const { return prev_; }
  HlcClock& clock() { return clock_; }

  // The key of the record that operation `index` of the NEXT delta creates.
  RecordKey next_key(v1::RecordType type, std::uint32_t index = 0) const;
  // Builds and signs the next delta; the HLC ticks at `now_ms` (default: a
  // process-wide counter, so deltas emitted later sort later whoever emits them).
  VerifiedDelta emit(std::vector<v1::Operation> ops, std::vector<v1::DeltaRef> deps = {}, std::uint64_t now_ms = 0);
  // Same seq/prev/hlc logic but does not advance the chain (for forks).
  VerifiedDelta emit_fork(std::vector<v1::Operation> ops, std::uint64_t now_ms = 0);
  // Signs the next deltas with `key` (after a Rotate or Rekey); the member
  // id (id()) stays the first key's.
  void sign_with(const KeyPair& key) { signer_ = key; }

 private:
  KeyPair key_;
  std::optional<KeyPair> signer_;
  FederationId federation_;
  Seq seq_{};
  DeltaId prev_{};
  HlcClock clock_;
};

// The operations of `deltas` that touch `key`, positioned.
std::vector<PositionedOp> positioned_ops(const std::vector<VerifiedDelta>& deltas);
// Folds `key` over `deltas` with those deltas as the chains the references
// are checked against, and `roster` (none: no origin has a role).
v1::RecordState fold_from(const RecordKey& key, const std::vector<VerifiedDelta>& deltas,
                          const RosterAt* roster = nullptr);

}  // namespace conect::testkit
