// The payload of the change stream (GET /api/v1/events). The daemon calls,
// from Store::set_on_committed (or after posting elsewhere):
//
//   server.publish(api::change_event_json(deltas));
//
// The dashboard refetches what it shows on any event; the payload says which
// records changed so a client can be selective.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "conect/crdt/delta.h"
#include "conect/crdt/merge.h"

namespace conect::api {

// {"deltas": [{"origin", "seq", "id"}], "records": [{"id", "record_type"}]}
// with each record once, in first-touched order. One line.
// Linear in the operations of the batch (a catch-up hands it hundreds).
std::string change_event_json(std::span<const VerifiedDelta> deltas);

// {"deltas": [], "records": [{"id", "record_type"}]}: one record whose view
// changed without a delta (personal data delivered to this node).
std::string record_change_event_json(const RecordKey& key);

// Record keys compared by this thread's change_event_json calls so far: a
// test seam (tests/api/events_test.cc) that keeps the look-up linear.
std::uint64_t change_event_key_comparisons();

}  // namespace conect::api
