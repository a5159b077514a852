// SimStore over the real LMDB storage::Store (no_sync: a simulated crash
// loses what was not committed, never what was).
#include <algorithm>

#include "conect/storage/store.h"
#include "sim_store.h"

namespace conect::sim {
namespace {

class LmdbStore final : public SimStore {
 public:
  LmdbStore(const FederationId& f, const NodeId& self, std::filesystem::path dir)
      : federation_(f), self_(self), dir_(std::move(dir)) {}

  Status open() {
    storage::StoreOptions o;
    o.create = true;
    o.no_sync = true;
    o.map_size = std::uint64_t{1} << 30;
    auto s = storage::Store::open(dir_, o);
    if (!s.ok()) return s.error();
    store_ = std::move(s.value());
    return store_->initialise(federation_, self_);
  }

  Result<std::vector<std::pair<NodeId, sync::OriginHead>>> version_vector() const override {
    auto vv = store_->version_vector();
    if (!vv.ok()) return vv.error();
    std::vector<std::pair<NodeId, sync::OriginHead>> out;
    for (const auto& [id, h] : *vv) out.emplace_back(id, convert(h));
    return out;
  }
  Result<sync::OriginHead> head(const NodeId& origin) const override {
    auto h = store_->head(origin);
    if (!h.ok()) return h.error();
    return h->has_value() ? convert(**h) : sync::OriginHead{};
  }
  Result<std::vector<v1::SignedDelta>> deltas_from(const NodeId& origin, Seq from, std::size_t max_count,
                                                   std::size_t max_bytes) const override {
    auto raw = store_->deltas_from(origin, from, max_count, max_bytes);
    if (!raw.ok()) return raw.error();
    std::vector<v1::SignedDelta> out(raw->size());
    for (std::size_t i = 0; i < raw->size(); ++i)
      if (!out[i].ParseFromString((*raw)[i])) return Error(Errc::storage_error, "stored delta does not parse");
    return out;
  }
  Result<std::optional<v1::EquivocationEvidence>> evidence(const NodeId& origin) const override {
    auto all = store_->evidence();
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

  Result<VerifiedDelta> author(const KeyPair& key, DeltaDraft draft, std::uint64_t now_ms) override {
    return store_->author(key, std::move(draft), now_ms);
  }
  Status apply(std::vector<VerifiedDelta> batch) override {
    auto r = store_->apply(std::move(batch));
    if (!r.ok()) return r.error();
    if (!r->rejected.empty()) return r->rejected.front().reason;
    return Status::Ok();
  }
  Status add_evidence(const VerifiedDelta& a, const VerifiedDelta& b) override {
    return store_->add_equivocation(a, b);
  }
  Hash256 digest() const override {
    auto d = store_->digest();
    return d.ok() ? *d : Hash256{};
  }
  std::vector<RecordEntry> records(v1::RecordType type) const override {
    std::vector<RecordEntry> out;
    std::string cursor;
    do {
      auto page = store_->list(type, cursor, 500);
      if (!page.ok()) break;
      for (auto& r : page->items) out.push_back({r.key, std::move(r.state)});
      cursor = page->next_cursor;
    } while (!cursor.empty());
    return out;
  }
  std::vector<WindowAvailability> availability(const RecordKey& placement) const override {
    auto a = store_->availability(placement);
    return a.ok() ? *a : std::vector<WindowAvailability>{};
  }
  Status reopen() override {
    store_.reset();
    return open();
  }
  const char* kind() const override { return "lmdb"; }

 private:
  static sync::OriginHead convert(const storage::HeadInfo& h) {
    sync::OriginHead o;
    o.seq = h.seq;
    o.id = h.id;
    o.frozen_at = h.frozen_at;
    return o;
  }
  FederationId federation_;
  NodeId self_;
  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
};

}  // namespace

bool lmdb_available() { return true; }

std::unique_ptr<SimStore> make_lmdb_store(const FederationId& federation, const NodeId& self,
                                          const std::filesystem::path& dir) {
  auto s = std::make_unique<LmdbStore>(federation, self, dir);
  if (!s->open().ok()) return nullptr;
  return s;
}

}  // namespace conect::sim
