// The replicated roster (DESIGN §2): derived from the membership operations
// (Found, Admit, Remove, Leave, Rotate, Rekey, CardUpdate; delta.proto) that
// members write into their own logs, identically on every node that holds
// the same deltas, whatever order they arrived in.
//
// The derivation is a pure function of the SET of membership deltas: it
// depends on their causal order and on written tie-breaks, never on the
// order they arrived in nor on the order it visits concurrent ones in (a
// test visits them at random and compares).
//   - Causal past. A membership delta follows the membership deltas it
//     relied on: the earlier ones of its own chain, and for each delta it
//     names in deps (origin P, seq t) P's membership deltas up to t,
//     transitively; kept as a version vector (per origin the largest
//     membership seq in it: a chain's past is a prefix of it).
//   - Causal standing (DESIGN §2 Determinism: an operation "counts only if
//     its own declared dependencies show its author admitted and not cut off
//     at that point"). The author of an operation (and the member a Remove or
//     Rekey names) counts as admitted only if its Found, or `quorum` (the
//     smallest a Found in that past named) counting Admits of it by distinct
//     members, lie in its past: an Admit by a member whose own admission is
//     concurrent with it counts on no node, whatever the delta ids.
//   - Cuts are global: an operation beyond its author's cut counts nowhere
//     (but a requester's cancel of its own reservation, in the fold),
//     also when its author had not seen its removal (else a member voted
//     out could keep admitting by leaving its removal out of its deps). The
//     cuts are settled one at a time: evaluate every operation under the
//     cuts decided so far; of the cuts the counting votes and leaves then
//     imply, decide first one none of whose voters another pending cut would
//     cut off, then the one with the lowest delta id among its votes (so of
//     two mutual removals the lower delta id wins); re-evaluate; until no
//     new cut is implied. A decided cut is final.
//   An operation that does not count is listed in rejected() (ordered by
//   origin, seq, index) with its rule and changes nothing.
//
// The rules (each a reason an operation is rejected):
//   Found{card, quorum}: card self-signed by the author (bad_signature),
//     of this federation (wrong_federation), quorum >= 1 (invalid_argument),
//     author not cut off at that seq (not_authorised). The author is a
//     member (a founder); the quorum is the smallest any counting Found
//     named (DESIGN: "1 unless all members say otherwise").
//   Admit{card}: author a current member (not_authorised: not admitted in
//     its past, or beyond its cut), card self-signed by its own member
//     (bad_signature), of this federation; not for a member whose removal
//     or leave lies in the Admit's past (not_authorised: a removed member
//     comes back only under a new identity; a cut is final anyway). A second
//     admission by the same member is a no-op. The card's member is admitted
//     when `quorum` distinct members' Admits of it count; its card is the
//     admitted card with the largest issued_ms (ties: the smaller bytes).
//   Remove{member, last_seq}: author a current member other than `member`
//     (not_authorised), member admitted in its past (not_found). A vote: a
//     voter's first counts, a later one by the same voter does not, nor one
//     with the member's removal or leave in its past (already_exists: a
//     decided cut is final, whatever deps a late vote declares); at `quorum`
//     distinct voters the member is cut at the quorum-th largest last_seq
//     named.
//   Leave: author a current member: cut at the delta carrying it (the
//     earlier of a leave and a removal cut counts).
//   Rotate{keys, proof}: author a current member; new_identity_key a valid
//     32-byte key that is no member's id, is offered for no other member and
//     was not rotated to before by this member (already_exists), proof by
//     the new key over member id || new key (bad_signature). Deltas of the
//     author after the one carrying it are signed by the new key.
//   Rekey{member, new_key, last_seq, proof}: author a current member other
//     than `member`, member admitted in its past, key and proof as Rotate. A
//     vote; at `quorum` distinct voters naming the same new_key (each
//     voter's latest vote for it) the member's key is new_key from the
//     quorum-th largest last_seq + 1 on. A Rotate of the member after that
//     last_seq counts only if a quorum of those votes lies in its past (the
//     member continued its log with the new key); otherwise the old key
//     signed it and it is dropped.
//   CardUpdate{card}: author a current member, card of the author's id
//     signed by its key at that delta (bad_signature), same federation; the
//     role stays the admitted one (not_authorised otherwise). The latest
//     counting one is the member's card.
//
// What a node reads from the result: standing(origin, seq) (the merge's
// RosterAt: a cut member is refused beyond its cut), key_at(origin, seq) (the
// key a delta's signature must verify under), and the members with their
// cards and state (member list, the sync's set of trusted origins).
//
// Not thread-safe; immutable after derive().
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "conect/crdt/authority.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/error.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/types.h"
#include "delta.pb.h"

namespace conect {

// True for operations 10-16 (Found ... CardUpdate).
bool is_membership_op(const v1::Operation& op);
// True when some operation of the body is a membership operation.
bool carries_membership(const v1::DeltaBody& body);

// What the derivation reads of one delta that carries membership operations.
struct MembershipDelta {
  NodeId origin;
  Seq seq;
  DeltaId id;
  std::vector<v1::DeltaRef> deps;
  // (index in the delta, operation); only the membership ones are read.
  std::vector<std::pair<std::uint32_t, v1::Operation>> ops;

