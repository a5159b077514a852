// The payload of the change stream (GET /api/v1/events). The daemon hands
// every commit's deltas to HttpServer::publish_change, which builds this
// off the store's writer and publishes it.
//
// The dashboard refetches what it shows on any event; the payload says which
// records changed so a client can be selective.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "conect/crdt/delta.h"
#include "conect/crdt/merge.h"

namespace conect::api {

// {"deltas": [{"origin", "seq", "id"}], "records": [{"id", "record_type"}]}
// with each record once, in first-touched order. One line.
// A batch of more than 64 deltas (a catch-up's) names them as runs instead,
// "delta_ranges": [{"origin", "from", "to"}] (consecutive seqs of one
// origin, in the batch's order), with "deltas" empty; one that touches more
// than 64 records has "records" empty and "records_truncated": true (refetch
// everything). Linear in the operations of the batch.
std::string change_event_json(std::span<const VerifiedDelta> deltas);

// What a change event names, copied out of the deltas so that the JSON can
// be built after they are gone: the deltas' ids and every record an
// operation targets, in order, repeats included (the JSON names each once).
struct ChangeSummary {
  struct Delta {
    NodeId origin;
    Seq seq;
    DeltaId id;
  };
  std::vector<Delta> deltas;
  std::vector<RecordKey> records;
};
ChangeSummary summarize_change(std::span<const VerifiedDelta> deltas);
std::string change_event_json(const ChangeSummary& change);

// {"deltas": [], "records": [{"id", "record_type"}]}: one record whose view
// changed without a delta (personal data delivered to this node).
std::string record_change_event_json(const RecordKey& key);

// Record keys compared by this thread's change_event_json calls so far: a
// test seam (tests/api/events_test.cc) that keeps the look-up linear.
std::uint64_t change_event_key_comparisons();

}  // namespace conect::api
