// Built when the storage module is not available: the simulator falls back
// to the in-memory replica.
#include "sim_store.h"

namespace conect::sim {

bool lmdb_available() { return false; }
std::unique_ptr<SimStore> make_lmdb_store(const FederationId&, const NodeId&, const std::filesystem::path&) {
  return nullptr;
}

}  // namespace conect::sim
