// Who may hold a record's personal data (DESIGN §5, docs/privacy.md).
//
//   mobility: the sending node (the record's owner) and the node that speaks
//             for the receiving organisation (the owner embedded in that
//             organisation's id), fixed at creation like the participant;
//   contact:  chosen by its owner in the signed field Contact.audience:
//             FEDERATION (unset; every member that is not an auditor),
//             MEMBERS (the owner and the listed members) or LOCAL (the owner).
// Other records carry no personal data. The owner is always in the audience.
//
// A pure function of the signed record and the roster's roles, so every node
// computes the same audience from the same deltas: the owner to decide whom
// to seal to, a recipient to refuse an envelope delivered outside it, and the
// API to say why a node does not hold something.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "conect/crdt/merge.h"
#include "conect/crdt/types.h"
#include "delta.pb.h"
#include "state.pb.h"

namespace conect {

// The personal data a record refers to: its commitment, when it has one.
std::optional<Hash256> personal_commitment(const v1::RecordState& state);

// Members that may hold the record's personal data. `roles` is the roster
// (member id -> role); a member missing from it is not in a FEDERATION
// audience, and an auditor never is (DESIGN §2: auditors receive everything
// that is not personal data).
std::set<NodeId> personal_audience(const RecordKey& key, const v1::RecordState& state,
                                   const std::map<NodeId, v1::MemberRole>& roles);

// member id -> role, from the roster's member cards (cards whose body does
// not parse are left out).
std::map<NodeId, v1::MemberRole> roles_of(const std::vector<std::pair<NodeId, v1::MemberCard>>& members);

// Plain words for the API: who the audience is, e.g. "the sending node and
// the node of the receiving organisation".
std::string audience_description(const RecordKey& key, const v1::RecordState& state);

}  // namespace conect
