// Live propagation (docs/sync.md "Live"): pushes and announcements of new
// deltas, the bounded buffer for pushes that arrive before their
// predecessor, and equivocation evidence.
#include <algorithm>

#include "engine_impl.h"

namespace conect::sync {

void SyncEngine::Impl::local_commit(std::span<const VerifiedDelta> ds) {
  std::size_t i = 0;
  while (i < ds.size()) {
    const std::uint32_t s = slot(ds[i].origin);
    OriginState& o = origins[s];
    const Seq before = o.stored;
    std::vector<v1::SignedDelta> bodies;
    std::size_t j = i;
    for (; j < ds.size() && ds[j].origin == ds[i].origin; ++j) {
      const VerifiedDelta& d = ds[j];
      if (d.seq.value == o.stored.value + 1) {
        o.stored = d.seq;
        o.stored_id = d.id;
        bodies.push_back(d.signed_delta);
      }
    }
    if (o.stored.value < ds[j - 1].seq.value) refresh_head(s);  // commits we were not told of
    if (o.pending < o.stored) {
      o.pending = o.stored;
      o.pending_id = o.stored_id;
    }
    if (o.stored > before) {
      vv_hash.reset();
      if (blocked_origins > 0) sched_dirty = true;  // perhaps a dependency a blocked origin waits for
      const bool exact = bodies.size() == o.stored.value - before.value;
      announce(s, before.value + 1, o.stored.value,
               exact && bodies.size() <= cfg.eager_push_max ? &bodies : nullptr, std::nullopt);
      drain_buffer(s);
    }
    i = j;
  }
}

void SyncEngine::Impl::announce(std::uint32_t s, std::uint64_t first, std::uint64_t last,
                                const std::vector<v1::SignedDelta>* bodies,
                                const std::optional<NodeId>& except) {
  if (last > origins[s].limit()) last = origins[s].limit();
  if (first > last) return;
  const bool tree = cfg.push_mode == PushMode::tree;
  for (auto& [id, p] : peers) {
    if (except && id == *except) continue;
    Known& k = p.k(s);
    if (k.seq >= last) continue;
    if (tree && bodies != nullptr && p.tree_push(s)) {
      // A tree link: every body the peer lacks (one it has not seen the
      // predecessor of waits in its push buffer while it fetches the gap).
      for (const auto& d : *bodies) {
        if (first + static_cast<std::uint64_t>(&d - bodies->data()) <= k.seq) continue;
        v1::SyncMessage m;
        *m.mutable_push()->mutable_delta() = d;
        ++stats.pushes_sent;
        send(p, std::move(m));
      }
      k.seq = last;
      continue;
    }
    if (cfg.push_mode == PushMode::eager && p.eager_out && bodies != nullptr && k.seq + 1 == first) {
      for (const auto& d : *bodies) {
        v1::SyncMessage m;
        *m.mutable_push()->mutable_delta() = d;
        ++stats.pushes_sent;
        send(p, std::move(m));
      }
      k.seq = last;
      continue;
    }
    if (tree) {
      p.lazy_queue.push_back({now + cfg.tree_have_delay_ms, s, last});
      if (cfg.tree_have_delay_ms == 0)
        flush_haves(p);
      else
        peer_timer(p);
      continue;
    }
    if (p.have_queue.empty()) p.have_flush_at = now + cfg.have_delay_ms;
    p.have_queue.insert(s);
    if (cfg.have_delay_ms == 0)
      flush_haves(p);
    else
      peer_timer(p);
  }
}

void SyncEngine::Impl::flush_haves(Peer& p) {
  if (!p.have_work() && p.lazy_queue.empty()) return;
  v1::SyncMessage m;
  auto* h = m.mutable_have();
  h->set_roster_tag(roster_tag);
  const bool positions = p.roster_tag == roster_tag;
  auto name = [&](std::uint32_t s, v1::OriginEntry* e) {
    const OriginState& o = origins[s];
    if (positions && o.roster_index != 0) {
      e->set_index(o.roster_index);
    } else {
      e->set_origin(o.id.raw());
    }
  };
  const std::size_t max = cfg.limits.max_have_entries;
  std::vector<std::pair<std::uint32_t, std::uint64_t>> news;  // slot, seq
  for (std::uint32_t s : p.have_queue) {
    if (news.size() >= max) break;
    news.emplace_back(s, eff_seq(s));
  }
  // Tree mode: the announcements due now, and those due within half the
  // delay (one message for several), one entry per origin. Not to a peer that
  // has shown it holds as much meanwhile (by its own announcement or push):
  // about one announcement per lazy link and delta instead of two.
  std::map<std::uint32_t, std::uint64_t> lazy;
  const std::uint64_t horizon = now + cfg.tree_have_delay_ms / 2;
  while (!p.lazy_queue.empty() && p.lazy_queue.front().due <= horizon && lazy.size() + news.size() < max) {
    const auto& q = p.lazy_queue.front();
    std::uint64_t& seq = lazy[q.slot];
    seq = std::max(seq, q.seq);
    p.lazy_queue.pop_front();
  }
  for (const auto& [s, seq] : lazy)
    if (s >= p.known.size() || p.known[s].seq < seq) news.emplace_back(s, seq);
  // Packed where the peer reads it: positions ascending, each as its gap
  // to the previous one and its seq (two varints, 2-4 bytes, where an
  // OriginEntry takes 7-10). Origins without a position go as entries.
  std::vector<std::pair<std::uint32_t, std::uint64_t>> packed;  // position, seq
  for (const auto& [s, seq] : news) {
    const std::uint32_t index = origins[s].roster_index;
    if (p.reads_packed && positions && index != 0) {
      packed.emplace_back(index, seq);
      continue;
    }
    auto* e = h->add_entries();
    name(s, e);
    e->set_seq(seq);
  }
  std::sort(packed.begin(), packed.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : a.second > b.second;
  });
  std::uint32_t previous = 0;
  for (const auto& [index, seq] : packed) {
    if (index == previous) continue;  // named twice (have_queue and lazy queue): the highest seq came first
    h->add_packed(index - previous);
    h->add_packed(seq);
    previous = index;
  }
  for (std::uint32_t s : p.prune_queue)
    if (static_cast<std::size_t>(h->prune_size()) < max) name(s, h->add_prune());
  for (std::uint32_t s : p.graft_queue)
    if (static_cast<std::size_t>(h->graft_size()) < max) name(s, h->add_graft());
  p.have_queue.clear();
  p.prune_queue.clear();
  p.graft_queue.clear();
  peer_timer(p);
  if (h->entries_size() == 0 && h->packed_size() == 0 && h->prune_size() == 0 && h->graft_size() == 0) return;
  ++stats.haves_sent;
  stats.announced += static_cast<std::uint64_t>(h->entries_size()) + static_cast<std::uint64_t>(h->packed_size()) / 2;
  send(p, std::move(m));
}

