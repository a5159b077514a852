// SimStore over crdt::Replica (the reference model).
#include <algorithm>
#include <set>

#include "conect/crdt/hlc.h"
#include "conect/crdt/replica.h"
#include "sim_store.h"

namespace conect::sim {
namespace {

class ReplicaStore final : public SimStore {
 public:
  explicit ReplicaStore(const FederationId& f) : federation_(f) {}

  Result<std::vector<std::pair<NodeId, sync::OriginHead>>> version_vector() const override {
    // Every origin that has deltas or evidence (one frozen at seq 1 has only
    // evidence), as the LMDB store lists them.
    const std::vector<NodeId> held = replica_.origins();
    std::set<NodeId> origins(held.begin(), held.end());
    for (const auto& [o, ev] : held_evidence_) origins.insert(o);
    for (const auto& ev : replica_.evidence()) {
      v1::DeltaBody body;
      if (!body.ParseFromString(ev.first().body())) continue;
      if (auto o = NodeId::from_raw(body.origin())) origins.insert(*o);
    }
    std::vector<std::pair<NodeId, sync::OriginHead>> out;
    for (const auto& o : origins) out.emplace_back(o, head_of(o));
    return out;
  }
  Result<sync::OriginHead> head(const NodeId& origin) const override { return head_of(origin); }
  Result<std::vector<v1::SignedDelta>> deltas_from(const NodeId& origin, Seq from, std::size_t max_count,
                                                   std::size_t max_bytes) const override {
    std::vector<v1::SignedDelta> out;
    const auto& log = replica_.log(origin);
    std::size_t bytes = 0;
    for (std::uint64_t s = std::max<std::uint64_t>(from.value, 1); s <= log.size() && out.size() < max_count; ++s) {
      const auto& d = log[s - 1].signed_delta;
      const std::size_t sz = d.body().size() + d.signature().size();
      if (!out.empty() && bytes + sz > max_bytes) break;
      bytes += sz;
      out.push_back(d);
    }
    return out;
  }
  Result<std::optional<v1::EquivocationEvidence>> evidence(const NodeId& origin) const override {
    std::optional<v1::EquivocationEvidence> best;
    std::uint64_t best_seq = 0;
    if (auto it = held_evidence_.find(origin); it != held_evidence_.end()) {
      best.emplace();
      *best->mutable_first() = it->second.first.signed_delta;
      *best->mutable_second() = it->second.second.signed_delta;
      best_seq = it->second.first.seq.value;
    }
    for (const auto& ev : replica_.evidence()) {
      v1::DeltaBody body;
      if (!body.ParseFromString(ev.first().body()) || body.origin() != origin.raw()) continue;
      if (!best || body.seq() < best_seq) {
        best = ev;
        best_seq = body.seq();
      }
    }
    return best;
  }

  Result<VerifiedDelta> author(const KeyPair& key, DeltaDraft draft, std::uint64_t now_ms) override {
    const NodeId& me = key.public_key();
    const Seq seq = replica_.head(me).next();
    auto d = build_delta(key, federation_, seq, replica_.head_id(me).value_or(DeltaId{}), clock_.tick(now_ms), draft);
    if (auto st = replica_.apply(d); !st.ok()) return st.error();
    return d;
  }
  Result<VerifiedDelta> author_as(const KeyPair& signer, const NodeId& me, DeltaDraft draft,
                                  std::uint64_t now_ms) override {
    const Seq seq = replica_.head(me).next();
    auto d =
        build_delta(signer, me, federation_, seq, replica_.head_id(me).value_or(DeltaId{}), clock_.tick(now_ms), draft);
    if (auto st = replica_.apply(d); !st.ok()) return st.error();
    return d;
  }
  std::shared_ptr<const ReplicatedRoster> roster() const override {
    return std::make_shared<const ReplicatedRoster>(replica_.replicated_roster());
  }
  std::vector<v1::DeltaRef> membership_deps() const override {
    std::vector<v1::DeltaRef> out;
    for (const auto& o : replica_.origins()) {
      const auto& log = replica_.log(o);
      for (auto it = log.rbegin(); it != log.rend(); ++it)
        if (carries_membership(it->body)) {
          out.push_back(delta_ref(*it));
          break;
        }
    }
    return out;
  }
  Status apply(std::vector<VerifiedDelta> batch) override {
    for (const auto& d : batch) {
      auto held = held_evidence_.find(d.origin);
      if (held != held_evidence_.end() && d.seq >= held->second.first.seq)
        return Error(Errc::equivocation, "beyond the fork of held evidence");
      if (auto st = replica_.apply(d); !st.ok()) return st;
      clock_.observe(d.hlc);
      release_evidence(d.origin);
    }
    return Status::Ok();
  }
  // Replica::apply refuses every delta of a frozen origin, even those before
  // the fork, so a node that learns of the fork before it holds the prefix
  // could never converge with those that do. Until that is fixed in crdt,
  // the evidence is held here and handed to the replica once the prefix is.
  Status add_evidence(const VerifiedDelta& a, const VerifiedDelta& b) override {
    auto it = held_evidence_.find(a.origin);
    if (it != held_evidence_.end() && it->second.first.seq <= a.seq) return Status::Ok();
    held_evidence_.insert_or_assign(a.origin, std::pair{a, b});
    release_evidence(a.origin);
    return Status::Ok();
  }
  Hash256 digest() const override { return replica_.digest(); }
  std::vector<RecordEntry> records(v1::RecordType type) const override {
    std::vector<RecordEntry> out;
    for (const auto& [key, rec] : replica_.records())
      if (key.type == type) out.push_back({key, rec.state});
    return out;
  }
  std::vector<WindowAvailability> availability(const RecordKey& placement) const override {
    return replica_.availability(placement);
  }
  Status reopen() override { return Status::Ok(); }
  const char* kind() const override { return "replica"; }

 private:
  void release_evidence(const NodeId& origin) {
    auto it = held_evidence_.find(origin);
    if (it == held_evidence_.end() || replica_.head(origin).value + 1 < it->second.first.seq.value) return;
    (void)replica_.apply_evidence(it->second.first, it->second.second);
    held_evidence_.erase(it);
  }
  sync::OriginHead head_of(const NodeId& o) const {
    sync::OriginHead h;
    h.seq = replica_.head(o);
    h.id = replica_.head_id(o).value_or(DeltaId{});
    if (auto f = replica_.frozen_at(o)) h.frozen_at = Seq{f->value + 1};
    if (auto it = held_evidence_.find(o); it != held_evidence_.end())
      if (h.frozen_at.value == 0 || it->second.first.seq < h.frozen_at) h.frozen_at = it->second.first.seq;
    return h;
  }
  FederationId federation_;
  Replica replica_;
  HlcClock clock_;
  std::map<NodeId, std::pair<VerifiedDelta, VerifiedDelta>> held_evidence_;
};

}  // namespace

std::unique_ptr<SimStore> make_replica_store(const FederationId& federation) {
  return std::make_unique<ReplicaStore>(federation);
}

}  // namespace conect::sim
