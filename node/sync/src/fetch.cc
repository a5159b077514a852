// The requests we make (docs/sync.md "Catch-up"): which origin from which
// peer, how much credit, and what to do with each batch that comes back.
#include <algorithm>

#include "engine_impl.h"

namespace conect::sync {
namespace {

std::uint64_t known_seq(const Peer& p, std::uint32_t s) { return s < p.known.size() ? p.known[s].seq : 0; }

Errc errc_of(const Error& e) {
  return e.code.category() == conect_category() ? static_cast<Errc>(e.code.value()) : Errc::protocol_error;
}

}  // namespace

bool SyncEngine::Impl::shunned(const Peer& p, std::uint32_t s) const {
  auto it = p.shunned_until.find(s);
  return it != p.shunned_until.end() && it->second > now;
}

void SyncEngine::Impl::consider(std::uint32_t s) {
  const OriginState& o = origins[s];
  if (o.fetch_id != 0) {
    // Asked of a peer that broke its claim on this origin (it was the only
    // one to claim more then): another that claims more now takes its turn.
    auto f = fetches.find(o.fetch_id);
    if (f == fetches.end() || f->second.received_deltas > 0) return;
    auto asked = peers.find(f->second.peer);
    if (asked == peers.end() || !shunned(asked->second, s)) return;
    for (const auto& [id, p] : peers)
      if (!shunned(p, s) && known_seq(p, s) > o.pending.value && can_ask(p)) return end_fetch(o.fetch_id, false);
    return;
  }
  if (!o.trusted || o.pending.value >= o.limit()) return;
  for (const auto& [id, p] : peers) {
    if (known_seq(p, s) > o.pending.value) {
      wanted.insert(s);
      sched_dirty = true;
      return;
    }
  }
}

void SyncEngine::Impl::schedule() {
  if (!sched_dirty) return;
  sched_dirty = false;
  // First the origins some peer that has kept its claims can serve, then
  // those only a peer that broke a claim shows more of: peers that claim
  // everything and deliver nothing must not take every fetch slot from the
  // origins honest peers hold (found by the simulator: 3 such peers among 10
  // starved an origin for good with max_fetches 4).
  for (const bool allow_shunned : {false, true}) {
    for (auto it = wanted.begin(); it != wanted.end();) {
      const std::uint32_t s = *it;
      const OriginState& o = origins[s];
      if (!o.trusted || o.fetch_id != 0 || o.pending.value >= o.limit()) {
        it = wanted.erase(it);
        continue;
      }
      if (o.retry_at > now || blocked(s)) {  // put off after a refusal (the timer brings it back), or
        ++it;                                // waiting for a dependency (its arrival does)
        continue;
      }
      if (fetches.size() >= cfg.max_fetches || free_budget() < cfg.limits.max_delta_bytes) break;
      it = start_fetch(s, allow_shunned) ? wanted.erase(it) : std::next(it);
    }
  }
  // Only the fetches whose credit cannot carry their range: top_up does
  // nothing for the others (it used to be asked for every fetch after every
  // input).
  const std::vector<std::uint64_t> ids(needy.begin(), needy.end());
  for (auto id : ids)
    if (auto f = fetches.find(id); f != fetches.end()) top_up(f->second);
  check_catch_up_done();
}

// Starts a catch-up request for origin `s`. False when it must wait (peers
// busy, budget short); an origin no peer holds more of is dropped silently.
bool SyncEngine::Impl::start_fetch(std::uint32_t s, bool allow_shunned) {
  OriginState& o = origins[s];
  Peer* best = nullptr;
  bool best_shunned = true;
  std::uint64_t best_since = 0;
  bool any = false;
  for (auto& [id, p] : peers) {
    const std::uint64_t k = known_seq(p, s);
    if (k <= o.pending.value) continue;
    any = true;
    const bool sh = shunned(p, s);
    if (sh && !allow_shunned) continue;
    if (!can_ask(p)) continue;
    // The highest claim first, but a peer that broke its claim on this
    // origin comes after every peer that has not, and among those that did,
    // the one whose breach is oldest comes first: a liar breaks its claim
    // again at every request, so the highest claim among them would be a
    // liar's for good (found by the simulator: every honest peer had once
    // timed out on a dropped message, and an origin went unfetched while
    // three liars took turns).
    const std::uint64_t since = sh ? p.shunned_until.at(s) : 0;
    if (best == nullptr || (best_shunned && !sh) ||
        (sh == best_shunned && (since < best_since || (since == best_since && k > known_seq(*best, s))))) {
      best = &p;
      best_shunned = sh;
      best_since = since;
    }
  }
  if (!any) return true;
  if (best == nullptr) return false;
  // Ask for what the peer showed, no more (the stream then ends by itself),
  // and reserve credit for that much: a short gap must not tie up a whole
  // window of the budget, or few fetches could run at once. One delta of
  // the largest size always fits, so the stream can always make progress.
  const std::uint64_t target = std::min(known_seq(*best, s), o.limit());
  const std::uint64_t expected = target - o.pending.value;
  const std::size_t want_bytes = static_cast<std::size_t>(
      std::clamp<std::uint64_t>(std::min<std::uint64_t>(expected, cfg.window_count) * kCreditPerDeltaEstimate,
                                cfg.limits.max_delta_bytes, cfg.window_bytes));
  const std::size_t credit = std::min({want_bytes, free_budget(), peer_credit_cap(*best) - peer_credit(*best)});
  if (credit < cfg.limits.max_delta_bytes) return false;
  Fetch f;
  f.id = next_request_id++;
  f.peer = best->id;
  f.slot = s;
  f.next_seq = o.pending.value + 1;
  f.until = target;
  f.credit_count = std::min<std::uint64_t>(cfg.window_count, expected);
  f.deadline = now + cfg.request_timeout_ms;
  fetch_due.set(f.id, f.deadline);
  o.fetch_id = f.id;
  best->fetches.insert(f.id);
  ++best->catch_up_fetches;
  add_credit(f, credit);
  if (!best->catching_up) {
    best->catching_up = true;
    best->catch_up_deltas = best->catch_up_bytes = 0;
    std::uint64_t behind = 0, count = 0;
    for (std::uint32_t r : roster) {
      const std::uint64_t k = known_seq(*best, r);
      if (k > origins[r].pending.value) behind += k - origins[r].pending.value, ++count;
    }
    emit({.kind = EventKind::catch_up_started,
          .peer = best->id,
          .count = behind,
          .detail = std::to_string(count) + " origins behind"});
  }
  best->state = PeerState::catching_up;
  v1::SyncMessage m;
  auto* r = m.mutable_request();
  r->set_request_id(f.id);
  r->set_origin(o.id.raw());
  r->set_from(f.next_seq);
  r->set_until(f.until);
  r->set_max_count(static_cast<std::uint32_t>(f.credit_count));
  r->set_max_bytes(f.credit_bytes);
  const std::uint64_t fid = f.id;
  fetches.emplace(f.id, std::move(f));
  file_top_up(fetches.at(fid));
  ++stats.requests_sent;
  send(*best, std::move(m));
  return true;
}

namespace {

// Deltas of the fetch's range not yet received (reordered batches count as
// received).
std::uint64_t remaining_deltas(const Fetch& f) {
  const std::uint64_t end = std::min(f.until, kNoLimit - 1) + 1;  // a peer may claim any seq
  std::uint64_t remaining = end - std::min(end, f.next_seq);
  return remaining - std::min(remaining, f.reorder_deltas);
}

}  // namespace

// Whether top_up has anything to do for `f`, from the fetch's own state only
// (the budget decides how much, not whether): the credit left cannot carry
// the rest of the range, and topping it up would add a useful amount (half a
// window, or whatever completes the range).
bool SyncEngine::Impl::needs_top_up(const Fetch& f) const {
  if (f.ended || f.probe) return false;
  const std::uint64_t remaining = remaining_deltas(f);
  if (remaining == 0) return false;
  const std::uint64_t want_count = std::min<std::uint64_t>(cfg.window_count, remaining);
  if (f.credit_count >= want_count && f.credit_bytes >= cfg.limits.max_delta_bytes) return false;
  const std::uint64_t add_count = want_count - std::min(want_count, f.credit_count);
  return !(add_count < std::min<std::uint64_t>(want_count, cfg.window_count / 2) && f.credit_count > 0 &&
           f.credit_bytes >= cfg.limits.max_delta_bytes);
}

void SyncEngine::Impl::top_up(Fetch& f) {
  send_credit(f);
  file_top_up(f);
}

void SyncEngine::Impl::send_credit(Fetch& f) {
  if (!needs_top_up(f)) return;
  auto p = peers.find(f.peer);
  if (p == peers.end()) return;
  const std::uint64_t remaining = remaining_deltas(f);
  const std::size_t cap = peer_credit_cap(p->second);
  const std::size_t peer_room = cap - std::min(cap, peer_credit(p->second));
  const std::uint64_t want_count = std::min<std::uint64_t>(cfg.window_count, remaining);
  const std::uint64_t want_bytes =
      std::clamp<std::uint64_t>(want_count * kCreditPerDeltaEstimate, cfg.limits.max_delta_bytes, cfg.window_bytes);
  const std::size_t add_count = static_cast<std::size_t>(want_count - std::min(want_count, f.credit_count));
  const std::size_t add_bytes = static_cast<std::size_t>(std::min<std::uint64_t>(
      {want_bytes - std::min<std::uint64_t>(want_bytes, f.credit_bytes), free_budget(), peer_room}));
  if (f.credit_bytes + add_bytes < cfg.limits.max_delta_bytes) return;  // the budget is short: later
  add_credit(f, add_bytes);
  f.credit_count += add_count;
  set_deadline(f, now + cfg.request_timeout_ms);
  v1::SyncMessage m;
  auto* c = m.mutable_credit();
  c->set_request_id(f.id);
  c->set_add_count(static_cast<std::uint32_t>(add_count));
  c->set_add_bytes(add_bytes);
  ++stats.credits_sent;
  send(p->second, std::move(m));
}

void SyncEngine::Impl::end_fetch(std::uint64_t id, bool timed_out) {
  auto it = fetches.find(id);
  if (it == fetches.end()) return;
  sched_dirty = true;
  Fetch& f = it->second;
  needy.erase(id);
  fetch_due.clear(id);
  take_credit(f, f.credit_bytes);
  buffered -= f.reorder_bytes + f.uncovered_bytes;
  stats.uncovered_dropped += f.uncovered.size();
  OriginState& o = origins[f.slot];
  if (timed_out) {
    ++stats.requests_timed_out;
    emit({.kind = EventKind::request_timed_out, .peer = f.peer, .origin = o.id, .seq = f.next_seq});
    claim_broken(f);
  }
  auto p = peers.find(f.peer);
  if (p != peers.end()) {
    p->second.fetches.erase(id);
    if (f.probe)
      p->second.probing.erase(f.slot);
    else
      --p->second.catch_up_fetches;
  }
  const bool probe = f.probe;
  const std::uint32_t s = f.slot;
  fetches.erase(it);
  if (!probe && o.fetch_id == id) {
    o.fetch_id = 0;
    consider(s);
  }
}

// The peer delivered less of the range than it claimed to hold: the claim
// falls to what it delivered and, for claim_penalty_ms, any other peer that
// claims more of the origin is asked first (docs/sync.md "Claims are hints").
void SyncEngine::Impl::claim_broken(const Fetch& f) {
  if (f.probe) return;
  auto p = peers.find(f.peer);
  if (p == peers.end()) return;
  const std::uint64_t got = f.next_seq - 1;
  if (got >= f.until) return;
  Known& k = p->second.k(f.slot);
  k.seq = std::min(k.seq, got);
  p->second.shunned_until[f.slot] = now + cfg.claim_penalty_ms;
  p->second.broke_claim_until = now + cfg.claim_penalty_ms;
  ++stats.claims_broken;
  sched_dirty = true;
}

// Fetching `s` again before the dependency its last deltas named has come
// would only fetch them again to drop them, and hold a request slot and
// credit of the peer that may be the only one to serve the dependency (found
// by the simulator: a peer that had broken a claim, so allowed one request at
// a time, was asked for the dependent origin again after every drop and
// never for the dependency). Blocked while the dependency is being fetched
// or wanted; once it can no longer come, deps_ready puts the origin off.
bool SyncEngine::Impl::blocked(std::uint32_t s) {
  OriginState& o = origins[s];
  if (o.blocked_on == kNoSlot) return false;
  const OriginState& d = origins[o.blocked_on];
  if (d.pending.value < o.blocked_seq && (d.fetch_id != 0 || wanted.contains(o.blocked_on))) return true;
  o.blocked_on = kNoSlot;
  --blocked_origins;
  return false;
}

// The origin is not fetched again before a backoff that doubles with each
// refusal in a row: the store refused what we fetched, or a dependency of it
// cannot come (docs/sync.md "Refused batches").
void SyncEngine::Impl::put_off(std::uint32_t s) {
  OriginState& o = origins[s];
  const std::uint32_t doublings = std::min<std::uint32_t>(o.refusals_in_row++, 30);
  o.retry_at = now + std::min(cfg.refetch_backoff_max_ms, cfg.refetch_backoff_ms << doublings);
  retry_due.emplace(o.retry_at, s);
  ++stats.refetch_backoffs;
  sched_dirty = true;
}

void SyncEngine::Impl::on_batch(Peer& p, const v1::SyncBatch& b) {
  ++stats.batches_received;
  auto it = fetches.find(b.request_id());
  if (it == fetches.end()) {
    if (b.request_id() == 0 || b.request_id() >= next_request_id)
      return misbehaved(p.id, Errc::protocol_error, "batch answers no request we made");
    ++stats.batches_stale;  // a request we already closed (timed out, ended)
    return;
  }
  Fetch& f = it->second;
  if (f.peer != p.id) return misbehaved(p.id, Errc::protocol_error, "batch answers a request made to another peer");
  const std::uint64_t n = static_cast<std::uint64_t>(b.deltas_size());
  if (b.first_seq() == 0) {  // the responder holds no such request any more
    if (n != 0) return misbehaved(p.id, Errc::protocol_error, "batch with deltas at seq 0");
    if (f.received_deltas == 0 && f.reorder.empty()) claim_broken(f);  // evicted at once: nothing delivered
    return end_fetch(f.id, false);
  }
  if (b.origin() != origins[f.slot].id.raw())
    return misbehaved(p.id, Errc::protocol_error, "batch carries another origin than requested");
  if (n == 0) {
    // A zero-delta batch ends the stream where it stands (the responder
    // holds nothing from first_seq on). Anywhere else it is refused and
    // counted, never buffered: it carries no credit, so nothing would bound
    // how many a peer sends, and it does not keep the request alive.
    if (!b.end() || b.first_seq() != f.next_seq || !f.reorder.empty()) {
      ++stats.batches_refused;
      return;
    }
    Known& k = p.k(f.slot);
    k.seq = std::min(k.seq, b.head());
    if (f.received_deltas == 0) claim_broken(f);
    return end_fetch(f.id, false);
  }
  if (b.first_seq() != f.next_seq && f.reorder.size() >= cfg.max_reorder_batches) {
    ++stats.batches_refused;  // the request times out and resumes from the pending head
    return;
  }
  if (b.first_seq() < f.next_seq || f.reorder.contains(b.first_seq())) {
    if (b.first_seq() + n <= f.next_seq || f.reorder.contains(b.first_seq())) {
      ++stats.batches_stale;  // a duplicate
      return;
    }
    return misbehaved(p.id, Errc::protocol_error, "batch overlaps one already received");
  }
  std::size_t bytes = 0;
  for (const auto& d : b.deltas()) {
    bytes += delta_bytes(d);
    if (!wrapper_is_bare(d)) ++stats.padded_wrappers;
  }
  if (n > f.credit_count || bytes > f.credit_bytes)
    return misbehaved(p.id, Errc::limit_exceeded,
                      "batch of " + std::to_string(n) + " deltas / " + std::to_string(bytes) +
                          " bytes exceeds the credit granted (" + std::to_string(f.credit_count) + " / " +
                          std::to_string(f.credit_bytes) + ")");
  if (f.until != 0 && n > 0 && b.first_seq() + n - 1 > f.until)
    return misbehaved(p.id, Errc::protocol_error, "batch goes past the requested range");
  f.credit_count -= n;
  take_credit(f, bytes);
  buffered += bytes;
  f.reorder_bytes += bytes;
  set_deadline(f, now + cfg.request_timeout_ms);
  if (b.end()) {
    // The responder's own statement of its head: no point asking it for more.
    Known& k = p.k(f.slot);
    k.seq = std::min(k.seq, b.head());
  }
  f.reorder.emplace(b.first_seq(), b);
  f.reorder_deltas += n;
  process_in_order(f);
}

void SyncEngine::Impl::process_in_order(Fetch& fetch) {
  const std::uint64_t id = fetch.id;
  for (;;) {
    auto it = fetches.find(id);
    if (it == fetches.end()) return;
    Fetch& f = it->second;
    if (f.reorder.empty() || f.reorder.begin()->first != f.next_seq) break;
    v1::SyncBatch b = std::move(f.reorder.begin()->second);
    f.reorder.erase(f.reorder.begin());
    f.reorder_deltas -= static_cast<std::uint64_t>(b.deltas_size());
    std::size_t bytes = 0;
    for (const auto& d : b.deltas()) bytes += delta_bytes(d);
    f.reorder_bytes -= bytes;
    buffered -= bytes;
    f.next_seq += static_cast<std::uint64_t>(b.deltas_size());
    f.ended = f.ended || b.end();
    if (f.probe) return finish_probe(f, std::move(b));
    ingest(f, std::move(b));
  }
  auto it = fetches.find(id);
  if (it == fetches.end()) return;
  const Fetch& f = it->second;
  if (f.ended || (!f.probe && f.until != 0 && f.next_seq > f.until)) return end_fetch(id, false);
  top_up(it->second);
}

void SyncEngine::Impl::ingest(Fetch& f, v1::SyncBatch b) {
  const std::uint32_t s = f.slot;
  OriginState& o = origins[s];
  const std::uint64_t n = static_cast<std::uint64_t>(b.deltas_size());
  if (n == 0) return;
  stats.deltas_received += n;
  auto peer = peers.find(f.peer);
  for (const auto& d : b.deltas()) {
    f.received_bytes += delta_bytes(d);
    if (peer != peers.end()) peer->second.catch_up_bytes += delta_bytes(d);
  }
  f.received_deltas += n;
  if (peer != peers.end()) {
    peer->second.catch_up_deltas += n;
    Known& k = peer->second.k(s);
    k.seq = std::max(k.seq, b.first_seq() + n - 1);
  }
  if (f.uncovered.empty() && b.first_seq() + n - 1 <= o.pending.value) return;  // already pending
  std::vector<v1::SignedDelta> raw(std::make_move_iterator(b.mutable_deltas()->begin()),
                                   std::make_move_iterator(b.mutable_deltas()->end()));
  auto r = check_range(verifier, cfg.federation, b.first_seq(), std::move(raw),
                       f.uncovered.empty() ? nullptr : &f.uncovered.back());
  if (!r.ok()) return misbehaved(f.peer, errc_of(r.error()), "catch-up batch: " + r.error().detail);
  if (r->deltas.front().origin != o.id)
    return misbehaved(f.peer, Errc::protocol_error, "catch-up batch of another origin");
  std::vector<VerifiedDelta> chain = std::move(f.uncovered);
  const std::size_t old = chain.size();
  buffered -= f.uncovered_bytes;
  f.uncovered.clear();
  f.uncovered_bytes = 0;
  const std::size_t covered = r->covered > 0 ? old + r->covered : 0;
  // Reserved: a VerifiedDelta moves by swapping two messages, and growing
  // the vector would move every delta already in it again.
  chain.reserve(old + r->deltas.size());
  for (auto& d : r->deltas) chain.push_back(std::move(d));

  const std::uint64_t base = chain.front().seq.value - 1;
  const std::uint64_t P = o.pending.value;
  if (chain.back().seq.value <= P) return;
  if (base > P) return end_fetch(f.id, false);  // pending was reset below the stream
  const bool linked = P == base ? chain.front().prev == o.pending_id : chain[P - base - 1].id == o.pending_id;
  if (!linked) {
    // An authentic chain that is not ours: the origin forked at or before P.
    const std::uint64_t fid = f.id;
    if (P > base && P - base - 1 < covered && P <= o.stored.value) {
      auto ours = view.deltas_from(o.id, Seq{P}, 1, cfg.limits.max_delta_bytes);
      if (ours.ok() && !ours->empty()) {
        auto mine = verifier.decode(cfg.federation, ours->front());
        // Theirs is vouched for by the signature at covered - 1: that range
        // goes with the evidence, so that others can check it too.
        std::vector<v1::SignedDelta> cover;
        if (!verifier.signature_holds(chain[P - base - 1]))
          for (std::size_t i = P - base; i < covered; ++i) cover.push_back(chain[i].signed_delta);
        if (mine.ok()) adopt_evidence(s, *mine, chain[P - base - 1], f.peer, true, {}, std::move(cover));
      }
    } else if (P == base && covered > 0 && peer != peers.end()) {
      std::vector<v1::SignedDelta> cover;
      for (std::size_t i = 0; i < covered; ++i) cover.push_back(chain[i].signed_delta);
      start_probe(peer->second, s, P, chain.front().prev, std::move(cover));
    }
    return end_fetch(fid, false);
  }
  const std::size_t start = static_cast<std::size_t>(P - base);
  std::vector<VerifiedDelta> take;
  take.reserve(std::min(chain.size(), covered) - std::min(start, std::min(chain.size(), covered)));
  for (std::size_t i = start; i < chain.size(); ++i) {
    if (i < covered) {
      if (chain[i].seq.value <= o.limit()) take.push_back(std::move(chain[i]));
    } else {
      f.uncovered_bytes += delta_bytes(chain[i].signed_delta);
      f.uncovered.push_back(std::move(chain[i]));
    }
  }
  buffered += f.uncovered_bytes;
  if (!take.empty()) hand_out(s, std::move(take), f.peer);
}

void SyncEngine::Impl::finish_probe(Fetch& f, v1::SyncBatch b) {
  const std::uint64_t id = f.id;
  const std::uint32_t s = f.slot;
  const std::uint64_t seq = f.until;
  if (b.deltas_size() != 1) return end_fetch(id, false);
  OriginState& o = origins[s];
  auto d = verifier.decode(cfg.federation, std::move(*b.mutable_deltas(0)));
  if (!d.ok() || d->seq.value != seq || d->origin != o.id)
    return misbehaved(f.peer, Errc::protocol_error, "probe answered with another delta");
  const bool own = verifier.signature_holds(*d);
  const bool authentic = own || (f.probe_expect && d->id == *f.probe_expect);
  if (authentic && seq <= o.stored.value) {
    auto ours = view.deltas_from(o.id, Seq{seq}, 1, cfg.limits.max_delta_bytes);
    if (ours.ok() && !ours->empty()) {
      auto mine = verifier.decode(cfg.federation, ours->front());
      if (mine.ok() && mine->id != d->id)
        adopt_evidence(s, *mine, *d, f.peer, true, {}, own ? std::vector<v1::SignedDelta>{} : f.probe_cover);
    }
  }
  end_fetch(id, false);
}

// How many leading deltas have every dependency pending or stored. A
// dependency missing is fetched from the peer that relayed the delta: it
// applied the delta, so it holds what the delta names.
std::size_t SyncEngine::Impl::deps_ready(const std::vector<VerifiedDelta>& ds, std::size_t n, const NodeId& from) {
  for (std::size_t i = 0; i < n; ++i) {
    for (const auto& dep : ds[i].body.deps()) {
      auto id = NodeId::from_raw(dep.origin());
      if (!id) return i;
      if (*id == ds[i].origin) continue;
      const std::uint32_t ds_slot = find_slot(*id);
      // An origin we do not know is not on our roster: never satisfiable here.
      if (ds_slot == kNoSlot) {
        put_off(find_slot(ds[i].origin));
        return i;
      }
      if (origins[ds_slot].pending.value >= dep.seq()) continue;
      ++stats.dependency_waits;
      if (auto p = peers.find(from); p != peers.end()) {
        Known& k = p->second.k(ds_slot);
        k.seq = std::max<std::uint64_t>(k.seq, dep.seq());
      }
      consider(ds_slot);
      OriginState& o = origins[find_slot(ds[i].origin)];
      if (o.blocked_on == kNoSlot) ++blocked_origins;
      o.blocked_on = ds_slot;
      o.blocked_seq = dep.seq();
      // A dependency that cannot come (origin untrusted, frozen before it, no
      // peer to ask): fetching this origin again at once would loop.
      if (origins[ds_slot].fetch_id == 0 && !wanted.contains(ds_slot)) put_off(find_slot(ds[i].origin));
      return i;
    }
  }
  return n;
}

void SyncEngine::Impl::hand_out(std::uint32_t s, std::vector<VerifiedDelta> ds, std::optional<NodeId> from,
                                bool own_signatures) {
  const std::size_t ready = deps_ready(ds, ds.size(), from.value_or(cfg.self));
  ds.resize(ready);
  if (ds.empty()) return;
  if (own_signatures && may_forward_early(s, ds)) forward_early(s, ds, from);
  OriginState& o = origins[s];
  InflightApply a;
  a.slot = s;
  a.epoch = o.epoch;
  a.first = ds.front().seq.value;
  a.last = ds.back().seq.value;
  a.from = from;
  for (const auto& d : ds) a.bytes += delta_bytes(d.signed_delta);
  if (cfg.push_mode != PushMode::lazy && ds.size() <= cfg.eager_push_max)
    for (const auto& d : ds) a.push_copy.push_back(d.signed_delta);
  o.pending = ds.back().seq;
  o.pending_id = ds.back().id;
  if (blocked_origins > 0) sched_dirty = true;  // perhaps the dependency a blocked origin waits for
  inflight_bytes += a.bytes;
  const std::uint64_t id = next_apply_id++;
  ApplyBatchAction act{id, o.id, std::move(ds), from, a.bytes};
  if (from) ++applies_from[*from];
  applies.emplace(id, std::move(a));
  out.emplace_back(std::move(act));
  drain_buffer(s);
}

void SyncEngine::Impl::applied(const ApplyResult& r) {
  auto it = applies.find(r.apply_id);
  if (it == applies.end()) return;
  InflightApply a = std::move(it->second);
  applies.erase(it);
  if (a.from)
    if (auto n = applies_from.find(*a.from); n != applies_from.end() && --n->second == 0) applies_from.erase(n);
  inflight_bytes -= a.bytes;
  sched_dirty = true;
  OriginState& o = origins[a.slot];
  const Seq before = o.stored;
  refresh_head(a.slot);
  if (!r.status.ok() || o.stored.value < a.last) {
    ++stats.apply_failures;
    emit({.kind = EventKind::apply_failed,
          .peer = a.from,
          .origin = o.id,
          .seq = a.first,
          .errc = r.status.ok() ? Errc::broken_chain : errc_of(r.status.error()),
          .detail = r.status.ok() ? "store head did not advance" : r.status.error().message()});
    if (a.epoch == o.epoch) {
      ++o.epoch;
      o.pending = o.stored;
      o.pending_id = o.stored_id;
      put_off(a.slot);  // the same batch again at once would be refused again
    }
    consider(a.slot);
  } else {
    stats.deltas_applied += a.last - a.first + 1;
    o.refusals_in_row = 0;
  }
  if (o.stored > before) {
    const bool exact = before.value + 1 == a.first && o.stored.value == a.last;
    announce(a.slot, before.value + 1, o.stored.value, exact && !a.push_copy.empty() ? &a.push_copy : nullptr, a.from);
  }
  resume_serving(a.slot);
  if (o.id == cfg.self && own_behind_reported) {
    bool caught_up = true;
    for (const auto& [id, p] : peers)
      if (known_seq(p, a.slot) > o.stored.value) caught_up = false;
    if (caught_up) {
      own_behind_reported = false;
      emit({.kind = EventKind::own_chain_caught_up, .origin = o.id, .seq = o.stored.value});
    }
  }
}

void SyncEngine::Impl::check_catch_up_done() {
  for (auto& entry : peers) {
    auto& p = entry.second;  // not a structured binding: clang 14 refuses one captured by a lambda
    if (!p.catching_up) continue;
    // Handed out is not held: the catch-up lasts until its deltas are stored.
    if (p.catch_up_fetches > 0 || applies_from.contains(p.id)) continue;
    // Busy while some wanted origin is one the peer shows more of. The last
    // such origin found is checked first; a new one is searched from there,
    // so an idle peer does not rescan `wanted` after every input.
    const Peer& peer = p;  // a structured binding cannot be captured (clang, C++20)
    auto holds_more = [&](std::uint32_t s) { return known_seq(peer, s) > origins[s].pending.value; };
    if (p.busy_witness != kNoSlot && wanted.contains(p.busy_witness) && holds_more(p.busy_witness)) continue;
    const std::uint32_t from = p.busy_witness == kNoSlot ? 0 : p.busy_witness;
    p.busy_witness = kNoSlot;
    const auto start = wanted.lower_bound(from);
    for (auto it = start; it != wanted.end() && p.busy_witness == kNoSlot; ++it)
      if (holds_more(*it)) p.busy_witness = *it;
    for (auto it = wanted.begin(); it != start && p.busy_witness == kNoSlot; ++it)
      if (holds_more(*it)) p.busy_witness = *it;
    if (p.busy_witness != kNoSlot) continue;
    p.catching_up = false;
    p.state = PeerState::in_sync;
    emit({.kind = EventKind::catch_up_finished, .peer = p.id, .count = p.catch_up_deltas, .bytes = p.catch_up_bytes});
  }
}

}  // namespace conect::sync
