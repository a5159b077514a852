#include "conect/node/apply_batch.h"

namespace conect::node {

namespace {

BatchOutcome verdict(Result<storage::ApplyOutcome> applied) {
  if (!applied.ok()) return {applied.error(), std::nullopt};
  BatchOutcome out{Status::Ok(), std::move(*applied)};
  if (!out.outcome->rejected.empty()) out.status = out.outcome->rejected.front().reason;
  return out;
}

}  // namespace

BatchOutcome apply_batch(storage::Store& store, std::vector<VerifiedDelta> deltas) {
  return verdict(store.apply(std::move(deltas)));
}

std::vector<BatchOutcome> apply_batches(storage::Store& store, std::vector<std::vector<VerifiedDelta>> batches) {
  std::vector<BatchOutcome> out;
  out.reserve(batches.size());
  for (auto& applied : store.apply_each(std::move(batches))) out.push_back(verdict(std::move(applied)));
  return out;
}

}  // namespace conect::node
