// The query indexes: which entries a record's state puts in them, and the
// queries that read them. Every index is a set of keys ending in the 41-byte
// record key (values are empty); docs/storage.md lists the layouts.
#pragma once

#include <string>
#include <vector>

#include "conect/storage/lmdb.h"
#include "conect/storage/store.h"
#include "store_impl.h"

namespace conect::storage {

// The byte naming an index in cursors.
enum class Index : char {
  placement_trade = 't',
  placement_country = 'c',
  placement_period = 'p',
  placement_available = 'a',
  placement_host = 'h',
  mobility_org = 'o',
  mobility_period = 'q',
  mobility_status = 's',
  reservation_placement = 'r',
  records = 'R',  // the records database itself, by type prefix
};

struct IndexEntry {
  Index index;
  std::string key;
  auto operator<=>(const IndexEntry&) const = default;
};

lmdb::Dbi index_db(const Dbs& db, Index index);
// The entries of one record, sorted (availability is kept separately).
std::vector<IndexEntry> index_entries(const RecordKey& key, const v1::RecordState& state);

v1::StoredAvailability encode_availability(const v1::RecordState& placement,
                                           const std::vector<WindowAvailability>& windows);
std::vector<WindowAvailability> decode_availability(const v1::StoredAvailability& stored);

Result<Page<PlacementView>> query_placements(const lmdb::Txn& txn, const Dbs& db, const PlacementFilter& f);
Result<Page<RecordView>> query_mobilities(const lmdb::Txn& txn, const Dbs& db, const MobilityFilter& f);
Result<Page<RecordView>> query_list(const lmdb::Txn& txn, const Dbs& db, v1::RecordType type, const std::string& cursor,
                                    std::size_t limit, const Store::RecordPredicate& keep,
                                    const NodeId* owner = nullptr);

}  // namespace conect::storage
