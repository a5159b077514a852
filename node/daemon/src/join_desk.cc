#include "join_desk.h"

#include "conect/crdt/membership.h"
#include "conect/node/invite.h"
#include "conect/node/log.h"
#include "conect/node/wall_clock.h"
#include "handshake.pb.h"

namespace conect::node {

bool JoinDesk::open() const {
  auto invites = core_.store.invites();
  if (!invites.ok()) return false;
  // Used and expired invites keep the door open for a week after they
  // expire, so that a joiner hears why it is refused ("used already",
  // "expired") instead of a closed connection.
  constexpr std::uint64_t kExplainFor = 7ull * 24 * 3600 * 1000;
  const std::uint64_t now = wall_ms();
  for (const auto& [id, bytes] : *invites) {
    v1::StoredInvite s;
    if (s.ParseFromString(bytes) && now < s.expires_ms() + kExplainFor) return true;
  }
  return false;
}

std::string JoinDesk::refuse(const Error& e, const NodeId& joiner) {
  const std::string reason(errc_name(static_cast<Errc>(e.code.value())));
  core_.count("conect_join_refused_total", "Join requests refused, by reason", {{"reason", reason}});
  log::warn("join_refused", {{"joiner", short_id(joiner)}, {"reason", e.message()}});
  v1::JoinResponse r;
  r.set_admitted(false);
  r.set_error(reason);
  r.set_detail(e.detail);
  return r.SerializeAsString();
}

std::optional<Error> JoinDesk::pending(const NodeId& joiner) const {
  auto roster = core_.store.roster();
  if (!roster.ok()) return std::nullopt;
  const MemberState* m = (*roster)->member(joiner);
  if (m == nullptr || m->admitted || m->cut || m->admitted_by.empty()) return std::nullopt;
  return Error(Errc::not_authorised,
               "member " + short_id(joiner) + " is pending: admitted by " + std::to_string(m->admitted_by.size()) +
                   " of the " + std::to_string((*roster)->quorum()) +
                   " members needed; this node links with it once that many admitted it (`conect-node member "
                   "admit ID` at another member)");
}

std::string JoinDesk::answer(std::string_view request_bytes, std::string_view handshake_hash, const NodeId& joiner) {
  v1::JoinRequest request;
  if (!request.ParseFromArray(request_bytes.data(), static_cast<int>(request_bytes.size()))) {
    if (auto why = pending(joiner)) return refuse(*why, joiner);
    return refuse(Error(Errc::malformed_body, "the join request does not decode"), joiner);
  }
  auto stored_bytes = core_.store.invite(request.invite_id());
  if (!stored_bytes.ok()) return refuse(stored_bytes.error(), joiner);
  v1::StoredInvite stored;
  const bool found = stored_bytes->has_value() && stored.ParseFromString(**stored_bytes);
  auto card = check_join(request, found ? &stored : nullptr, core_.node.federation, handshake_hash, joiner, wall_ms());
  if (!card.ok()) {
    // A pending member dialling for sync sends no invite of this node's:
    // say what it waits for rather than "no such invite".
    if (card.error().is(Errc::not_found))
      if (auto why = pending(joiner)) return refuse(*why, joiner);
    return refuse(card.error(), joiner);
  }

  DeltaDraft draft;
  draft.ops.push_back(membership_ops::admit(*card));
  auto deps = core_.store.membership_deps();
  if (!deps.ok()) return refuse(deps.error(), joiner);
  draft.deps = std::move(*deps);
  storage::Store::AuthorOptions options;
  options.consume_invite = request.invite_id();
  options.joiner = joiner;
  auto delta = gate_.author(std::move(draft), options);
  if (!delta.ok()) return refuse(delta.error(), joiner);
  if (on_authored_) on_authored_(*delta);

  v1::JoinResponse r;
  r.set_admitted(true);
  r.set_admit_delta(delta->id.raw());
  auto roster = core_.store.roster();
  if (roster.ok()) {
    if (const MemberState* self = (*roster)->member(core_.node.key.public_key()))
      r.set_inviter_card(self->card.SerializeAsString());
    for (const NodeId& id : (*roster)->admitted_ids()) r.add_members(id.raw());
  }
  core_.count("conect_joins_total", "Nodes this node admitted through an invite");
  log::info("join_admitted", {{"joiner", short_id(joiner)}, {"delta", std::to_string(delta->seq.value)}});
  return r.SerializeAsString();
}

}  // namespace conect::node
