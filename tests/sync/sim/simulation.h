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
//
// Hostile members (hostile.h) join about half the runs: 1-3 roster members
// that lie about what they hold, answer late, never or with empty batches,
// relay padded deltas, forward unproven evidence, or never read. Then also:
//   - at every step: no hostile peer holds more than half the node's credit
//     budget; an honest node disconnects only hostile peers (which redial);
//   - at the end: the honest nodes' state equals a reference replica fed
//     every delta as it was authored (same version vector, same digest),
//     every stored delta is bare body + signature (no padding on disk), and
//     every fault each hostile member was given was carried out.
// Membership changes (crdt/membership.h) join about half the runs: node 0
// founds the federation, then admitted members admit joiners (honest nodes
// or outsiders), vote outsiders and one honest "removable" node out, and
// rotate their keys (one rotation in every partition); a rotated node signs
// with its new key and every engine checks signatures under the key its
// store's roster names (sync::RosterVerifier). Then also, at the end: every
// honest node derives the same roster (fingerprint) as the reference, once
// they hold the same deltas.
// The same seed gives the same run, event for event.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

#include "hostile.h"

namespace conect::sim {

struct SimOptions {
  std::uint64_t seed = 1;
  // Real LMDB stores under `tmp_root` (each node its own directory, no_sync);
  // otherwise the in-memory replica.
  bool lmdb = false;
  std::filesystem::path tmp_root;
  bool verbose = false;  // one line per notable event on stderr
  int honest = 0;        // honest nodes (0: 3-7 from the seed)
  int hostile = -1;      // hostile members (-1: from the seed, 0 in about half the runs, else 1-3)
  int membership = -1;   // membership changes (-1: from the seed, in about half the runs; 0 off; 1 on)
  // Push mode of every engine: "" as the seed draws (eager or lazy), "eager",
  // "lazy", "tree" (Plumtree per origin), or "mixed" (tree on even nodes,
  // what the seed draws on odd ones: old and new nodes side by side; nodes
  // 2, 3, 6, 7, ... also without packed announcements).
  std::string push_mode;
};

// What the honest engines counted of the hostile members' faults.
struct HostileMet {
  std::uint64_t claims_broken = 0, batches_refused = 0, batches_stale = 0, padded_wrappers = 0, evidence_unproven = 0,
                requests_timed_out = 0;
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
  int hostile = 0;
  std::array<std::uint64_t, kFaultKinds> faults{};  // carried out, by Fault
  HostileMet met;
  std::uint64_t hostile_disconnects = 0;  // an honest node cut a hostile one off
  std::size_t peak_hostile_credit = 0;    // credit one hostile peer held at once (bytes)
  std::size_t peak_buffered = 0;          // any honest engine's buffered bytes
  std::size_t budget = 0;                 // max_buffer_bytes of the engines
  // Membership changes (the reference's roster at the end): admitted
  // non-founders, cut members, rotated members; rotations authored while a
  // partition stood.
  bool membership = false;
  std::uint64_t joins = 0, removals = 0, rotations = 0, rotations_partitioned = 0;
  std::string summary() const;
};

SimResult run_simulation(const SimOptions& options);

}  // namespace conect::sim
