// Forwarding a relayed delta before this node's own commit (DESIGN §6,
// docs/sync.md "Forwarding before the commit").
//
// A verified delta of another origin is already durable at its origin and
// signed by it, so a relay need not wait for its own fsync to pass it on:
// each receiver verifies it against its origin, never against the relay.
// What the relay must not do is forward a delta its own store is going to
// refuse when that refusal can be known now: a peer takes a push as a sign
// that the pusher holds the delta, and a relay that then lacks it looks like
// a peer that broke its claim. So a delta is forwarded early only when the
// store's own checks (storage/src/apply.cc check_link, check_deps) are
// bound to pass on what is stored or forwarded already:
//   - it came as a push and its own signature held under its origin's key at
//     its seq (a catch-up range vouched for by its last signature only, or a
//     bulk import's unsigned delta, waits for the commit);
//   - its origin is not this node: what this node authored is pushed only
//     after its durable commit, or a crash could reuse a published seq;
//   - it links to the origin's stored head, or to deltas forwarded early
//     themselves (in the same epoch: no refusal has reset the origin since);
//   - every dependency it names is stored, with the id named (pending is not
//     enough: a dependency in flight may still be refused);
//   - trusted origin, before any fork seq, our federation: as every push
//     handed out (on_push, drain_buffer).
// A delta beyond its origin's membership cut is not refused by the store
// (it is stored, its operations count nowhere) and is forwarded as before.
#include "engine_impl.h"

namespace conect::sync {

bool SyncEngine::Impl::dependency_stored(const v1::DeltaRef& dep) const {
  auto origin = NodeId::from_raw(dep.origin());
  auto id = DeltaId::from_raw(dep.id());
  if (!origin || !id || dep.seq() == 0) return false;
  const std::uint32_t s = find_slot(*origin);
  if (s == kNoSlot) return false;
  const OriginState& o = origins[s];
  if (o.stored.value < dep.seq()) return false;
  if (o.stored.value == dep.seq()) return o.stored_id == *id;
  // An older delta: read its id back (dependencies are rare: membership
  // operations and reservation decisions).
  auto stored = view.deltas_from(*origin, Seq{dep.seq()}, 1, cfg.limits.max_delta_bytes);
  return stored.ok() && !stored->empty() &&
         compute_delta_id(stored->front().body(), stored->front().signature()) == *id;
}

bool SyncEngine::Impl::may_forward_early(std::uint32_t s, const std::vector<VerifiedDelta>& ds) const {
  if (!cfg.forward_before_commit || cfg.push_mode != PushMode::eager || ds.size() > cfg.eager_push_max) return false;
  const OriginState& o = origins[s];
  if (o.id == cfg.self) return false;
  const bool links_to_stored = o.pending == o.stored;
  const bool links_to_forwarded = o.forwarded_epoch == o.epoch && o.forwarded_through == o.pending.value;
  if (!links_to_stored && !links_to_forwarded) return false;
  for (const auto& d : ds)
    for (const auto& dep : d.body.deps())
      if (!dependency_stored(dep)) return false;
  return true;
}

void SyncEngine::Impl::forward_early(std::uint32_t s, const std::vector<VerifiedDelta>& ds,
                                     const std::optional<NodeId>& from) {
  OriginState& o = origins[s];
  const std::uint64_t first = ds.front().seq.value;
  const std::uint64_t last = ds.back().seq.value;
  o.forwarded_through = last;
  o.forwarded_epoch = o.epoch;
  // Only eager pushes, to peers that hold the predecessor: an announcement
  // (Have) would invite a request this node cannot serve before its commit.
  // Everyone else hears of it after the commit (applied -> announce), which
  // skips the peers reached here.
  for (auto& [id, p] : peers) {
    if (from && id == *from) continue;
    if (!p.eager_out) continue;
    Known& k = p.k(s);
    if (k.seq >= last || k.seq + 1 != first) continue;
    for (const auto& d : ds) {
      v1::SyncMessage m;
      *m.mutable_push()->mutable_delta() = d.signed_delta;
      ++stats.pushes_sent;
      ++stats.pushes_forwarded_early;
      send(p, std::move(m));
    }
    k.seq = last;
  }
}

}  // namespace conect::sync