// A body of origin `s` came from `p` and we held it already: p's link is not
// our way to `s`. Ask p to announce instead, at once (while the prune waits,
// p keeps pushing duplicates). Only that direction: our pushes to p go on
// until p prunes us in turn. A duplicate proves the link is not on the tree
// for one delta, not for the next: a node that also stopped pushing on a
// link that pruned it, as before, cut itself off wherever two paths were
// about as fast (each won one delta, lost the next, and both ends pruned
// it), until an announcement and a graft wait repaired the tree; measured
// with link latencies (docs/performance.md), half the deltas then reached
// their last node only that way.
void SyncEngine::Impl::tree_prune(Peer& p, std::uint32_t s) {
  std::uint8_t& t = p.tree_at(s);
  if ((t & kTreePruneSent) != 0) return;  // asked already; bodies in flight
  t = static_cast<std::uint8_t>((t & kTreeLazy) | kTreePruneSent);
  ++stats.prunes;
  p.graft_queue.erase(s);
  p.prune_queue.insert(s);
  flush_haves(p);
}

// Tree mode: a lazy link announced deltas of `s` we lacked, and the wait for
// the tree's copy is over. Still missing: graft the announcer (unless the
// announced delta sits in our push buffer: then the tree brought it and only
// a predecessor is late) and fetch the gap.
void SyncEngine::Impl::graft_wait_over(std::uint32_t s) {
  graft_due.clear(s);
  OriginState& o = origins[s];
  if (o.wait_seq <= o.pending.value) {
    // It came. Deltas announced during the wait get a wait of their own.
    if (o.wait_next > o.pending.value && cfg.tree_graft_wait_ms > 0) {
      o.wait_seq = o.wait_next;
      o.wait_peer = o.wait_next_peer;
      graft_due.set(s, now + cfg.tree_graft_wait_ms);
    }
    o.wait_next = 0;
    return;
  }
  o.wait_next = 0;
  if ((o.wait_seq > o.graft_seq || o.wait_peer != o.graft_peer) && !push_buffer.contains({s, o.wait_seq})) {
    o.graft_seq = o.wait_seq;
    o.graft_peer = o.wait_peer;
    if (Peer* p = find_peer(o.wait_peer)) tree_graft(*p, s);
  }
  consider(s);
}

