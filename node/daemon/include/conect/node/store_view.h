// Adapts storage::Store to the sync engine's narrow read interface.
#pragma once

#include "conect/storage/store.h"
#include "conect/sync/store_view.h"

namespace conect::node {

class StoreSyncView final : public sync::SyncStoreView {
 public:
  explicit StoreSyncView(const storage::Store& store) : store_(store) {}

  Result<std::vector<std::pair<NodeId, sync::OriginHead>>> version_vector() const override;
  Result<sync::OriginHead> head(const NodeId& origin) const override;
  Result<std::vector<v1::SignedDelta>> deltas_from(const NodeId& origin, Seq from, std::size_t max_count,
                                                   std::size_t max_bytes) const override;
  Result<std::optional<v1::EquivocationEvidence>> evidence(const NodeId& origin) const override;

 private:
  const storage::Store& store_;
};

}  // namespace conect::node
