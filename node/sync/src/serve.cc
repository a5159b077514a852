// The requests we answer (docs/sync.md "Catch-up", responder side): never
// more than the credit granted, never more than a batch limit per message.
#include <algorithm>

#include "engine_impl.h"

namespace conect::sync {
namespace {

void send_end(SyncEngine::Impl& I, Peer& p, std::uint64_t id, const NodeId& origin, std::uint64_t next,
              std::uint64_t head) {
  v1::SyncMessage m;
  auto* b = m.mutable_batch();
  b->set_request_id(id);
  b->set_origin(origin.raw());
  b->set_first_seq(next);
  b->set_end(true);
  b->set_head(head);
  I.send(p, std::move(m));
}

}  // namespace

void SyncEngine::Impl::on_request(Peer& p, const v1::SyncRequest& r) {
  ++stats.requests_served;
  const NodeId origin = *NodeId::from_raw(r.origin());
  const std::uint32_t s = find_slot(origin);
  if (s == kNoSlot || !origins[s].trusted) {
    ++stats.untrusted_skipped;
    return send_end(*this, p, r.request_id(), origin, r.from(), 0);
  }
  if (!p.serving.contains(r.request_id()) && p.serving.size() >= cfg.max_serving_per_peer) {
    auto oldest = std::min_element(p.serving.begin(), p.serving.end(), [](const auto& a, const auto& b) {
      return a.second.last_active < b.second.last_active;
    });
    p.serving.erase(oldest);
  }
  Serving& sv = p.serving[r.request_id()];
  sv.id = r.request_id();
  sv.origin = origin;
  sv.next_seq = r.from();
  sv.until = r.until();
  sv.credit_count = r.max_count();
  sv.credit_bytes = r.max_bytes();
  sv.last_active = now;
  pump(p, sv);
}

void SyncEngine::Impl::on_credit(Peer& p, const v1::SyncCredit& c) {
  auto it = p.serving.find(c.request_id());
  if (it == p.serving.end()) {
    // Evicted or finished: say so, and the requester asks afresh.
    v1::SyncMessage m;
    m.mutable_batch()->set_request_id(c.request_id());
    return send(p, std::move(m));
  }
  Serving& sv = it->second;
  sv.credit_count = std::min<std::uint64_t>(sv.credit_count + c.add_count(), cfg.limits.max_credit_count);
  sv.credit_bytes = std::min<std::uint64_t>(sv.credit_bytes + c.add_bytes(), cfg.limits.max_credit_bytes);
  sv.last_active = now;
  pump(p, sv);
}

void SyncEngine::Impl::pump(Peer& p, Serving& sv) {
  const std::uint64_t id = sv.id;
  const std::uint32_t s = find_slot(sv.origin);
  // Only what is committed, and nothing past a fork we know of.
  std::uint64_t upto = eff_seq(s);
  if (sv.until != 0) upto = std::min(upto, sv.until);
  for (;;) {
    if (sv.next_seq > upto) {
      // What the peer asks for is handed to our writer and not committed yet
      // (a relay forwards before its commit: the peer may have seen the delta
      // from us already): answer once it is (resume_serving), rather than end
      // short of what we showed and look like a peer that broke its claim.
      if (sv.until != 0 && sv.next_seq <= std::min(sv.until, origins[s].pending.value) &&
          sv.next_seq <= origins[s].limit())
        return;
      send_end(*this, p, id, sv.origin, sv.next_seq, eff_seq(s));
      p.serving.erase(id);
      return;
    }
    if (sv.credit_count == 0) return;  // wait for credit
    const std::size_t count = static_cast<std::size_t>(
        std::min<std::uint64_t>({sv.credit_count, cfg.limits.max_batch_count, upto - sv.next_seq + 1}));
    const std::size_t max_bytes = static_cast<std::size_t>(std::min<std::uint64_t>(sv.credit_bytes, cfg.limits.max_batch_bytes));
    auto ds = view.deltas_from(sv.origin, Seq{sv.next_seq}, count, max_bytes);
    if (!ds.ok() || ds->empty()) {
      ++stats.store_errors;
      emit({.kind = EventKind::store_error, .peer = p.id, .origin = sv.origin, .seq = sv.next_seq,
            .errc = Errc::storage_error, .detail = ds.ok() ? "stored delta missing" : ds.error().message()});
      send_end(*this, p, id, sv.origin, sv.next_seq, eff_seq(s));
      p.serving.erase(id);
      return;
    }
    std::size_t k = 0, total = 0;
    for (const auto& d : *ds) {
      const std::size_t sz = delta_bytes(d);
      if (total + sz > sv.credit_bytes || (k > 0 && total + sz > cfg.limits.max_batch_bytes)) break;
      total += sz;
      ++k;
    }
    if (k == 0) return;  // the next delta needs more credit than granted
    v1::SyncMessage m;
    auto* b = m.mutable_batch();
    b->set_request_id(id);
    b->set_origin(sv.origin.raw());
    b->set_first_seq(sv.next_seq);
    for (std::size_t i = 0; i < k; ++i) {
      strip_wrapper((*ds)[i]);  // a log written before wrappers were stripped on receipt
      *b->add_deltas() = std::move((*ds)[i]);
    }
    sv.next_seq += k;
    sv.credit_count -= k;
    sv.credit_bytes -= total;
    const bool end = sv.next_seq > upto;
    b->set_end(end);
    b->set_head(eff_seq(s));
    send(p, std::move(m));
    if (end) {
      p.serving.erase(id);
      return;
    }
  }
}

// After a commit of origin `s` (or a refusal that reset it): requests kept
// open for deltas that were in flight are answered now.
void SyncEngine::Impl::resume_serving(std::uint32_t s) {
  const NodeId& origin = origins[s].id;
  std::vector<std::pair<NodeId, std::uint64_t>> open;
  for (auto& [id, p] : peers)
    for (auto& [rid, sv] : p.serving)
      if (sv.origin == origin) open.emplace_back(id, rid);
  for (const auto& [id, rid] : open) {
    auto p = peers.find(id);
    if (p == peers.end()) continue;
    auto sv = p->second.serving.find(rid);
    if (sv != p->second.serving.end()) pump(p->second, sv->second);
  }
}

}  // namespace conect::sync