// `p` announced a delta of `s` we lack: its link is (now) the faster way for
// `s`, or the tree is broken. Ask it to push `s` again, at once; the missing
// deltas themselves are fetched (consider). One graft per new seq.
void SyncEngine::Impl::tree_graft(Peer& p, std::uint32_t s) {
  std::uint8_t& t = p.tree_at(s);
  if ((t & kTreeEager) != 0 && (t & kTreePruneSent) == 0) return;  // grafted already
  t = static_cast<std::uint8_t>((t & kTreeLazy) | kTreeEager);     // our own pushes to p stay as p set them
  ++stats.grafts;
  p.prune_queue.erase(s);
  p.graft_queue.insert(s);
  flush_haves(p);
}

void SyncEngine::Impl::on_have(Peer& p, const v1::SyncHave& m) {
  p.roster_tag = m.roster_tag();
  for (const auto& e : m.entries()) {
    const std::uint32_t s = resolve(p, m.roster_tag(), e);
    if (s != kNoSlot) on_announced(p, s, e.seq());
  }
  // Positions in a roster we do not share cannot be resolved (as in
  // resolve); a node that does not read the packed form ignores it, as one
  // that predates it would (its summaries never asked for it).
  if (cfg.packed_haves && m.roster_tag() == roster_tag) {
    std::uint64_t index = 0;
    for (int i = 0; i + 1 < m.packed_size(); i += 2) {
      const std::uint64_t gap = m.packed(i);
      if (gap == 0 || gap > roster.size() - index) break;  // past our roster: the rest cannot be resolved
      index += gap;
      on_announced(p, roster[index - 1], m.packed(i + 1));
    }
  }
  if (cfg.push_mode != PushMode::tree) return;  // others ignore prunes and grafts: they push as before
  // Each names our pushes to p only; what p pushes to us is ours to prune
  // or graft (tree_prune, tree_graft).
  for (const auto& e : m.prune()) {
    const std::uint32_t s = resolve(p, m.roster_tag(), e);
    if (s == kNoSlot) continue;
    p.tree_at(s) |= kTreeLazy;
  }
  for (const auto& e : m.graft()) {
    const std::uint32_t s = resolve(p, m.roster_tag(), e);
    if (s == kNoSlot) continue;
    std::uint8_t& t = p.tree_at(s);
    t = static_cast<std::uint8_t>(t & ~kTreeLazy);
  }
}

// `p` announced that it holds `s` up to `seq` (SyncHave, either form).
void SyncEngine::Impl::on_announced(Peer& p, std::uint32_t s, std::uint64_t seq) {
  Known& k = p.k(s);
  k.seq = std::max(k.seq, seq);
  OriginState& o = origins[s];
  if (cfg.push_mode == PushMode::tree) {
    if (seq <= o.pending.value) return;
    if (graft_due.has(s)) {
      if (seq > o.wait_next) {
        o.wait_next = seq;
        o.wait_next_peer = p.id;
      }
      return;
    }
    // The tree's copy may be on its way: graft and fetch only if this
    // seq is still missing when the wait runs out. Announcements during
    // the wait neither put it off nor raise what it waits for (deltas
    // announced meanwhile are most likely in flight too).
    o.wait_seq = seq;
    o.wait_peer = p.id;
    if (cfg.tree_graft_wait_ms > 0) {
      graft_due.set(s, now + cfg.tree_graft_wait_ms);
    } else {
      graft_wait_over(s);
    }
    return;
  }
  if (seq > o.pending.value && !p.eager_out) {
    p.eager_out = true;
    ++stats.grafts;
  }
  consider(s);
}

