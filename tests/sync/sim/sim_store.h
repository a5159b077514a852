// What a simulated node keeps across a crash: its store. The simulator talks
// to it through this interface (the engine only through SyncStoreView), so
// the same simulation runs over the LMDB Store and over the in-memory
// Replica.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <vector>

#include "conect/crdt/delta.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/membership.h"
#include "conect/crdt/merge.h"
#include "conect/sync/store_view.h"

namespace conect::sim {

struct RecordEntry {
  RecordKey key;
  v1::RecordState state;
};

class SimStore : public sync::SyncStoreView {
 public:
  // The writer: signs the next delta of `key`'s chain and commits it.
  virtual Result<VerifiedDelta> author(const KeyPair& key, DeltaDraft draft, std::uint64_t now_ms) = 0;
  // The same for member `origin` whose current key is `signer` (after a
  // Rotate, crdt/membership.h): the origin stays the member id.
  virtual Result<VerifiedDelta> author_as(const KeyPair& signer, const NodeId& origin, DeltaDraft draft,
                                          std::uint64_t now_ms) = 0;
  // The replicated roster derived from the held membership deltas.
  virtual std::shared_ptr<const ReplicatedRoster> roster() const = 0;
  // What a membership operation authored now names in deps: the newest
  // membership delta of every origin held (docs/membership.md).
  virtual std::vector<v1::DeltaRef> membership_deps() const = 0;
  // One write transaction, as the node does for an ApplyBatch.
  virtual Status apply(std::vector<VerifiedDelta> batch) = 0;
  virtual Status add_evidence(const VerifiedDelta& a, const VerifiedDelta& b) = 0;
  virtual Hash256 digest() const = 0;
  // Records of one type (state as merged here).
  virtual std::vector<RecordEntry> records(v1::RecordType type) const = 0;
  virtual std::vector<WindowAvailability> availability(const RecordKey& placement) const = 0;
  // A crash: drop every handle and open the store again from what committed.
  virtual Status reopen() = 0;
  virtual const char* kind() const = 0;
};

// The in-memory reference replica (state survives a "crash" as if durable).
std::unique_ptr<SimStore> make_replica_store(const FederationId& federation);
bool lmdb_available();
// The LMDB Store in `dir` (no_sync), or nullptr when storage is not built in.
std::unique_ptr<SimStore> make_lmdb_store(const FederationId& federation, const NodeId& self,
                                          const std::filesystem::path& dir);

}  // namespace conect::sim
