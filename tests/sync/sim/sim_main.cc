// conect_sim: runs the sync simulator over many seeds (docs/sync.md).
//   CONECT_SIM_SEED=N       run that one seed (verbose when CONECT_SIM_VERBOSE=1)
//   CONECT_SIM_SEEDS=N      run seeds FIRST .. FIRST+N-1 (default 500)
//   CONECT_SIM_FIRST_SEED=F (default 1)
//   CONECT_SIM_STORE=lmdb|replica (default lmdb when built with storage)
//   CONECT_SIM_HONEST=N     N honest nodes in every run (default 3-7 from the seed)
//   CONECT_SIM_HOSTILE=H    H hostile members in every run (default: none in
//                           about half the runs, else 1-3, from the seed)
//   CONECT_SIM_MEMBERSHIP=0|1 membership changes off / in every run (default:
//                           in about half the runs, from the seed)
// Exit code 0 when every seed holds every invariant and, over a run of more
// than one seed, every kind of hostile fault happened in some seed and was
// met by the honest engines, and (unless membership is off) some seed
// admitted, removed and rotated members, one rotation during a partition;
// each failing seed is printed with the one-line
// command that replays it.
#include <algorithm>
#include <array>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <unistd.h>

#include "conect/crdt/identity.h"
#include "simulation.h"
#include "sim_store.h"