  static MembershipDelta from(const VerifiedDelta& d);
};

struct MemberState {
  NodeId id;
  bool admitted = false;
  bool founder = false;
  v1::MemberCard card;  // the admitted (or latest updated) card
  v1::MemberRole role = v1::MEMBER_ROLE_UNSPECIFIED;
  std::set<NodeId> admitted_by;  // distinct members whose Admit counted
  // Causal standing: the seq of the member's own Found, and per admitter the
  // seq of its first counting Admit of this member (also those after the
  // quorum was reached: a later operation may have those in its past and not
  // the ones the replay took first).
  std::optional<Seq> found_seq;
  std::map<NodeId, Seq> admissions;
  // Deltas after `cut` count nowhere; why: "removed" or "left".
  std::optional<Seq> cut;
  std::string cut_reason;
  std::map<NodeId, Seq> removal_votes;
  // Signing keys by the first seq they sign: {1, id} first.
  std::map<Seq, NodeId> keys;
  std::string seal_key;          // latest announced by Rotate (raw 32 bytes) or empty
  std::string noise_static_key;  // idem
  // Rekey votes: voter -> (new key, last_seq).
  std::map<NodeId, std::pair<NodeId, Seq>> rekey_votes;
};

struct RejectedMembershipOp {
  NodeId origin;
  Seq seq;
  std::uint32_t index = 0;
  Errc rule = Errc::ok;
  std::string detail;
};

// Proof that the holder of `new_key` agrees to sign for `member`:
// Ed25519(new_key, "conect/rotate/v1" || BLAKE2b-256(member || new_key)).
std::string rotation_proof_message(const NodeId& member, const NodeId& new_key);

// A key offer: what a member whose key is lost or stolen hands the quorum
// (`conect-node key offer`), one line
// "conect-key:<member hex>:<new key hex>:<proof hex>", the proof as
// rotation_proof_message signs it. The quorum's `key replace` turns it into
// a Rekey.
struct KeyOffer {
  NodeId member;
  NodeId key;
  std::string proof;  // 64 raw bytes
};
inline constexpr std::string_view kKeyOfferPrefix = "conect-key:";
std::string format_key_offer(const NodeId& member, const KeyPair& new_key);
// Refused with a plain reason: not an offer, a part that is not hex of the
// right length, or a proof that does not verify under the offered key.
Result<KeyOffer> parse_key_offer(std::string_view text);

// A verified card body: signed by `signer` (domain member_card).
std::optional<v1::MemberCardBody> verified_card_body(const v1::MemberCard& card, const NodeId& signer);

// A member card: `body` serialised and signed by `key` (domain member_card).
v1::MemberCard sign_card(const KeyPair& key, const v1::MemberCardBody& body);

// The operations, built (what the CLI, the daemon and the tests author).
namespace membership_ops {
v1::Operation found(const v1::MemberCard& own_card, std::uint32_t admission_quorum);
v1::Operation admit(const v1::MemberCard& card);
v1::Operation remove(const NodeId& member, Seq last_seq);
v1::Operation leave();
// `member` is the author's member id (its first key); new_key the key pair
// that signs from the next delta on. Seal and Noise keys may be empty.
v1::Operation rotate(const NodeId& member, const KeyPair& new_key, std::string seal_key = {},
                     std::string noise_static_key = {});
v1::Operation rekey(const NodeId& member, const KeyPair& new_key, Seq last_seq);
// From an offer the member made (its proof inside).
v1::Operation rekey(const KeyOffer& offer, Seq last_seq);
v1::Operation card_update(const v1::MemberCard& card);
}  // namespace membership_ops

class ReplicatedRoster final : public RosterAt {
 public:
  ReplicatedRoster() = default;
  // Any order of `deltas`, duplicates allowed (same origin and seq: the first
  // counts). Deltas of other federations should not be given.
  // `visit_seed` (tests only) visits concurrent deltas in a random order
  // instead of by delta id: the roster must not change.
  static ReplicatedRoster derive(const FederationId& federation, std::span<const MembershipDelta> deltas,
                                 std::optional<std::uint64_t> visit_seed = std::nullopt);

  // RosterAt: an admitted member's role; refused (not_authorised) beyond its
  // cut; Standing{} for an origin that is not an admitted member (whether a
  // node takes its deltas at all is decided before the merge).
  Standing standing(const NodeId& origin, Seq seq) const override;
  // The key `origin`'s delta `seq` must be signed with: the member id itself
  // unless a Rotate or Rekey changed it.
  NodeId key_at(const NodeId& origin, Seq seq) const;
  bool admitted(const NodeId& id) const;
  // Admitted members whose deltas a node takes (a cut member still: its
  // history up to the cut is valid).
  std::vector<NodeId> admitted_ids() const;
  const MemberState* member(const NodeId& id) const;
  const std::map<NodeId, MemberState>& members() const { return members_; }
  // 0 before any Found counted.
  std::uint32_t quorum() const { return quorum_; }
  const std::vector<RejectedMembershipOp>& rejected() const { return rejected_; }
  // A canonical encoding of everything derived (members, cuts, keys,
  // quorum, rejections): equal on nodes that derived the same roster.
  std::string fingerprint() const;

 private:
  std::map<NodeId, MemberState> members_;
  std::uint32_t quorum_ = 0;
  std::vector<RejectedMembershipOp> rejected_;
};

}  // namespace conect
