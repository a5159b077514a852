// One ApplyBatch carried out on the store, exactly as the node does it and
// as the simulator does it (one function, so the simulator tests the node's
// own glue): the deltas in ONE write transaction, and the verdict the sync
// engine's on_batch_applied wants.
#pragma once

#include <optional>
#include <vector>

#include "conect/crdt/delta.h"
#include "conect/storage/store.h"

namespace conect::node {

struct BatchOutcome {
  // Not ok when the transaction failed (storage_full, io_error, ...) or any
  // delta of the batch was refused (broken_chain, sequence_gap, missing
  // dependency: the first refusal's reason). The engine re-reads the head
  // either way, so a refused batch is fetched again rather than skipped.
  Status status;
  // What the committed transaction stored, for logs and metrics; empty when
  // the transaction failed.
  std::optional<storage::ApplyOutcome> outcome;
};

BatchOutcome apply_batch(storage::Store& store, std::vector<VerifiedDelta> deltas);
// Several ApplyBatches in order, sharing their commit (Store::apply_each):
// one verdict each, as apply_batch would give it.
std::vector<BatchOutcome> apply_batches(storage::Store& store, std::vector<std::vector<VerifiedDelta>> batches);

}  // namespace conect::node
