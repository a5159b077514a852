// The deterministic network simulator (DESIGN §7, §11; docs/sync.md).
//
// Many SyncEngines, each over its own store, stepped in virtual time by one
// event queue. From one seed come the number of nodes (3-7), the link graph,
// message delays, drops, duplicates and the reordering they cause,
// partitions that form and heal, crashes (the engine and every queued apply
// are thrown away; only what the store committed remains) and restarts,
// random writes of every record type, and sometimes an equivocating origin
// that hands two branches of its chain to two nodes.
//
// Invariants checked on every run:
//   - at every step: no engine's buffered bytes exceed its bound; on every
//     node, confirmed slots never exceed a window's capacity; no honest
//     peer is ever disconnected;
//   - after heal + quiet: every node holds the same version vector and the
//     same state digest; every acknowledged write is present everywhere;
//     an equivocating origin is frozen (evidence held) on every node.
// The same seed gives the same run, event for event.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace conect::sim {

struct SimOptions {
  std::uint64_t seed = 1;
  // Real LMDB stores under `tmp_root` (each node its own directory, no_sync);
  // otherwise the in-memory replica.
  bool lmdb = false;
  std::filesystem::path tmp_root;
  bool verbose = false;  // one line per notable event on stderr
};

struct SimResult {
  bool ok = true;
  std::string failure;  // what broke, at which virtual time
  int nodes = 0;
  std::uint64_t authored = 0;
  std::uint64_t messages = 0, bytes = 0, dropped = 0, duplicated = 0;
  std::uint64_t crashes = 0, partitions = 0;
  bool equivocated = false;
  std::uint64_t converged_ms = 0;  // virtual time from heal to convergence
  std::string summary() const;
};

SimResult run_simulation(const SimOptions& options);

}  // namespace conect::sim
