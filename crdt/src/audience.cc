#include "conect/crdt/audience.h"

namespace conect {

std::optional<Hash256> personal_commitment(const v1::RecordState& state) {
  const v1::PersonalRef* ref = nullptr;
  if (state.has_mobility()) ref = &state.mobility().fixed().participant().personal();
  if (state.has_contact()) ref = &state.contact().personal();
  if (!ref) return std::nullopt;
  return Hash256::from_raw(ref->commitment());
}

std::set<NodeId> personal_audience(const RecordKey& key, const v1::RecordState& state,
                                   const std::map<NodeId, v1::MemberRole>& roles) {
  std::set<NodeId> out;
  if (state.has_mobility()) {
    out.insert(key.owner);
    if (auto host = NodeId::from_raw(state.mobility().fixed().receiving_organisation().owner())) out.insert(*host);
    return out;
  }
  if (!state.has_contact()) return out;
  out.insert(key.owner);
  const auto& a = state.contact().audience();
  switch (a.kind()) {
    case v1::AUDIENCE_MEMBERS:
      for (const auto& m : a.members())
        if (auto id = NodeId::from_raw(m)) out.insert(*id);
      break;
    case v1::AUDIENCE_LOCAL:
      break;
    default:  // FEDERATION, and kinds a newer version may add: the default
      for (const auto& [id, role] : roles)
        if (role != v1::AUDITOR) out.insert(id);
      break;
  }
  return out;
}

std::map<NodeId, v1::MemberRole> roles_of(const std::vector<std::pair<NodeId, v1::MemberCard>>& members) {
  std::map<NodeId, v1::MemberRole> out;
  for (const auto& [id, card] : members) {
    v1::MemberCardBody body;
    if (body.ParseFromString(card.body())) out.emplace(id, body.role());
  }
  return out;
}

std::string audience_description(const RecordKey&, const v1::RecordState& state) {
  if (state.has_mobility()) return "the sending node and the node that speaks for the receiving organisation";
  if (!state.has_contact()) return "nobody (this record has no personal data)";
  switch (state.contact().audience().kind()) {
    case v1::AUDIENCE_MEMBERS:
      return "the contact's owner and the members it listed";
    case v1::AUDIENCE_LOCAL:
      return "the contact's owner only (audience local)";
    default:
      return "every member that is not an auditor (audience federation)";
  }
}

}  // namespace conect
