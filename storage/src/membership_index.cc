// The membership index (origin || seq of each stored delta carrying a
// membership operation) and the refold a roster change calls for: when the
// replicated roster derived from the stored membership deltas changes an
// origin's standing (admitted, role, cut), every record its stored
// operations touch is refolded in the same transaction (authority.h).
#include "codec.h"
#include "fold_context.h"
#include "store_impl.h"

namespace conect::storage {
namespace {

void extend_tag(Writer& w, const DeltaId& id) {
  std::string input;
  if (auto v = w.get(w.db.meta, meta::kMembershipTag)) input = std::string(*v);
  input += id.raw();
  w.put(w.db.meta, meta::kMembershipTag, blake2b256(input).raw());
}

// What the fold reads of a member: whether it is admitted, its role, its cut.
struct FoldView {
  bool admitted = false;
  v1::MemberRole role = v1::MEMBER_ROLE_UNSPECIFIED;
  std::optional<Seq> cut;
  bool operator==(const FoldView&) const = default;
};

FoldView view_of(const ReplicatedRoster& r, const NodeId& id) {
  const MemberState* m = r.member(id);
  if (!m || !m->admitted) return {};
  return {true, m->role, m->cut};
}

}  // namespace

void note_membership(Writer& w, GroupState& g, const VerifiedDelta& d) {
  if (!g.roster_before) g.roster_before = stored_roster(w.txn(), w.db, g.frozen);
  w.put(w.db.membership, codec::position_key(d.origin, d.seq), std::string_view("", 0));
  extend_tag(w, d.id);
}

void membership_changed(Writer& w, GroupState& g) {
  auto after = stored_roster(w.txn(), w.db, g.frozen);
  std::set<NodeId> ids;
  for (const auto& [id, m] : g.roster_before->members()) ids.insert(id);
  for (const auto& [id, m] : after->members()) ids.insert(id);
  for (const NodeId& id : ids)
    if (!(view_of(*g.roster_before, id) == view_of(*after, id))) touch_stored_range(w, g, id, Seq{1}, Seq{UINT64_MAX});
  g.roster_before.reset();
}

void rebuild_membership_index(Writer& w) {
  {
    auto c = w.cursor(w.db.membership);
    std::vector<std::string> keys;
    for (bool ok = c.first(); ok; ok = c.next()) keys.emplace_back(c.key());
    for (const auto& k : keys) w.del(w.db.membership, k);
  }
  w.del(w.db.meta, meta::kMembershipTag);
  auto c = w.cursor(w.db.log);
  const Keys& keys = w.keys();
  for (bool ok = c.first(); ok; ok = c.next()) {
    v1::SignedDelta sd;
    v1::DeltaBody body;
    if (!sd.ParseFromString(keys.signed_delta(c.key(), c.value())) || !body.ParseFromString(sd.body())) continue;
    if (!carries_membership(body)) continue;
    auto [origin, seq] = keys.log_position(c.key());
    w.put(w.db.membership, codec::position_key(origin, seq), std::string_view("", 0));
    extend_tag(w, compute_delta_id(sd.body(), sd.signature()));
  }
}

}  // namespace conect::storage
