// Signed deltas and their hash chains (DESIGN §4).
//
//   signature = Ed25519(origin, "conect/delta/v1" || BLAKE2b-256(body))
//   delta id  = BLAKE2b-256(u32be(len(body)) || body || u32be(len(sig)) || sig)
//
// Each body names the delta id of its predecessor, so one verified signature
// at the end of a contiguous range vouches for every delta (and every
// signature) before it.
//
// Which verification the sync uses: catch-up batches arrive as contiguous
// ranges and are checked with verify_range() (links + the last signature);
// a delta that arrives alone (live push) is checked with verify_single().
// Both parse the body once and hand back a VerifiedDelta, so nothing is
// parsed or hashed twice on the way to storage.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "conect/crdt/error.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/types.h"
#include "delta.pb.h"

namespace conect {

// The maximum size of a signed delta accepted from anywhere.
inline constexpr std::size_t kMaxDeltaBytes = 256 * 1024;

DeltaId compute_delta_id(std::string_view body, std::string_view signature);

// A delta whose bytes parsed and whose authenticity was established (by its
// own signature or by a later one whose chain reaches it).
struct VerifiedDelta {
  v1::SignedDelta signed_delta;  // the exact bytes
  v1::DeltaBody body;            // parsed once
  NodeId origin;
  Seq seq;
  Hlc hlc;
  DeltaId id;
  DeltaId prev;  // all zero for seq 1
};

// Everything an author decides; the writer fills seq, prev and hlc.
struct DeltaDraft {
  std::vector<v1::Operation> ops;
  std::vector<v1::DeltaRef> deps;
};

// Builds and signs the next delta of `key`'s chain.
VerifiedDelta build_delta(const KeyPair& key, const FederationId& federation, Seq seq, const DeltaId& prev, Hlc hlc,
                          const DeltaDraft& draft);
// The same for member `origin` whose current key (after a Rotate or Rekey,
// crdt/membership.h) is `signer`: the member id stays the origin.
VerifiedDelta build_delta(const KeyPair& signer, const NodeId& origin, const FederationId& federation, Seq seq,
                          const DeltaId& prev, Hlc hlc, const DeltaDraft& draft);

// Drops everything from a SignedDelta wrapper but body and signature (the
// only signed parts); true when there was something to drop. decode_delta
// calls it, so a VerifiedDelta is always bare: what is stored and relayed is
// exactly body + signature, whatever a peer wrapped around them.
bool strip_wrapper(v1::SignedDelta& d);
bool wrapper_is_bare(const v1::SignedDelta& d);

// Parses a SignedDelta without checking authenticity (for relays and range
// checks); the result's signed_delta holds only body and signature. Errors:
// malformed_body, wrong_federation, limit_exceeded.
Result<VerifiedDelta> decode_delta(const FederationId& federation, std::string_view signed_bytes);
Result<VerifiedDelta> decode_delta(const FederationId& federation, v1::SignedDelta signed_delta);

// Checks one delta's own signature. Errors: as decode_delta, bad_signature.
Result<VerifiedDelta> verify_single(const FederationId& federation, v1::SignedDelta signed_delta);

// Checks a contiguous range of one origin's chain: every delta decodes, all
// share one origin, seqs step by one, each prev equals the id of the delta
// before it (and the first one's prev equals `expected_prev`, pass the stored
// head's id, or zero when the range starts at seq 1), and the LAST delta's
// signature verifies. Errors name the offending seq: broken_chain,
// sequence_gap, bad_signature, malformed_body, wrong_federation.
Result<std::vector<VerifiedDelta>> verify_range(const FederationId& federation, const DeltaId& expected_prev,
                                                std::vector<v1::SignedDelta> range);

}  // namespace conect
