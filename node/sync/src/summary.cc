// Summary rounds (docs/sync.md "Summary"): one hash when in sync, short
// per-origin entries when not, full entries only when short ones cannot tell.
#include <algorithm>
#include <cstring>

#include "engine_impl.h"

namespace conect::sync {
namespace {

void append_u64be(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

bool head_matches(const DeltaId& ours, const std::string& theirs) {
  if (theirs.empty()) return true;  // nothing to compare
  return std::memcmp(ours.data(), theirs.data(), std::min(theirs.size(), ours.size())) == 0;
}

}  // namespace

std::uint64_t SyncEngine::Impl::eff_seq(std::uint32_t s) const {
  const OriginState& o = origins[s];
  return std::min(o.stored.value, o.limit());
}

DeltaId SyncEngine::Impl::eff_id(std::uint32_t s) {
  OriginState& o = origins[s];
  if (o.stored.value <= o.limit()) return o.stored_id;
  if (o.frozen_id) return *o.frozen_id;
  const std::uint64_t at = o.limit();
  if (at == 0) return *(o.frozen_id = DeltaId{});
  auto ds = view.deltas_from(o.id, Seq{at}, 1, cfg.limits.max_delta_bytes);
  if (!ds.ok() || ds->empty()) {
    ++stats.store_errors;
    emit({.kind = EventKind::store_error, .origin = o.id, .seq = at, .errc = Errc::storage_error,
          .detail = ds.ok() ? "frozen head missing from the store" : ds.error().message()});
    return DeltaId{};
  }
  o.frozen_id = compute_delta_id(ds->front().body(), ds->front().signature());
  return *o.frozen_id;
}

Hash256 SyncEngine::Impl::compute_vv_hash() {
  if (vv_hash) return *vv_hash;
  // Canonical form: trusted origins with something stored, in id order:
  // origin (32) || seq (8, BE) || head id (32) || fork seq (8, BE).
  std::string canon;
  canon.reserve(roster.size() * 80);
  for (std::uint32_t s : roster) {
    const std::uint64_t seq = eff_seq(s);
    if (seq == 0 && origins[s].frozen_at.value == 0) continue;
    canon += origins[s].id.raw();
    append_u64be(canon, seq);
    canon += eff_id(s).raw();
    append_u64be(canon, origins[s].frozen_at.value);
  }
  vv_hash = blake2b256(canon);
  return *vv_hash;
}

void SyncEngine::Impl::fill_entry(const Peer& p, std::uint32_t s, bool full, v1::OriginEntry* e) {
  const OriginState& o = origins[s];
  if (!full && p.roster_tag == roster_tag && o.roster_index != 0) {
    e->set_index(o.roster_index);
  } else {
    e->set_origin(o.id.raw());
  }
  const std::uint64_t seq = eff_seq(s);
  e->set_seq(seq);
  if (seq > 0) e->set_head(eff_id(s).raw().substr(0, full ? DeltaId::size() : kHeadPrefixBytes));
  e->set_frozen(o.frozen_at.value);
}

void SyncEngine::Impl::send_summary(Peer& p, v1::SummaryMode mode,
                                    const std::vector<std::uint32_t>* only) {
  v1::SyncMessage m;
  auto* sm = m.mutable_summary();
  sm->set_vv_hash(compute_vv_hash().raw());
  sm->set_roster_tag(roster_tag);
  sm->set_mode(mode);
  sm->set_reads_packed_have(cfg.packed_haves);
  const bool full = mode == v1::SUMMARY_FULL;
  if (mode == v1::SUMMARY_ENTRIES || full) {
    for (std::uint32_t s : roster)
      if (eff_seq(s) > 0 || origins[s].frozen_at.value != 0) fill_entry(p, s, full, sm->add_entries());
  } else if (only != nullptr) {
    for (std::uint32_t s : *only) fill_entry(p, s, false, sm->add_entries());
  }
  send(p, std::move(m));
}

std::uint32_t SyncEngine::Impl::resolve(const Peer& p, std::uint32_t tag, const v1::OriginEntry& e) {
  (void)p;
  std::uint32_t s = kNoSlot;
  if (e.index() != 0) {
    // A position in a roster we do not share cannot be resolved; the next
    // round, sent knowing our tag, will name the origin in full.
    if (tag != roster_tag || e.index() > roster.size()) return kNoSlot;
    s = roster[e.index() - 1];
  } else {
    auto id = NodeId::from_raw(e.origin());
    if (!id) return kNoSlot;
    s = find_slot(*id);
    if (s == kNoSlot || !origins[s].trusted) {
      ++stats.untrusted_skipped;
      return kNoSlot;
    }
  }
  return s;
}

void SyncEngine::Impl::mark_in_sync(Peer& p) {
  ++stats.summaries_in_sync;
  for (std::uint32_t s : roster) {
    Known& k = p.k(s);
    k.seq = eff_seq(s);
    k.frozen = origins[s].frozen_at.value;
  }
  if (p.fetches.empty()) p.state = PeerState::in_sync;
}

bool SyncEngine::Impl::compare_entry(Peer& p, std::uint32_t s, const v1::OriginEntry& e) {
  OriginState& o = origins[s];
  const std::uint64_t q = eff_seq(s);
  const DeltaId ours = eff_id(s);
  Known& k = p.k(s);
  k.seq = e.seq();
  k.frozen = e.frozen();
  const bool head_differs = q > 0 && e.seq() == q && !head_matches(ours, e.head());
  const bool differs = e.seq() != q || e.frozen() != o.frozen_at.value || head_differs;
  if (o.frozen_at.value != 0 && (e.frozen() == 0 || e.frozen() > o.frozen_at.value)) send_evidence(p, s);
  if (e.seq() > o.pending.value && o.pending.value < o.limit()) consider(s);
  if (head_differs) start_probe(p, s, q, std::nullopt);
  if (o.id == cfg.self && e.seq() > o.stored.value && !own_behind_reported) {
    own_behind_reported = true;
    emit({.kind = EventKind::own_chain_behind, .peer = p.id, .origin = o.id, .seq = e.seq(),
          .detail = "a peer holds more of our own chain than the store: do not author until it is fetched"});
  }
  return differs;
}

void SyncEngine::Impl::on_summary(Peer& p, const v1::SyncSummary& m) {
  p.roster_tag = m.roster_tag();
  p.reads_packed = cfg.packed_haves && m.reads_packed_have();
  if (p.role == PeerRole::acceptor)
    p.next_probe_at = now + 2 * cfg.summary_interval_ms + jitter(cfg.summary_jitter_ms);
  peer_timer(p);
  const bool equal = m.vv_hash() == compute_vv_hash().raw();
  switch (m.mode()) {
    case v1::SUMMARY_PROBE:
      if (equal) {
        mark_in_sync(p);
        send_summary(p, v1::SUMMARY_ECHO, nullptr);
      } else {
        ++stats.summaries_differ;
        if (p.state == PeerState::in_sync) p.state = PeerState::comparing;
        send_summary(p, v1::SUMMARY_ENTRIES, nullptr);
      }
      return;
    case v1::SUMMARY_ECHO:
      if (equal) mark_in_sync(p);
      return;
    case v1::SUMMARY_ENTRIES:
    case v1::SUMMARY_FULL:
    case v1::SUMMARY_DIFF: break;
    default: return;
  }
  const bool complete = m.mode() != v1::SUMMARY_DIFF;
  std::vector<char> listed(origins.size(), 0);
  std::vector<std::uint32_t> diff;
  for (const auto& e : m.entries()) {
    std::uint32_t s = resolve(p, m.roster_tag(), e);
    if (s == kNoSlot || listed[s]) continue;
    listed[s] = 1;
    if (compare_entry(p, s, e)) diff.push_back(s);
  }
  for (std::uint32_t s : roster) {
    if (listed[s]) continue;
    Known& k = p.k(s);
    if (complete) {
      // Not listed in a complete summary: the peer holds nothing of it.
      k = Known{};
      if (origins[s].frozen_at.value != 0) send_evidence(p, s);
      if (eff_seq(s) > 0 || origins[s].frozen_at.value != 0) diff.push_back(s);
    } else {
      // Not listed in a diff: the peer holds what we hold.
      k = Known{eff_seq(s), origins[s].frozen_at.value};
    }
  }
  if (complete && !diff.empty()) {
    std::sort(diff.begin(), diff.end(), [&](auto a, auto b) { return origins[a].id < origins[b].id; });
    send_summary(p, v1::SUMMARY_DIFF, &diff);
  } else if (m.mode() == v1::SUMMARY_ENTRIES && !equal && m.roster_tag() == roster_tag) {
    // Same roster, every short entry agrees, yet the hashes differ: compare
    // in full (a 16-byte prefix collision, or a changed head in between).
    send_summary(p, v1::SUMMARY_FULL, nullptr);
  }
  if (diff.empty() && p.fetches.empty()) p.state = PeerState::in_sync;
}

void SyncEngine::Impl::start_probe(Peer& p, std::uint32_t s, std::uint64_t seq,
                                   std::optional<DeltaId> expect, std::vector<v1::SignedDelta> cover) {
  if (seq == 0 || p.probing.contains(s) || free_budget() < cfg.limits.max_delta_bytes) return;
  Fetch f;
  f.id = next_request_id++;
  f.peer = p.id;
  f.slot = s;
  f.next_seq = seq;
  f.until = seq;
  f.credit_count = 1;
  f.deadline = now + cfg.request_timeout_ms;
  fetch_due.set(f.id, f.deadline);
  f.probe = true;
  f.probe_expect = expect;
  f.probe_cover = std::move(cover);
  p.probing.insert(s);
  p.fetches.insert(f.id);
  add_credit(f, cfg.limits.max_delta_bytes);
  v1::SyncMessage m;
  auto* r = m.mutable_request();
  r->set_request_id(f.id);
  r->set_origin(origins[s].id.raw());
  r->set_from(seq);
  r->set_until(seq);
  r->set_max_count(1);
  r->set_max_bytes(f.credit_bytes);
  fetches.emplace(f.id, std::move(f));
  ++stats.requests_sent;
  send(p, std::move(m));
}

}  // namespace conect::sync
