// What the merge reads beyond one record's own operations: the roster as of
// each delta (DESIGN §2 Roles) and the operations of held chains (DESIGN §3:
// "whether the named ids agree with the records they refer to is checked by
// the merge, over the set of deltas, identically on every node").
//
// A record's state is a pure function of its operations and a FoldContext.
// So every answer a context gives must itself be a pure function of what a
// node holds (its deltas, and its roster), never of arrival order or time:
//
//   RosterAt::standing(origin, seq)
//     The origin's standing as of its delta `seq`: its role, and whether it
//     may author anything at that point at all. Today's roster is each
//     node's local one (member cards; the same answer at every seq). The
//     replicated roster (membership operations, DESIGN §2) answers per seq:
//     a removal with a cut refuses the origin beyond `last_seq`, an admission
//     gives a role from its seq on, a key replaced after `last_seq` refuses
//     what the old key signed beyond it.
//   ChainView::operation(origin, seq, index)
//     An operation of a held delta. The fold asks only for positions in the
//     asking operation's own origin's chain at or before the asking delta,
//     which every node holding the asker holds too (chains are gap-free from
//     seq 1; an equivocating origin's operations from its fork on count
//     nowhere), so the answer is the same on every such node.
//
// Whoever keeps folded records (storage, the in-memory Replica) refolds the
// records an origin's operations touched when its standing changes for some
// seqs (a card replaced or removed; later, a membership operation that
// arrives after the deltas it rules on): see refold_origin in storage and
// Replica::set_roster. Chain answers never change (deltas are immutable).
//
// What the fold does with them (merge.h lists every rule):
//   - an operation whose origin's standing is `refused` has no effect and is
//     listed in `rejected` with that rule and detail;
//   - an auditor authors nothing (DESIGN §2 Roles): every operation of an
//     origin whose role at that seq is AUDITOR is rejected (not_authorised);
//   - a placement's host_organisation and mentor_contact, and a contact's
//     organisation, must name records of the writing record's owner, minted
//     (created) no later than the writing delta: see check_own_reference.
#pragma once

#include <map>
#include <optional>
#include <span>
#include <string>

#include "conect/crdt/delta.h"
#include "conect/crdt/error.h"
#include "conect/crdt/types.h"
#include "delta.pb.h"

namespace conect {

// An origin's standing at one point of its chain.
struct Standing {
  // Its role there; MEMBER_ROLE_UNSPECIFIED when the roster does not know it
  // (no role rule applies then: which origins a node takes deltas from at
  // all is decided before the merge, DESIGN §2).
  v1::MemberRole role = v1::MEMBER_ROLE_UNSPECIFIED;
  // Errc::ok, or the rule under which it may author nothing at this point
  // (every operation is rejected with this rule and `why`).
  Errc refused = Errc::ok;
  std::string why;
  // Refused only because the origin was cut off (removed, or left) before
  // this point: the fold still counts a requester's cancel of its own
  // reservation (it only frees slots; fold.cc, Folder::apply).
  bool cut = false;

  bool operator==(const Standing&) const = default;
};

// The roster at (origin, seq). Implementations: LocalRoster (below; the
// Replica, the audit verifier), storage's own over its `members` table.
class RosterAt {
 public:
  virtual ~RosterAt() = default;
  virtual Standing standing(const NodeId& origin, Seq seq) const = 0;
};

// The roster as nodes keep it today: one card, so one role, per member, the
// same at every seq. Origins it does not list have no role (Standing{}).
class LocalRoster final : public RosterAt {
 public:
  LocalRoster() = default;
  explicit LocalRoster(std::map<NodeId, v1::MemberRole> roles) : roles_(std::move(roles)) {}
  Standing standing(const NodeId& origin, Seq seq) const override;
  // The role of `id`, or unset to forget it. Returns whether it changed.
  bool set(const NodeId& id, std::optional<v1::MemberRole> role);
  const std::map<NodeId, v1::MemberRole>& roles() const { return roles_; }

 private:
  std::map<NodeId, v1::MemberRole> roles_;
};

// Operations of held deltas, by position.
class ChainView {
 public:
  virtual ~ChainView() = default;
  // Operation `index` of delta `seq` of `origin`, or nullptr when that
  // delta is not held (or has no such operation). The pointer is valid
  // until the next call on the view.
  virtual const v1::Operation* operation(const NodeId& origin, Seq seq, std::uint32_t index) const = 0;
};

// The operations of a given set of deltas (tests, tools, the fuzzers); the
// deltas must outlive the view. Of two deltas at one (origin, seq) the first
// given is used.
class DeltaSetView final : public ChainView {
 public:
  DeltaSetView() = default;
  explicit DeltaSetView(std::span<const VerifiedDelta> deltas);
  void add(const VerifiedDelta& d);
  const v1::Operation* operation(const NodeId& origin, Seq seq, std::uint32_t index) const override;

 private:
  std::map<std::pair<NodeId, Seq>, const v1::DeltaBody*> bodies_;
};

// Everything fold_record and RecordFolder read besides the operations. Both
// must outlive the fold.
struct FoldContext {
  const RosterAt& roster;
  const ChainView& chains;
};

// A context that knows no roster and holds no chains: for folds that need
// neither (a record without references, the fuzzers). Placements and
// contacts naming other records fold as if those were never created.
const FoldContext& empty_fold_context();

// The reason an operation at `at` may not be applied under `standing`:
// refused standing (its rule), or an auditor (not_authorised); nullopt when
// it may.
std::optional<Error> standing_refusal(const Standing& standing);

// A reference from a record owned by `owner`, written by the operation at
// (origin, seq), to a record of type `type` (an ORGANISATION or a CONTACT):
// `ref` must be owned by `owner` (else not_authorised: a member names only
// organisations and contacts it speaks for), and the operation its id was
// minted from (serial = seq << 16 | index, RecordKey::mint) must lie in a
// delta of `owner` no later than `seq` and be a FieldWrite of that type's
// group on that very id (else invalid_argument: it names no such record).
// `what` names the field in the detail ("host_organisation").
std::optional<Error> check_own_reference(const ChainView& chains, const NodeId& owner, Seq seq, v1::RecordType type,
                                         const v1::RecordId& ref, std::string_view what);

}  // namespace conect
