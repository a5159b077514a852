#include "conect/node/store_view.h"

namespace conect::node {

namespace {
sync::OriginHead to_origin_head(const storage::HeadInfo& h) { return {h.seq, h.id, h.frozen_at}; }
}  // namespace

Result<std::vector<std::pair<NodeId, sync::OriginHead>>> StoreSyncView::version_vector() const {
  auto vv = store_.version_vector();
  if (!vv.ok()) return vv.error();
  std::vector<std::pair<NodeId, sync::OriginHead>> out;
  out.reserve(vv->size());
  for (const auto& [origin, head] : *vv) out.emplace_back(origin, to_origin_head(head));
  return out;
}

Result<sync::OriginHead> StoreSyncView::head(const NodeId& origin) const {
  auto h = store_.head(origin);
  if (!h.ok()) return h.error();
  if (!*h) return sync::OriginHead{};
  return to_origin_head(**h);
}

Result<std::vector<v1::SignedDelta>> StoreSyncView::deltas_from(const NodeId& origin, Seq from, std::size_t max_count,
                                                                std::size_t max_bytes) const {
  auto raw = store_.deltas_from(origin, from, max_count, max_bytes);
  if (!raw.ok()) return raw.error();
  std::vector<v1::SignedDelta> out(raw->size());
  for (std::size_t i = 0; i < raw->size(); ++i)
    if (!out[i].ParseFromString((*raw)[i]))
      return Error(Errc::storage_error, "stored delta " + std::to_string(from.value + i) + " of " +
                                            origin.hex().substr(0, 16) + " does not parse");
  return out;
}

Result<std::optional<v1::EquivocationEvidence>> StoreSyncView::evidence(const NodeId& origin) const {
  auto all = store_.evidence();
  if (!all.ok()) return all.error();
  std::optional<v1::EquivocationEvidence> best;
  std::uint64_t best_seq = 0;
  for (const auto& e : *all) {
    if (!e.has_equivocation()) continue;
    v1::DeltaBody body;
    if (!body.ParseFromString(e.equivocation().first().body()) || body.origin() != origin.raw()) continue;
    if (!best || body.seq() < best_seq) {
      best = e.equivocation();
      best_seq = body.seq();
    }
  }
  return best;
}

}  // namespace conect::node
