#include "conect/node/apply_batch.h"

namespace conect::node {

BatchOutcome apply_batch(storage::Store& store, std::vector<VerifiedDelta> deltas) {
  auto applied = store.apply(std::move(deltas));
  if (!applied.ok()) return {applied.error(), std::nullopt};
  BatchOutcome out{Status::Ok(), std::move(*applied)};
  if (!out.outcome->rejected.empty()) out.status = out.outcome->rejected.front().reason;
  return out;
}

}  // namespace conect::node
