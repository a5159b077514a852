// SimStore over the real LMDB storage::Store (no_sync: a simulated crash
// loses what was not committed, never what was).
#include <algorithm>
#include <optional>

#include "conect/node/apply_batch.h"
#include "conect/node/store_view.h"
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
    view_.emplace(*store_);
    return store_->initialise(federation_, self_);
  }

  // Reads go through the node's own adapter.
  Result<std::vector<std::pair<NodeId, sync::OriginHead>>> version_vector() const override {
    return view_->version_vector();
  }
  Result<sync::OriginHead> head(const NodeId& origin) const override { return view_->head(origin); }
  Result<std::vector<v1::SignedDelta>> deltas_from(const NodeId& origin, Seq from, std::size_t max_count,
                                                   std::size_t max_bytes) const override {
    return view_->deltas_from(origin, from, max_count, max_bytes);
  }
  Result<std::optional<v1::EquivocationEvidence>> evidence(const NodeId& origin) const override {
    return view_->evidence(origin);
  }

  Result<VerifiedDelta> author(const KeyPair& key, DeltaDraft draft, std::uint64_t now_ms) override {
    return store_->author(key, std::move(draft), now_ms);
  }
  Result<VerifiedDelta> author_as(const KeyPair& signer, const NodeId& origin, DeltaDraft draft,
                                  std::uint64_t now_ms) override {
    storage::Store::AuthorOptions o;
    o.origin = origin;
    return store_->author(signer, std::move(draft), now_ms, o);
  }
  std::shared_ptr<const ReplicatedRoster> roster() const override {
    auto r = store_->roster();
    return r.ok() ? *r : std::make_shared<const ReplicatedRoster>();
  }
  std::vector<v1::DeltaRef> membership_deps() const override {
    auto d = store_->membership_deps();
    return d.ok() ? *d : std::vector<v1::DeltaRef>{};
  }
  // The node's own glue: one transaction, and the verdict the engine gets.
  Status apply(std::vector<VerifiedDelta> batch) override {
    return node::apply_batch(*store_, std::move(batch)).status;
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
    view_.reset();
    store_.reset();
    return open();
  }
  const char* kind() const override { return "lmdb"; }

 private:
  FederationId federation_;
  NodeId self_;
  std::filesystem::path dir_;
  std::unique_ptr<storage::Store> store_;
  std::optional<node::StoreSyncView> view_;
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
