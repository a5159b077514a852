// Standings, chain views and the reference rule (authority.h).
#include "conect/crdt/authority.h"

namespace conect {
namespace {

class NoRoster final : public RosterAt {
 public:
  Standing standing(const NodeId&, Seq) const override { return {}; }
};

class NoChains final : public ChainView {
 public:
  const v1::Operation* operation(const NodeId&, Seq, std::uint32_t) const override { return nullptr; }
};

std::string short_hex(std::string_view raw) { return to_hex(raw).substr(0, 16); }

// The FieldWrite group that creates records of `type` (organisations and
// contacts: the types a reference may name).
v1::FieldWrite::GroupCase creating_group(v1::RecordType type) {
  switch (type) {
    case v1::ORGANISATION:
      return v1::FieldWrite::kOrganisation;
    case v1::CONTACT:
      return v1::FieldWrite::kContact;
    default:
      return v1::FieldWrite::GROUP_NOT_SET;
  }
}

const char* type_name(v1::RecordType type) { return type == v1::ORGANISATION ? "organisation" : "contact"; }

}  // namespace

Standing LocalRoster::standing(const NodeId& origin, Seq) const {
  auto it = roles_.find(origin);
  return it == roles_.end() ? Standing{} : Standing{it->second, Errc::ok, {}};
}

bool LocalRoster::set(const NodeId& id, std::optional<v1::MemberRole> role) {
  auto it = roles_.find(id);
  if (!role) {
    if (it == roles_.end()) return false;
    roles_.erase(it);
    return true;
  }
  if (it != roles_.end() && it->second == *role) return false;
  roles_[id] = *role;
  return true;
}

DeltaSetView::DeltaSetView(std::span<const VerifiedDelta> deltas) {
  for (const auto& d : deltas) add(d);
}

void DeltaSetView::add(const VerifiedDelta& d) { bodies_.emplace(std::pair{d.origin, d.seq}, &d.body); }

const v1::Operation* DeltaSetView::operation(const NodeId& origin, Seq seq, std::uint32_t index) const {
  auto it = bodies_.find({origin, seq});
  if (it == bodies_.end() || index >= static_cast<std::uint32_t>(it->second->ops_size())) return nullptr;
  return &it->second->ops(static_cast<int>(index));
}

const FoldContext& empty_fold_context() {
  static const NoRoster roster;
  static const NoChains chains;
  static const FoldContext context{roster, chains};
  return context;
}

std::optional<Error> standing_refusal(const Standing& standing) {
  if (standing.refused != Errc::ok) return Error(standing.refused, standing.why);
  if (standing.role == v1::AUDITOR)
    return Error(Errc::not_authorised, "its origin is an auditor, and auditors author no records (DESIGN §2 Roles)");
  return std::nullopt;
}

std::optional<Error> check_own_reference(const ChainView& chains, const NodeId& owner, Seq seq, v1::RecordType type,
                                         const v1::RecordId& ref, std::string_view what) {
  const std::string field(what);
  if (ref.owner() != owner.raw())
    return Error(Errc::not_authorised, field + " names " + type_name(type) + " " + short_hex(ref.owner()) + "-" +
                                           std::to_string(ref.serial()) + " of another member; a record names only " +
                                           type_name(type) + "s its own member " + owner.hex().substr(0, 16) +
                                           " speaks for");
  Seq minted{ref.serial() >> 16};
  auto index = static_cast<std::uint32_t>(ref.serial() & 0xffff);
  const v1::Operation* op = minted.value >= 1 && minted <= seq ? chains.operation(owner, minted, index) : nullptr;
  bool creates = op && op->has_write() && op->write().group_case() == creating_group(type) &&
                 op->write().id().owner() == ref.owner() && op->write().id().serial() == ref.serial();
  if (!creates)
    return Error(Errc::invalid_argument, field + " names " + short_hex(ref.owner()) + "-" +
                                             std::to_string(ref.serial()) + ", which its owner had not created as " +
                                             (type == v1::ORGANISATION ? "an " : "a ") + type_name(type) +
                                             " by delta " + std::to_string(seq.value));
  return std::nullopt;
}

}  // namespace conect