void SyncEngine::Impl::on_push(Peer& p, const v1::SyncPush& m) {
  ++stats.pushes_received;
  ++stats.deltas_received;
  if (!wrapper_is_bare(m.delta())) ++stats.padded_wrappers;
  auto d = verifier.decode(cfg.federation, m.delta());
  if (!d.ok()) return misbehaved(p.id, d.error().is(Errc::wrong_federation) ? Errc::wrong_federation
                                                                            : Errc::malformed_body,
                                 "push: " + d.error().detail);
  const std::uint32_t s = find_slot(d->origin);
  if (s == kNoSlot || !origins[s].trusted) {
    ++stats.untrusted_skipped;
    emit({.kind = EventKind::untrusted_skipped, .peer = p.id, .origin = d->origin, .seq = d->seq.value, .count = 1});
    return;
  }
  OriginState& o = origins[s];
  Known& k = p.k(s);
  k.seq = std::max(k.seq, d->seq.value);
  const std::uint64_t peer_has = k.seq;
  if (d->seq.value <= o.pending.value || d->seq.value > o.limit() ||
      push_buffer.contains({s, d->seq.value})) {
    ++stats.pushes_duplicate;
    if (cfg.push_mode == PushMode::tree) {
      // Not a link that brought us a new delta of `s` a moment ago: two
      // paths about as fast win in turn, and pruning the one that lost this
      // time would prune each of them in turn, while the pushes and grafts
      // (below) in flight bring the node a delta out of order, or none.
      const std::uint64_t won = p.tree_won(s);
      if (cfg.tree_prune_hold_ms == 0 || won == 0 || won + cfg.tree_prune_hold_ms <= now) tree_prune(p, s);
    } else if (p.eager_out && cfg.prune_redundant_pushes) {
      p.eager_out = false;
      ++stats.prunes;
    }
    return;
  }
  const std::size_t bytes = delta_bytes(d->signed_delta);
  if (free_budget() < bytes) {
    ++stats.pushes_dropped;  // fetched later, within credit
    return consider(s);
  }
  if (!verifier.signature_holds(*d)) {
    // Perhaps covered by a later delta (DESIGN §4): fetch it as a range.
    ++stats.pushes_bad_signature;
    if (++p.bad_pushes > cfg.max_bad_pushes)
      return misbehaved(p.id, Errc::bad_signature, "too many pushed deltas whose signature does not verify");
    return consider(s);
  }
  if (cfg.push_mode == PushMode::tree) {
    p.tree_won_at(s) = std::max<std::uint64_t>(now, 1);
    // A new delta from a link we asked to stop (its push was in flight when
    // our prune left, and beat the other copies): that link is the faster
    // one now. Graft it back at once; the copy that comes next on the other
    // path is a duplicate and prunes that one.
    if (cfg.tree_regraft_on_first && (p.tree_at(s) & kTreePruneSent) != 0) tree_graft(p, s);
  }
  if (d->seq.value == o.pending.value + 1) {
    if (d->prev != o.pending_id) return start_probe(p, s, o.pending.value, d->prev, {d->signed_delta});
    std::vector<VerifiedDelta> one;
    one.push_back(std::move(d.value()));
    hand_out(s, std::move(one), p.id, true);
    // Tree mode: later pushes this peer sent ahead are most likely in
    // flight (pushes overtake each other); a lost one is announced by a
    // lazy link and fetched after the graft wait.
    if (origins[s].pending.value < peer_has && cfg.push_mode != PushMode::tree) consider(s);
    return;
  }
  if (push_buffer.size() >= cfg.max_buffered_pushes) {
    ++stats.pushes_dropped;
    return consider(s);
  }
  ++stats.pushes_buffered;
  buffered += bytes;
  push_expiry.emplace_back(now + cfg.buffer_ttl_ms, std::make_pair(s, d->seq.value));
  push_buffer.emplace(std::make_pair(s, d->seq.value),
                      BufferedPush{std::move(d.value()), bytes, now + cfg.buffer_ttl_ms, p.id});
  // Tree mode: the predecessor is most likely on its way down the same tree
  // (pushes overtake each other); if it was lost, a lazy link's announcement
  // (tree_have_delay_ms later) has the gap fetched.
  if (cfg.push_mode != PushMode::tree) consider(s);
}

