// How the engine establishes that deltas are authentic (DESIGN §4).
//
// Verification happens in the engine, before anything reaches storage: the
// engine turns SignedDeltas into VerifiedDeltas and hands those to the node in
// ApplyBatch actions, so the store's write transaction only re-checks links
// (Store::apply's contract). This keeps every decision about a peer's
// honesty (bad signature, broken chain) next to the peer's state, where the
// engine can disconnect it.
//
// The verifier is an interface so that the 1,000-node benchmark can replace
// Ed25519 by a table lookup (it measures the protocol, not the CPU); every
// test and the node use default_verifier().
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "conect/crdt/delta.h"
#include "conect/crdt/error.h"
#include "conect/crdt/membership.h"
#include "delta.pb.h"

namespace conect::sync {

class DeltaVerifier {
 public:
  virtual ~DeltaVerifier() = default;
  // Parses a signed delta without checking its signature (crdt::decode_delta).
  virtual Result<VerifiedDelta> decode(const FederationId& federation,
                                       v1::SignedDelta delta) const = 0;
  // True when the delta's own signature verifies (under key_at).
  virtual bool signature_holds(const VerifiedDelta& delta) const = 0;
  // The key `origin`'s delta `seq` is signed with: the origin itself unless
  // the replicated roster says a Rotate or Rekey changed it.
  virtual NodeId key_at(const NodeId& origin, Seq seq) const;
  // True when the delta's signature verifies under `key` (Ed25519): for a
  // range that carries its own origin's rotation (check_range).
  virtual bool signature_holds_under(const VerifiedDelta& delta, const NodeId& key) const;
};

// crdt::decode_delta + Ed25519 under the origin's first key.
const DeltaVerifier& default_verifier();

// The node's verifier: each delta under the key the replicated roster
// (crdt/membership.h) says its origin signed with at its seq. set_roster and
// every check may run on any thread.
class RosterVerifier final : public DeltaVerifier {
 public:
  void set_roster(std::shared_ptr<const ReplicatedRoster> roster);
  Result<VerifiedDelta> decode(const FederationId& federation, v1::SignedDelta delta) const override;
  bool signature_holds(const VerifiedDelta& delta) const override;
  NodeId key_at(const NodeId& origin, Seq seq) const override;

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const ReplicatedRoster> roster_;
};

// A decoded contiguous range of one origin's chain.
struct CheckedRange {
  std::vector<VerifiedDelta> deltas;  // decoded, linked to each other, seqs stepping by one
  // Number of leading deltas vouched for by a signature: all of them up to and
  // including the last delta whose own signature verifies (DESIGN §4: one
  // signature covers everything its chain of links reaches). 0 when none of
  // the last kMaxSignatureTries does.
  std::size_t covered = 0;
};

// Signatures check_range tries, from the end, before it calls a range uncovered.
inline constexpr std::size_t kMaxSignatureTries = 4;

// The engine's form of crdt::verify_range: decodes every delta, requires one
// origin, seqs stepping by one from `first_seq`, each prev equal to the id of
// the delta before it; then checks signatures from the end backwards until
// one holds. `extend`, when given, is an uncovered chain the range continues
// (its first delta must link to extend's last). Errors: malformed_body,
// wrong_federation, limit_exceeded, sequence_gap, broken_chain.
// A delta of the range that carries its origin's Rotate, and whose own
// signature holds under the key of its seq, makes the range's later deltas
// checked under the rotated key (the roster learns it only once stored).
Result<CheckedRange> check_range(const DeltaVerifier& verifier, const FederationId& federation,
                                 std::uint64_t first_seq, std::vector<v1::SignedDelta> deltas,
                                 const VerifiedDelta* extend = nullptr);

// Body + signature: the unit every credit and buffer bound counts.
inline std::size_t delta_bytes(const v1::SignedDelta& d) {
  return d.body().size() + d.signature().size();
}

}  // namespace conect::sync
