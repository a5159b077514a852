// What the fold reads besides a record's operations (conect/crdt/authority.h),
// answered from inside one LMDB transaction: the roster and the operations of
// stored deltas from `log`. Both cache what they parsed; make one per
// transaction (or per refold pass) and drop it with the transaction.
//
// The roster is the replicated one (crdt/membership.h: derived from the
// stored membership deltas) with the local overrides (`members`: cards this
// node trusts itself, `member add`) for origins the replicated roster has not
// admitted. An admitted member's standing comes from the replicated roster
// alone, so every node holding the same deltas folds the same records.
#pragma once

#include <map>
#include <memory>

#include "conect/crdt/authority.h"
#include "store_impl.h"

namespace conect::storage {

// The replicated roster of the membership deltas stored in `txn`, leaving
// out those of `frozen` origins from their fork on. Derived once per content
// and cached process-wide (key: meta.membership_tag, a hash chain over the
// stored membership deltas, and `frozen`), so a refold pass costs a lookup.
std::shared_ptr<const ReplicatedRoster> stored_roster(const lmdb::Txn& txn, const Dbs& db,
                                                      const std::map<NodeId, Seq>& frozen);
// The same with the frozen origins read from meta.
std::shared_ptr<const ReplicatedRoster> stored_roster(const lmdb::Txn& txn, const Dbs& db);

class StoreRoster final : public RosterAt {
 public:
  StoreRoster(const lmdb::Txn& txn, const Dbs& db) : txn_(txn), db_(db) {}
  Standing standing(const NodeId& origin, Seq seq) const override;
  const ReplicatedRoster& replicated() const;

 private:
  const lmdb::Txn& txn_;
  const Dbs& db_;
  mutable std::map<NodeId, Standing> cache_;  // local cards
  mutable std::shared_ptr<const ReplicatedRoster> replicated_;
};

class StoreChains final : public ChainView {
 public:
  StoreChains(const lmdb::Txn& txn, const Dbs& db) : keys_(txn, db) {}
  const v1::Operation* operation(const NodeId& origin, Seq seq, std::uint32_t index) const override;

 private:
  const Keys keys_;
  // Parsed bodies (bounded: a catch-up names few distinct deltas, usually
  // the one that created the author's organisation).
  mutable std::map<std::pair<NodeId, Seq>, std::unique_ptr<v1::DeltaBody>> cache_;
};

// Both, for one transaction.
struct StoreFoldContext {
  StoreFoldContext(const lmdb::Txn& txn, const Dbs& db) : roster(txn, db), chains(txn, db) {}
  StoreRoster roster;
  StoreChains chains;
  FoldContext context() const { return {roster, chains}; }
};

// The standing a member card gives (its role; an unreadable card gives none).
Standing card_standing(std::string_view card_bytes);

}  // namespace conect::storage
