// What the fold reads besides a record's operations (conect/crdt/authority.h),
// answered from inside one LMDB transaction: the roster from `members` (one
// card per member, the same standing at every seq) and the operations of
// stored deltas from `log`. Both cache what they parsed; make one per
// transaction (or per refold pass) and drop it with the transaction.
#pragma once

#include <map>
#include <memory>

#include "conect/crdt/authority.h"
#include "store_impl.h"

namespace conect::storage {

class StoreRoster final : public RosterAt {
 public:
  StoreRoster(const lmdb::Txn& txn, const Dbs& db) : txn_(txn), db_(db) {}
  Standing standing(const NodeId& origin, Seq seq) const override;

 private:
  const lmdb::Txn& txn_;
  const Dbs& db_;
  mutable std::map<NodeId, Standing> cache_;
};

class StoreChains final : public ChainView {
 public:
  StoreChains(const lmdb::Txn& txn, const Dbs& db) : txn_(txn), db_(db) {}
  const v1::Operation* operation(const NodeId& origin, Seq seq, std::uint32_t index) const override;

 private:
  const lmdb::Txn& txn_;
  const Dbs& db_;
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