namespace {

std::uint64_t env_u64(const char* name, std::uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::strtoull(v, nullptr, 10) : fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (!conect::crypto_init()) return 2;
  const bool single = std::getenv("CONECT_SIM_SEED") != nullptr;
  const std::uint64_t first = single ? env_u64("CONECT_SIM_SEED", 1) : env_u64("CONECT_SIM_FIRST_SEED", 1);
  const std::uint64_t count = single ? 1 : env_u64("CONECT_SIM_SEEDS", 500);
  const char* store_env = std::getenv("CONECT_SIM_STORE");
  bool lmdb = conect::sim::lmdb_available();
  if (store_env && std::string(store_env) == "replica") lmdb = false;
  const std::string self = argc > 0 ? argv[0] : "conect_sim";
  auto root = std::filesystem::temp_directory_path() / ("conect_sim_" + std::to_string(::getpid()));
  int failures = 0;
  std::uint64_t writes = 0, messages = 0;
  std::array<std::uint64_t, conect::sim::kFaultKinds> faults{};
  conect::sim::HostileMet met;
  std::map<int, std::vector<std::uint64_t>> converge_ms;  // by hostile count
  std::size_t peak_credit = 0, peak_buffered = 0, budget = 0;
  const char* honest_env = std::getenv("CONECT_SIM_HONEST");
  const char* hostile_env = std::getenv("CONECT_SIM_HOSTILE");
  const char* membership_env = std::getenv("CONECT_SIM_MEMBERSHIP");
  std::uint64_t member_runs = 0, joins = 0, removals = 0, rotations = 0, rotations_partitioned = 0;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    conect::sim::SimOptions o;
    o.seed = seed;
    o.lmdb = lmdb;
    o.tmp_root = root / std::to_string(seed);
    o.verbose = single && env_u64("CONECT_SIM_VERBOSE", 0) != 0;
    if (honest_env && *honest_env) o.honest = static_cast<int>(env_u64("CONECT_SIM_HONEST", 0));
    if (hostile_env && *hostile_env) o.hostile = static_cast<int>(env_u64("CONECT_SIM_HOSTILE", 0));
    if (membership_env && *membership_env) o.membership = env_u64("CONECT_SIM_MEMBERSHIP", 0) != 0 ? 1 : 0;
    if (const char* push = std::getenv("CONECT_SIM_PUSH")) o.push_mode = push;
    auto r = conect::sim::run_simulation(o);
    for (std::size_t f = 0; f < faults.size(); ++f) faults[f] += r.faults[f];
    met.claims_broken += r.met.claims_broken;
    met.batches_refused += r.met.batches_refused;
    met.batches_stale += r.met.batches_stale;
    met.padded_wrappers += r.met.padded_wrappers;
    met.evidence_unproven += r.met.evidence_unproven;
    if (r.ok) converge_ms[r.hostile].push_back(r.converged_ms);
    member_runs += r.membership;
    joins += r.joins;
    removals += r.removals;
    rotations += r.rotations;
    rotations_partitioned += r.rotations_partitioned;
    peak_credit = std::max(peak_credit, r.peak_hostile_credit);
    peak_buffered = std::max(peak_buffered, r.peak_buffered);
    budget = r.budget;
    std::error_code ec;
    std::filesystem::remove_all(o.tmp_root, ec);
    writes += r.authored;
    messages += r.messages;
    if (single) std::cout << "seed " << seed << ": " << r.summary() << "\n";
    if (!r.ok) {
      ++failures;
      std::cout << "FAILED seed " << seed << " (" << (lmdb ? "lmdb" : "replica") << "): " << r.failure << "\n"
                << "  replay: CONECT_SIM_SEED=" << seed << (lmdb ? "" : " CONECT_SIM_STORE=replica")
                << " CONECT_SIM_VERBOSE=1 " << self << "\n";
    }
  }
  std::filesystem::remove_all(root);
  std::cout << count << " seeds (" << (lmdb ? "lmdb" : "replica") << "), " << failures << " failed; " << writes
            << " writes, " << messages << " messages\n";
  // Converge time after healing (virtual ms), by the number of hostile members.
  for (auto& [h, ms] : converge_ms) {
    std::sort(ms.begin(), ms.end());
    std::cout << "  " << h << " hostile: " << ms.size() << " runs, converged after healing in median "
              << ms[ms.size() / 2] << " ms, 90th percentile " << ms[ms.size() * 9 / 10] << " ms, max " << ms.back()
              << " ms (virtual)\n";
  }
  std::cout << "  hostile faults carried out:";
  for (std::size_t f = 0; f < faults.size(); ++f)
    std::cout << " " << conect::sim::fault_name(static_cast<conect::sim::Fault>(f)) << " " << faults[f];
  std::cout << "\n  met by honest engines: " << met.claims_broken << " claims broken, " << met.batches_refused
            << " empty batches refused, " << met.batches_stale << " stale batches, " << met.padded_wrappers
            << " padded wrappers stripped, " << met.evidence_unproven << " evidence set aside; peak credit held by"
            << " one hostile member " << peak_credit << " B, peak buffered " << peak_buffered << " B, budget " << budget
            << " B\n";
  std::cout << "  membership changes in " << member_runs << " runs: " << joins << " joined, " << removals
            << " removed, " << rotations << " rotated (" << rotations_partitioned
            << " rotations during a partition); every honest node derived the reference's roster\n";
  const bool membership_off = membership_env && *membership_env && env_u64("CONECT_SIM_MEMBERSHIP", 0) == 0;
  if (!single && !membership_off && count >= 10) {
    const std::pair<const char*, std::uint64_t> changes[] = {{"joined", joins},
                                                             {"removed", removals},
                                                             {"rotated", rotations},
                                                             {"rotated during a partition", rotations_partitioned}};
    for (const auto& [what, n] : changes)
      if (n == 0) {
        ++failures;
        std::cout << "FAILED: membership changes ran but no member " << what << "\n";
      }
  }
  // Over a run of many seeds, every kind of fault must have happened and been
  // met, or the run proves nothing about it.
  const bool hostile_off = hostile_env && *hostile_env && env_u64("CONECT_SIM_HOSTILE", 0) == 0;
  if (!single && !hostile_off) {
    for (std::size_t f = 0; f < faults.size(); ++f)
      if (faults[f] == 0) {
        ++failures;
        std::cout << "FAILED: no seed ran the hostile fault '"
                  << conect::sim::fault_name(static_cast<conect::sim::Fault>(f)) << "'\n";
      }
    const std::pair<const char*, std::uint64_t> checks[] = {{"claims broken", met.claims_broken},
                                                            {"empty batches refused", met.batches_refused},
                                                            {"padded wrappers stripped", met.padded_wrappers},
                                                            {"evidence set aside", met.evidence_unproven}};
    for (const auto& [what, n] : checks)
      if (n == 0) {
        ++failures;
        std::cout << "FAILED: hostile faults ran but no honest engine counted " << what << "\n";
      }
  }
  return failures == 0 ? 0 : 1;
}
