// A minimal in-memory log store behind SyncStoreView, for the engine's unit
// tests: per-origin chains with the same acceptance rules as Store::apply
// (link to the head, dependencies stored, nothing past a fork), no merge.
#pragma once

#include <map>
#include <optional>
#include <vector>

#include "conect/crdt/delta.h"
#include "conect/sync/engine.h"
#include "conect/sync/store_view.h"

namespace conect::sync::test {

// The one federation every engine test, fuzz target and corpus maker uses.
inline FederationId test_federation() {
  FederationId f;
  f.bytes.fill(7);
  return f;
}

class MemLog final : public SyncStoreView {
 public:
  Result<std::vector<std::pair<NodeId, OriginHead>>> version_vector() const override {
    std::vector<std::pair<NodeId, OriginHead>> out;
    for (const auto& [id, chain] : logs_)
      if (!chain.empty()) out.emplace_back(id, head_of(id));
    return out;
  }
  Result<OriginHead> head(const NodeId& origin) const override { return head_of(origin); }
  Result<std::vector<v1::SignedDelta>> deltas_from(const NodeId& origin, Seq from, std::size_t max_count,
                                                   std::size_t max_bytes) const override {
    ++reads;
    std::vector<v1::SignedDelta> out;
    auto it = logs_.find(origin);
    if (it == logs_.end() || from.value == 0) return out;
    std::size_t bytes = 0;
    for (std::uint64_t s = from.value; s <= it->second.size() && out.size() < max_count; ++s) {
      const auto& d = it->second[s - 1].signed_delta;
      if (!out.empty() && bytes + delta_bytes(d) > max_bytes) break;
      bytes += delta_bytes(d);
      out.push_back(d);
    }
    return out;
  }
  Result<std::optional<v1::EquivocationEvidence>> evidence(const NodeId& origin) const override {
    auto it = evidence_.find(origin);
    if (it == evidence_.end()) return std::optional<v1::EquivocationEvidence>{};
    return std::optional<v1::EquivocationEvidence>{it->second};
  }

  // Store::apply's acceptance: contiguous, linked, dependencies stored.
  Status apply(const std::vector<VerifiedDelta>& ds) {
    for (const auto& d : ds) {
      auto& chain = logs_[d.origin];
      if (d.seq.value <= chain.size()) {
        if (chain[d.seq.value - 1].id != d.id) return Error(Errc::equivocation, "differs from stored");
        continue;
      }
      if (d.seq.value != chain.size() + 1) return Error(Errc::sequence_gap, "gap");
      if (!chain.empty() && d.prev != chain.back().id) return Error(Errc::broken_chain, "does not link");
      if (frozen_at(d.origin) != 0 && d.seq.value >= frozen_at(d.origin))
        return Error(Errc::equivocation, "origin frozen");
      for (const auto& dep : d.body.deps()) {
        auto o = NodeId::from_raw(dep.origin());
        if (!o || head_of(*o).seq.value < dep.seq()) return Error(Errc::sequence_gap, "missing dependency");
        if (dep.seq() > 0 && !dep.id().empty() && logs_[*o][dep.seq() - 1].id.raw() != dep.id())
          return Error(Errc::broken_chain, "dependency names another delta than the one stored");
      }
      chain.push_back(d);
    }
    return Status::Ok();
  }
  // Appends without any check: a peer's log holding what this one refuses.
  void put_unchecked(const VerifiedDelta& d) { logs_[d.origin].push_back(d); }
  void add_evidence(const StoreEvidenceAction& e) {
    auto& f = frozen_[e.origin];
    if (f == 0 || e.seq.value < f) {
      f = e.seq.value;
      v1::EquivocationEvidence ev;
      *ev.mutable_first() = e.first.signed_delta;
      *ev.mutable_second() = e.second.signed_delta;
      evidence_[e.origin] = ev;
    }
  }
  std::uint64_t frozen_at(const NodeId& o) const {
    auto it = frozen_.find(o);
    return it == frozen_.end() ? 0 : it->second;
  }
  std::uint64_t seq(const NodeId& o) const { return head_of(o).seq.value; }
  const std::vector<VerifiedDelta>& chain(const NodeId& o) { return logs_[o]; }

  mutable std::uint64_t reads = 0;

 private:
  OriginHead head_of(const NodeId& origin) const {
    OriginHead h;
    auto it = logs_.find(origin);
    if (it != logs_.end() && !it->second.empty()) {
      h.seq = it->second.back().seq;
      h.id = it->second.back().id;
    }
    h.frozen_at = Seq{frozen_at(origin)};
    return h;
  }
  std::map<NodeId, std::vector<VerifiedDelta>> logs_;
  std::map<NodeId, std::uint64_t> frozen_;
  std::map<NodeId, v1::EquivocationEvidence> evidence_;
};

// An origin authoring a chain of small deltas.
class Author {
 public:
  Author(std::uint8_t seed_byte, const FederationId& fed) : key_(make(seed_byte)), fed_(fed) {}
  const NodeId& id() const { return key_.public_key(); }
  const KeyPair& key() const { return key_; }
  VerifiedDelta next(std::size_t payload = 40, std::vector<v1::DeltaRef> deps = {}) {
    DeltaDraft draft;
    v1::Operation op;
    auto* w = op.mutable_write();
    w->mutable_id()->set_owner(id().raw());
    w->mutable_id()->set_serial(seq_ + 1);
    w->mutable_contact()->set_display_name(std::string(payload, 'x'));
    w->add_fields(2);
    draft.ops.push_back(op);
    draft.deps = std::move(deps);
    auto d = build_delta(key_, fed_, Seq{seq_ + 1}, prev_, Hlc::make(1000 + seq_, 0), draft);
    ++seq_;
    prev_ = d.id;
    return d;
  }
  // A second delta at `seq` that differs from the first (an equivocation).
  VerifiedDelta fork(std::uint64_t seq, const DeltaId& prev) {
    DeltaDraft draft;
    v1::Operation op;
    op.mutable_erase()->mutable_record()->set_owner(id().raw());
    draft.ops.push_back(op);
    return build_delta(key_, fed_, Seq{seq}, prev, Hlc::make(5000 + seq, 1), draft);
  }

 private:
  static KeyPair make(std::uint8_t b) {
    std::array<std::uint8_t, 32> seed{};
    seed.fill(b);
    return KeyPair::from_seed(seed);
  }
  KeyPair key_;
  FederationId fed_;
  std::uint64_t seq_ = 0;
  DeltaId prev_{};
};

}  // namespace conect::sync::test
