// Random writes of every record type for the simulator (see workload.cc).
#pragma once

#include <optional>
#include <random>

#include "sim_store.h"

namespace conect::sim {

// The next delta `me` authors, given what its store shows; `seq` is the seq
// the delta will get (record ids are minted from it).
std::optional<DeltaDraft> next_write(std::mt19937_64& rng, const SimStore& store, const NodeId& me, Seq seq);

}  // namespace conect::sim