void SyncEngine::Impl::drain_buffer(std::uint32_t s) {
  OriginState& o = origins[s];
  // Drop what became pending by other means.
  auto lo = push_buffer.lower_bound({s, 0});
  while (lo != push_buffer.end() && lo->first.first == s && lo->first.second <= o.pending.value) {
    buffered -= lo->second.bytes;
    lo = push_buffer.erase(lo);
  }
  while (!push_expiry.empty() && !push_buffer.contains(push_expiry.front().second)) push_expiry.pop_front();
  auto it = push_buffer.find({s, o.pending.value + 1});
  if (it == push_buffer.end()) return;
  BufferedPush b = std::move(it->second);
  push_buffer.erase(it);
  buffered -= b.bytes;
  if (b.delta.prev != o.pending_id) {
    ++stats.pushes_dropped;
    return;
  }
  std::vector<VerifiedDelta> one;
  one.push_back(std::move(b.delta));
  hand_out(s, std::move(one), b.from, true);
}

void SyncEngine::Impl::expire_buffer() {
  while (!push_expiry.empty() && push_expiry.front().first <= now) {
    auto it = push_buffer.find(push_expiry.front().second);
    if (it != push_buffer.end() && it->second.expires <= now) {
      buffered -= it->second.bytes;
      ++stats.pushes_dropped;
      push_buffer.erase(it);
    }
    push_expiry.pop_front();
  }
}

// ---------------------------------------------------------------- evidence

void SyncEngine::Impl::on_evidence(Peer& p, const v1::SyncEvidence& m) {
  const auto& ev = m.evidence();
  auto a = verifier.decode(cfg.federation, ev.first());
  auto b = verifier.decode(cfg.federation, ev.second());
  if (!a.ok() || !b.ok())
    return misbehaved(p.id, Errc::malformed_body, "evidence: " + (a.ok() ? b.error() : a.error()).detail);
  if (a->origin != b->origin || a->seq != b->seq || a->id == b->id)
    return misbehaved(p.id, Errc::protocol_error, "evidence is not two deltas of one origin at one seq");
  const std::uint32_t s = find_slot(a->origin);
  if (s == kNoSlot || !origins[s].trusted) {
    ++stats.untrusted_skipped;
    return;
  }
  // A delta whose own signature does not verify is proven by its cover (or
  // by our own log holding it). Evidence we cannot check is set aside, not
  // held against the sender: an honest node may forward a proof found over
  // covered deltas by one that did not send the cover (issue 14 item 1).
  if (!proven(s, *a, ev.first_cover()) || !proven(s, *b, ev.second_cover())) {
    ++stats.evidence_unproven;
    return;
  }
  adopt_evidence(s, *a, *b, p.id, false, {ev.first_cover().begin(), ev.first_cover().end()},
                 {ev.second_cover().begin(), ev.second_cover().end()});
}

bool SyncEngine::Impl::proven(std::uint32_t s, const VerifiedDelta& d,
                              const google::protobuf::RepeatedPtrField<v1::SignedDelta>& cover) {
  if (verifier.signature_holds(d)) return true;
  if (d.seq <= origins[s].stored) {
    auto ours = view.deltas_from(d.origin, d.seq, 1, cfg.limits.max_delta_bytes);
    if (ours.ok() && !ours->empty() && compute_delta_id(ours->front().body(), ours->front().signature()) == d.id)
      return true;
  }
  if (cover.empty()) return false;
  std::vector<v1::SignedDelta> range;
  range.reserve(static_cast<std::size_t>(cover.size()) + 1);
  range.push_back(d.signed_delta);
  for (const auto& c : cover) range.push_back(c);
  auto r = check_range(verifier, cfg.federation, d.seq.value, std::move(range));
  return r.ok() && r->covered > 0 && r->deltas.front().id == d.id;
}

