// The query indexes: which entries a record's state puts in them, and the
// queries that read them. An entry is a term (organisation, trade, day,
// status, ...) and a 41-byte record key, and entries are ordered by term,
// then record key; docs/storage.md lists the layouts.
//
// Since schema 3 an index by term is an MDB_DUPSORT | MDB_DUPFIXED database
// (kTermIndexFlags): the term is the LMDB key, stored once, and its record
// keys are its fixed-size sorted items. Everything above the LMDB calls
// still sees an entry as one string, term || record key (IndexEntry::key,
// the pagination cursors): the same bytes and the same order as schema 2's
// keys, because the terms of one index are prefix-free (fixed-size, or
// NUL-terminated text without NULs), so comparing two entries' bytes decides
// at the terms whenever they differ. idx_placement_available has no term
// and stays a plain set of record keys.
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
  records = 'R',  // the records of one type (their own database), by type prefix
};

struct IndexEntry {
  Index index;
  std::string key;
  auto operator<=>(const IndexEntry&) const = default;
};

lmdb::Dbi index_db(const Dbs& db, Index index);
// Kept by term (MDB_DUPSORT): every index but placement_available and records.
bool by_term(Index index);
void put_entry(Writer& w, const IndexEntry& e);
void del_entry(Writer& w, const IndexEntry& e);
// The entries of one record, sorted (availability is kept separately).
std::vector<IndexEntry> index_entries(Writer& w, const RecordKey& key, const v1::RecordState& state);

v1::StoredAvailability encode_availability(const v1::RecordState& placement,
                                           const std::vector<WindowAvailability>& windows);
std::vector<WindowAvailability> decode_availability(const v1::StoredAvailability& stored);

Result<Page<PlacementView>> query_placements(const lmdb::Txn& txn, const Dbs& db, const PlacementFilter& f);
Result<Page<RecordView>> query_mobilities(const lmdb::Txn& txn, const Dbs& db, const MobilityFilter& f);
Result<Page<RecordView>> query_list(const lmdb::Txn& txn, const Dbs& db, v1::RecordType type, const std::string& cursor,
                                    std::size_t limit, const Store::RecordPredicate& keep,
                                    const NodeId* owner = nullptr);

}  // namespace conect::storage
