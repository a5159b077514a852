#include <algorithm>
#include <cassert>

#include "engine_impl.h"

namespace conect::sync {

const char* peer_state_name(PeerState s) {
  switch (s) {
    case PeerState::unknown: return "unknown";
    case PeerState::comparing: return "comparing";
    case PeerState::in_sync: return "in_sync";
    case PeerState::catching_up: return "catching_up";
  }
  return "unknown";
}

const char* event_name(EventKind k) {
  switch (k) {
    case EventKind::catch_up_started: return "catch_up_started";
    case EventKind::catch_up_finished: return "catch_up_finished";
    case EventKind::equivocation_detected: return "equivocation_detected";
    case EventKind::evidence_received: return "evidence_received";
    case EventKind::peer_misbehaved: return "peer_misbehaved";
    case EventKind::untrusted_skipped: return "untrusted_skipped";
    case EventKind::push_dropped: return "push_dropped";
    case EventKind::request_timed_out: return "request_timed_out";
    case EventKind::apply_failed: return "apply_failed";
    case EventKind::store_error: return "store_error";
    case EventKind::own_chain_behind: return "own_chain_behind";
    case EventKind::own_chain_caught_up: return "own_chain_caught_up";
  }
  return "unknown";
}

// ------------------------------------------------------------------ slots

std::uint32_t SyncEngine::Impl::find_slot(const NodeId& id) const {
  auto it = slot_of.find(id);
  return it == slot_of.end() ? kNoSlot : it->second;
}

std::uint32_t SyncEngine::Impl::slot(const NodeId& id) {
  auto [it, inserted] = slot_of.try_emplace(id, static_cast<std::uint32_t>(origins.size()));
  if (inserted) {
    OriginState o;
    o.id = id;
    origins.push_back(std::move(o));
    // Known vectors always cover every slot, so a Known& stays valid.
    for (auto& [pid, p] : peers) p.known.resize(origins.size());
  }
  return it->second;
}

void SyncEngine::Impl::refresh_head(std::uint32_t s) {
  OriginState& o = origins[s];
  auto h = view.head(o.id);
  if (!h.ok()) {
    ++stats.store_errors;
    emit({.kind = EventKind::store_error, .origin = o.id, .errc = Errc::storage_error, .detail = h.error().message()});
    return;
  }
  if (h->seq != o.stored || h->id != o.stored_id) vv_hash.reset();
  o.stored = h->seq;
  o.stored_id = h->id;
  if (h->frozen_at.value != 0 && (o.frozen_at.value == 0 || h->frozen_at < o.frozen_at)) {
    o.frozen_at = h->frozen_at;
    o.frozen_id.reset();
    vv_hash.reset();
  }
  if (o.pending < o.stored) {
    o.pending = o.stored;
    o.pending_id = o.stored_id;
  }
}

void SyncEngine::Impl::load_from_view() {
  auto vv = view.version_vector();
  if (!vv.ok()) {
    ++stats.store_errors;
    emit({.kind = EventKind::store_error, .errc = Errc::storage_error, .detail = vv.error().message()});
    return;
  }
  for (const auto& [id, head] : *vv) {
    OriginState& o = origins[slot(id)];
    o.stored = o.pending = head.seq;
    o.stored_id = o.pending_id = head.id;
    o.frozen_at = head.frozen_at;
    if (head.frozen_at.value != 0) {
      auto ev = view.evidence(id);
      if (ev.ok() && ev->has_value()) o.evidence = **ev;
    }
  }
  vv_hash.reset();
}

void SyncEngine::Impl::apply_roster(std::vector<NodeId> ids) {
  ids.push_back(cfg.self);
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
  for (auto& o : origins) {
    o.trusted = false;
    o.roster_index = 0;
  }
  roster.clear();
  std::string concat;
  for (const auto& id : ids) {
    std::uint32_t s = slot(id);
    origins[s].trusted = true;
    origins[s].roster_index = static_cast<std::uint32_t>(roster.size() + 1);
    roster.push_back(s);
    concat += id.raw();
  }
  Hash256 h = blake2b256(concat);
  roster_tag = static_cast<std::uint32_t>(h.bytes[0]) | static_cast<std::uint32_t>(h.bytes[1]) << 8 |
               static_cast<std::uint32_t>(h.bytes[2]) << 16 | static_cast<std::uint32_t>(h.bytes[3]) << 24;
  vv_hash.reset();
  // An origin that left the roster is neither fetched nor buffered any more.
  std::vector<std::uint64_t> stale;
  for (const auto& [id, f] : fetches)
    if (!origins[f.slot].trusted) stale.push_back(id);
  for (auto id : stale) end_fetch(id, false);
  for (auto it = push_buffer.begin(); it != push_buffer.end();) {
    if (!origins[it->first.first].trusted) {
      buffered -= it->second.bytes;
      it = push_buffer.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = wanted.begin(); it != wanted.end();)
    it = origins[*it].trusted ? std::next(it) : wanted.erase(it);
}

// ---------------------------------------------------------------- outputs

std::uint64_t SyncEngine::Impl::jitter(std::uint64_t span) {
  // splitmix64: the only randomness, from the configured seed.
  rng += 0x9e3779b97f4a7c15ull;
  std::uint64_t z = rng;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return span == 0 ? 0 : z % (span + 1);
}

void SyncEngine::Impl::send(Peer& p, v1::SyncMessage m) {
  ++stats.messages_out;
  stats.bytes_out += m.ByteSizeLong();
  out.emplace_back(SendAction{p.id, std::move(m)});
}

void SyncEngine::Impl::emit(Event e) { out.emplace_back(EventAction{std::move(e)}); }

void SyncEngine::Impl::misbehaved(NodeId peer, Errc errc, std::string detail) {
  if (!peers.contains(peer)) return;
  ++stats.misbehaving_peers;
  emit({.kind = EventKind::peer_misbehaved, .peer = peer, .errc = errc, .detail = detail});
  drop_peer(peer);
  out.emplace_back(DisconnectAction{peer, Error(errc, std::move(detail))});
}

void SyncEngine::Impl::drop_peer(const NodeId& id) {
  auto it = peers.find(id);
  if (it == peers.end()) return;
  sched_dirty = true;
  std::vector<std::uint64_t> ids(it->second.fetches.begin(), it->second.fetches.end());
  for (auto f : ids) end_fetch(f, false);
  for (auto b = push_buffer.begin(); b != push_buffer.end();) {
    if (b->second.from == id) {
      buffered -= b->second.bytes;
      b = push_buffer.erase(b);
    } else {
      ++b;
    }
  }
  peer_due.clear(id);  // before the erase: `id` may be the peer's own
  peer_of.erase(id);
  peers.erase(it);
}

std::optional<std::uint64_t> SyncEngine::Impl::deadline() const {
  std::optional<std::uint64_t> d;
  auto take = [&](std::uint64_t t) { d = d ? std::min(*d, t) : t; };
  if (auto t = peer_due.earliest()) take(*t);
  if (auto t = fetch_due.earliest()) take(*t);
  if (auto t = graft_due.earliest()) take(*t);
  // A backoff counts while its origin is wanted and it lies ahead; rearm()
  // drops the entries that lie behind or were replaced.
  for (const auto& [t, s] : retry_due) {
    if (t <= now || origins[s].retry_at != t || !wanted.contains(s)) continue;
    take(t);
    break;
  }
  if (!push_expiry.empty()) take(push_expiry.front().first);  // may be stale: an early wake-up
  return d;
}

void SyncEngine::Impl::rearm() {
  while (!retry_due.empty() &&
         (retry_due.begin()->first <= now || origins[retry_due.begin()->second].retry_at != retry_due.begin()->first))
    retry_due.erase(retry_due.begin());
  auto d = deadline();
  if (d && d != armed) out.emplace_back(ArmTimerAction{*d});
  armed = d;
}

// ---------------------------------------------------------------- dispatch

void SyncEngine::Impl::dispatch(Peer& p, const v1::SyncMessage& m) {
  ++stats.messages_in;
  switch (m.msg_case()) {
    case v1::SyncMessage::kSummary: on_summary(p, m.summary()); break;
    case v1::SyncMessage::kRequest: on_request(p, m.request()); break;
    case v1::SyncMessage::kBatch: on_batch(p, m.batch()); break;
    case v1::SyncMessage::kCredit: on_credit(p, m.credit()); break;
    case v1::SyncMessage::kPush: on_push(p, m.push()); break;
    case v1::SyncMessage::kHave: on_have(p, m.have()); break;
    case v1::SyncMessage::kEvidence: on_evidence(p, m.evidence()); break;
    case v1::SyncMessage::kPersonalDeliver:  // refused by check_message
    case v1::SyncMessage::kPersonalAnswer:
    case v1::SyncMessage::kPersonalCarry:
    case v1::SyncMessage::kPersonalCarryAnswer:
    case v1::SyncMessage::MSG_NOT_SET: break;
  }
}

// ------------------------------------------------------------- public API

SyncEngine::SyncEngine(SyncConfig config, const SyncStoreView& view, std::vector<NodeId> roster,
                       std::uint64_t now_ms, const DeltaVerifier& verifier)
    : impl_(std::make_unique<Impl>(std::move(config), view, verifier)) {
  impl_->now = now_ms;
  impl_->rng = impl_->cfg.seed;
  impl_->load_from_view();
  impl_->apply_roster(std::move(roster));
}

SyncEngine::~SyncEngine() = default;

void SyncEngine::set_roster(std::vector<NodeId> roster, std::uint64_t now_ms) {
  impl_->now = now_ms;
  impl_->apply_roster(std::move(roster));
  impl_->sched_dirty = true;
  impl_->schedule();
  impl_->rearm();
}

void SyncEngine::on_peer_connected(const NodeId& id, PeerRole role, std::uint64_t now_ms) {
  Impl& I = *impl_;
  I.now = now_ms;
  I.drop_peer(id);
  Peer& p = I.peers[id];
  I.peer_of[id] = &p;
  p.id = id;
  p.role = role;
  p.known.resize(I.origins.size());
  if (role == PeerRole::dialler) {
    I.send_summary(p, v1::SUMMARY_PROBE, nullptr);
    p.next_probe_at = now_ms + I.cfg.summary_interval_ms + I.jitter(I.cfg.summary_jitter_ms);
  } else {
    // The dialler leads the rounds; the acceptor probes only if it hears none.
    p.next_probe_at = now_ms + 2 * I.cfg.summary_interval_ms + I.jitter(I.cfg.summary_jitter_ms);
  }
  I.peer_timer(p);
  I.rearm();
}

void SyncEngine::on_peer_disconnected(const NodeId& id, std::uint64_t now_ms) {
  impl_->now = now_ms;
  impl_->drop_peer(id);
  impl_->schedule();
  impl_->rearm();
}

void SyncEngine::on_message_bytes(const NodeId& peer, std::string_view bytes, std::uint64_t now_ms) {
  impl_->now = now_ms;
  if (!impl_->peers.contains(peer)) return;
  auto m = decode_message(bytes, impl_->cfg.limits);
  if (!m.ok()) {
    impl_->misbehaved(peer, m.error().code == make_error_code(Errc::limit_exceeded) ? Errc::limit_exceeded
                                                                                     : Errc::protocol_error,
                      m.error().detail);
    impl_->rearm();
    return;
  }
  on_message(peer, *m, now_ms);
}

void SyncEngine::on_message(const NodeId& peer, const v1::SyncMessage& m, std::uint64_t now_ms) {
  Impl& I = *impl_;
  I.now = now_ms;
  Peer* p = I.find_peer(peer);
  if (p == nullptr) return;
  if (auto st = check_message(m, I.cfg.limits); !st.ok()) {
    I.misbehaved(peer, st.error().is(Errc::limit_exceeded) ? Errc::limit_exceeded : Errc::protocol_error,
                 std::string(message_name(m)) + ": " + st.error().detail);
  } else {
    I.dispatch(*p, m);
  }
  I.schedule();
  I.rearm();
}

void SyncEngine::on_local_commit(std::span<const VerifiedDelta> deltas, std::uint64_t now_ms) {
  impl_->now = now_ms;
  impl_->local_commit(deltas);
  impl_->schedule();
  impl_->rearm();
}

void SyncEngine::on_batch_applied(const ApplyResult& result, std::uint64_t now_ms) {
  impl_->now = now_ms;
  impl_->applied(result);
  impl_->schedule();
  impl_->rearm();
}

void SyncEngine::on_timer(std::uint64_t now_ms) {
  Impl& I = *impl_;
  I.now = now_ms;
  I.armed.reset();
  // Only what is due, in the order of ids (as when every fetch and peer was
  // walked).
  for (auto id : I.fetch_due.due(now_ms)) I.end_fetch(id, true);
  for (auto s : I.graft_due.due(now_ms)) I.graft_wait_over(s);
  I.expire_buffer();
  I.sched_dirty = true;
  for (const NodeId& id : I.peer_due.due(now_ms)) {
    auto it = I.peers.find(id);
    if (it == I.peers.end()) continue;
    Peer& p = it->second;
    if (p.have_due(now_ms)) I.flush_haves(p);
    if (p.next_probe_at <= now_ms) {
      I.send_summary(p, v1::SUMMARY_PROBE, nullptr);
      p.next_probe_at = now_ms + I.cfg.summary_interval_ms + I.jitter(I.cfg.summary_jitter_ms);
    }
    I.peer_timer(p);
  }
  I.schedule();
  I.rearm();
}

std::optional<Action> SyncEngine::poll() {
  if (impl_->out.empty()) return std::nullopt;
  Action a = std::move(impl_->out.front());
  impl_->out.pop_front();
  return a;
}

std::optional<std::uint64_t> SyncEngine::next_deadline() const { return impl_->deadline(); }
const SyncStats& SyncEngine::stats() const { return impl_->stats; }
std::size_t SyncEngine::buffered_bytes() const { return impl_->used(); }
std::size_t SyncEngine::buffered_pushes() const { return impl_->push_buffer.size(); }

std::size_t SyncEngine::reordered_batches() const {
  std::size_t n = 0;
  for (const auto& [id, f] : impl_->fetches) n += f.reorder.size();
  return n;
}

std::size_t SyncEngine::peer_credit(const NodeId& peer) const {
  auto it = impl_->peers.find(peer);
  if (it == impl_->peers.end()) return 0;
  // The running sum, checked against the fetches it sums (tests read this).
  [[maybe_unused]] std::size_t n = 0;
  for (auto id : it->second.fetches)
    if (auto f = impl_->fetches.find(id); f != impl_->fetches.end()) n += f->second.credit_bytes;
  assert(n == it->second.credit);
  return it->second.credit;
}

void SyncEngine::Impl::add_credit(Fetch& f, std::size_t bytes) {
  f.credit_bytes += bytes;
  credit_outstanding += bytes;
  if (Peer* p = find_peer(f.peer)) p->credit += bytes;
}

void SyncEngine::Impl::take_credit(Fetch& f, std::size_t bytes) {
  f.credit_bytes -= bytes;
  credit_outstanding -= bytes;
  if (Peer* p = find_peer(f.peer)) p->credit -= bytes;
}

PeerState SyncEngine::peer_state(const NodeId& peer) const {
  auto it = impl_->peers.find(peer);
  return it == impl_->peers.end() ? PeerState::unknown : it->second.state;
}

std::vector<NodeId> SyncEngine::peers() const {
  std::vector<NodeId> ids;
  for (const auto& [id, p] : impl_->peers) ids.push_back(id);
  return ids;
}

SyncProgress SyncEngine::progress() const {
  const Impl& m = *impl_;
  SyncProgress out;
  std::vector<std::uint64_t> best(m.origins.size(), 0);
  for (const auto& [id, p] : m.peers) {
    PeerProgress pp{id, p.state, 0, p.roster_tag.has_value()};
    for (std::uint32_t s : m.roster) {
      if (s >= p.known.size()) continue;
      const OriginState& o = m.origins[s];
      const std::uint64_t claim = std::min(p.known[s].seq, o.limit());
      best[s] = std::max(best[s], claim);
      if (claim > o.stored.value) pp.behind += claim - o.stored.value;
    }
    out.catching_up = out.catching_up || p.catching_up;
    out.peers.push_back(pp);
  }
  for (std::uint32_t s : m.roster) {
    const OriginState& o = m.origins[s];
    out.held += o.stored.value;
    if (best[s] > o.stored.value) {
      out.behind += best[s] - o.stored.value;
      ++out.origins_behind;
    }
  }
  return out;
}

bool SyncEngine::own_chain_caught_up() const {
  const Impl& I = *impl_;
  std::uint32_t s = I.find_slot(I.cfg.self);
  // Evidence comes only from peers whose summaries we have compared: one that
  // just connected has shown nothing yet, and its silence proves nothing.
  bool compared = false;
  for (const auto& [id, p] : I.peers) {
    if (s != kNoSlot && s < p.known.size() && p.known[s].seq > I.origins[s].stored.value) return false;
    compared = compared || p.state == PeerState::in_sync;
  }
  return compared;
}

Hash256 SyncEngine::version_vector_hash() { return impl_->compute_vv_hash(); }

}  // namespace conect::sync