// The deltas after `sd` in our own log up to one whose signature verifies:
// its cover, when its own signature does not (empty when it does, or when
// no signature within a batch's bounds covers it).
std::vector<v1::SignedDelta> SyncEngine::Impl::stored_cover(std::uint32_t s, const v1::SignedDelta& sd) {
  auto d = verifier.decode(cfg.federation, sd);
  if (!d.ok() || verifier.signature_holds(*d) || d->seq >= origins[s].stored) return {};
  auto next = view.deltas_from(d->origin, Seq{d->seq.value + 1}, cfg.limits.max_batch_count,
                               cfg.limits.max_batch_bytes / 2);
  if (!next.ok()) return {};
  std::vector<v1::SignedDelta> cover;
  DeltaId prev = d->id;
  for (auto& n : *next) {
    auto nd = verifier.decode(cfg.federation, n);
    if (!nd.ok() || nd->prev != prev) return {};
    prev = nd->id;
    cover.push_back(nd->signed_delta);
    if (verifier.signature_holds(*nd)) return cover;
  }
  return {};
}

void SyncEngine::Impl::adopt_evidence(std::uint32_t s, const VerifiedDelta& a, const VerifiedDelta& b,
                                      const std::optional<NodeId>& from, bool detected,
                                      std::vector<v1::SignedDelta> cover_a, std::vector<v1::SignedDelta> cover_b) {
  OriginState& o = origins[s];
  const std::uint64_t seq = a.seq.value;
  if (o.frozen_at.value != 0 && o.frozen_at.value <= seq) return;  // we hold as good
  const bool a_first = a.id < b.id;  // canonical order: the same evidence everywhere
  const VerifiedDelta& x = a_first ? a : b;
  const VerifiedDelta& y = a_first ? b : a;
  o.frozen_at = Seq{seq};
  o.frozen_id.reset();
  vv_hash.reset();
  v1::EquivocationEvidence ev;
  *ev.mutable_first() = x.signed_delta;
  *ev.mutable_second() = y.signed_delta;
  for (auto& c : a_first ? cover_a : cover_b) *ev.add_first_cover() = std::move(c);
  for (auto& c : a_first ? cover_b : cover_a) *ev.add_second_cover() = std::move(c);
  o.evidence = std::move(ev);
  o.evidence_covered = false;
  if (detected) {
    ++stats.equivocations_detected;
  } else {
    ++stats.evidence_received;
  }
  emit({.kind = detected ? EventKind::equivocation_detected : EventKind::evidence_received, .peer = from,
        .origin = o.id, .seq = seq, .errc = Errc::equivocation,
        .detail = "two authentic deltas at one seq: the origin is frozen before it"});
  out.emplace_back(StoreEvidenceAction{o.id, Seq{seq}, x, y});
  // Nothing from the fork on is fetched or buffered any more.
  std::vector<std::uint64_t> stale;
  for (const auto& [id, f] : fetches)
    if (f.slot == s && !f.probe) stale.push_back(id);
  for (auto id : stale) end_fetch(id, false);
  for (auto it = push_buffer.lower_bound({s, seq}); it != push_buffer.end() && it->first.first == s;) {
    buffered -= it->second.bytes;
    it = push_buffer.erase(it);
  }
  // Found ourselves: the peer we compared with holds the other branch and
  // needs it too. Received: everyone but the sender.
  for (auto& [id, p] : peers)
    if (detected || !from || id != *from) send_evidence(p, s);
}

void SyncEngine::Impl::send_evidence(Peer& p, std::uint32_t s) {
  OriginState& o = origins[s];
  if (!o.evidence) return;
  if (!o.evidence_covered) {
    // A delta of ours whose own signature does not verify travels with the
    // range of our log that covers it (evidence loaded from the store, or
    // found against our own chain).
    o.evidence_covered = true;
    if (o.evidence->first_cover().empty())
      for (auto& c : stored_cover(s, o.evidence->first())) *o.evidence->add_first_cover() = std::move(c);
    if (o.evidence->second_cover().empty())
      for (auto& c : stored_cover(s, o.evidence->second())) *o.evidence->add_second_cover() = std::move(c);
  }
  p.evidence_sent[s] = o.frozen_at.value;
  v1::SyncMessage m;
  *m.mutable_evidence()->mutable_evidence() = *o.evidence;
  send(p, std::move(m));
}

}  // namespace conect::sync
