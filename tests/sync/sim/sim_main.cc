// conect_sim: runs the sync simulator over many seeds (docs/sync.md).
//   CONECT_SIM_SEED=N       run that one seed (verbose when CONECT_SIM_VERBOSE=1)
//   CONECT_SIM_SEEDS=N      run seeds FIRST .. FIRST+N-1 (default 500)
//   CONECT_SIM_FIRST_SEED=F (default 1)
//   CONECT_SIM_STORE=lmdb|replica (default lmdb when built with storage)
// Exit code 0 when every seed holds every invariant; each failing seed is
// printed with the one-line command that replays it.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>

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
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    conect::sim::SimOptions o;
    o.seed = seed;
    o.lmdb = lmdb;
    o.tmp_root = root / std::to_string(seed);
    o.verbose = single && env_u64("CONECT_SIM_VERBOSE", 0) != 0;
    auto r = conect::sim::run_simulation(o);
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
  return failures == 0 ? 0 : 1;
}
