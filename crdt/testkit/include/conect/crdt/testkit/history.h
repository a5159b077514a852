// Random but realistic histories of a small federation, for the CRDT
// property tests, the simulator and the benchmarks.
//
// Members (schools and companies) take turns authoring deltas. Each author
// sees only a prefix of what the others wrote (a lagging view), so requests
// for the same window race, decisions are made on stale views and HLC
// timestamps interleave across origins. The authors behave as the real
// writers would: a placement owner confirms only within capacity as far as
// it can see, and names in its decision's deps the cancellations whose
// slots it counted (DESIGN §3, Dependencies). A share of deltas carries one
// operation its origin is not entitled to; every such operation, and no
// other, must end up in some record's `rejected` list: among them
// placements shown as hosted by another member's organisation, contacts
// filed under another member's organisation, mentors that are another
// member's contacts, hosts that name no organisation, and (with `auditors`)
// everything an auditor member authors.
//
// Everything derives from the seed: the same options give the same bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <set>
#include <tuple>
#include <vector>

#include "conect/crdt/delta.h"
#include "conect/crdt/replica.h"

namespace conect::testkit {

struct HistoryOptions {
  std::uint64_t seed = 1;
  std::size_t deltas = 1000;
  std::uint32_t schools = 3;
  std::uint32_t companies = 2;
  double unauthorised = 0.05;  // share of deltas that carry one forbidden operation
  double lag = 0.6;            // chance that an author has not seen every earlier delta
  // Members with the AUDITOR role that author anyway (an old or hostile
  // node): every operation of theirs must be rejected.
  std::uint32_t auditors = 0;
};

// Where an operation sits: (origin, seq, index).
using OpAt = std::tuple<NodeId, Seq, std::uint32_t>;

struct History {
  std::vector<VerifiedDelta> deltas;  // generation order: a valid delivery order
  std::vector<NodeId> members;
  std::vector<RecordKey> placements;
  std::size_t op_count = 0;
  std::size_t unauthorised_ops = 0;  // operations the fold must reject
  std::set<OpAt> unauthorised;       // ... and where they are
  LocalRoster roster;                // every member with its role
};

History generate_history(const HistoryOptions& options);

// Applies `deltas` (any superset order that generate_history produced) to
// `replica` in a random order that keeps each origin's chain order and every
// dependency, re-delivering already applied deltas with `duplicate_rate`.
// Stops after `limit` new deltas. `after` runs after each new delta. Returns
// the first error other than a dependency not yet met.
Status deliver_shuffled(Replica& replica, const std::vector<VerifiedDelta>& deltas, std::mt19937_64& rng,
                        double duplicate_rate, const std::function<void(const VerifiedDelta&)>& after = {},
                        std::size_t limit = std::numeric_limits<std::size_t>::max());

// Applies every delta `from` holds that `into` lacks.
Status merge_into(Replica& into, const Replica& from, std::mt19937_64& rng);

}  // namespace conect::testkit
