// Node ids in keys as 6-byte codes (codec::kNodeCode; schema 6;
// docs/storage.md "Node codes").
//
// Every record key repeats its owner's 32-byte id, every `log` and `ops_*`
// key its origin's, and each index item is a record key: those ids were a
// quarter of a compacted store. In those keys an id is written as its code,
// which `node_codes` maps both ways:
//   'c' || code (6) -> id (32)      'i' || id (32) -> code (6)
// An id's code is its own first 6 bytes, so keys sort as the ids do and the
// same on every node, whatever arrived first. Two ids that share them, or an
// id that starts with 0xff, get the next code of the form 0xff || counter
// (5 bytes) instead: a record id's owner may be any bytes a member wrote, so
// a code must never be refused to the id that comes second, and a collision
// only costs that id its place in the key order.
#pragma once

#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "conect/crdt/types.h"
#include "conect/storage/lmdb.h"

namespace conect::storage {

// The codes of one store. Reads go to a cache of committed codes, then to
// the transaction; a write transaction's new codes enter the cache only once
// it commits (publish), so no other transaction meets a code that may be
// rolled back. Codes are never changed or removed, so a cached one holds for
// every later snapshot.
class NodeCodes {
 public:
  using Given = std::vector<std::pair<NodeId, std::string>>;

  void set_db(lmdb::Dbi db) { db_ = db; }
  // Fills the cache with every code of the store (at open: one per node id
  // the store met, a few hundred at most).
  void load(const lmdb::Txn& txn);
  // `id`'s code as `txn` sees it; none when the store never wrote a key with it.
  std::optional<std::string> find(const lmdb::Txn& txn, const NodeId& id) const;
  // The id `code` stands for; none for a code the store never gave.
  std::optional<NodeId> id(const lmdb::Txn& txn, std::string_view code) const;
  // `id`'s code, given in `txn` when it has none (appended to `given`).
  std::string assign(lmdb::WriteTxn& txn, const NodeId& id, Given& given);
  // The codes a committed transaction gave.
  void publish(const Given& given);

 private:
  void remember(const NodeId& id, std::string_view code);
  lmdb::Dbi db_{};
  mutable std::shared_mutex mu_;
  std::map<NodeId, std::string> codes_;
  std::map<std::string, NodeId, std::less<>> ids_;
};

}  // namespace conect::storage
