// Test support for the storage tests: temp directories, random histories of
// realistic operations from several authors, random delivery into a Store,
// and comparison against the in-memory reference Replica.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "conect/crdt/replica.h"
#include "conect/crdt/testkit/author.h"
#include "conect/crdt/testkit/temp_dir.h"
#include "conect/storage/store.h"

namespace conect::storage::testing {

using testkit::TempDir;

// The whole file, as the disk holds it now.
std::string file_bytes(const std::filesystem::path& p);

StoreOptions test_options();  // create, small map, no_sync off

// Every entry of every named sub-database of the closed store in `dir`,
// read with the raw LMDB layer: what the byte-identity tests compare. An
// item of an MDB_DUPSORT database (the query indexes by term) is listed as
// the key key || item with an empty value, and such a database also holds
// the entry "" -> "flags N" (no LMDB key is empty), so that a dump shows
// the layout too.
using SubDatabases = std::map<std::string, std::map<std::string, std::string>>;
SubDatabases dump_subdatabases(const std::filesystem::path& dir);
std::unique_ptr<Store> open_store(const std::filesystem::path& dir, StoreOptions options = test_options());

struct HistoryOptions {
  int authors = 4;
  int deltas = 200;
  std::uint64_t seed = 1;
  bool include_erase = true;
};

struct History {
  std::vector<testkit::Author> authors;
  std::vector<VerifiedDelta> deltas;                  // generation order: a valid order to apply
  std::vector<std::vector<VerifiedDelta>> by_origin;  // [author][seq - 1]
};

// Organisations, placements (windows, trades, countries, languages, status
// changes), reservations with decisions and cancels (decisions name the
// requester's head in deps), mobilities with status moves, writes by
// non-owners (rejected by the merge) and erasures.
History random_history(const HistoryOptions& options);

// Applies every delta of `h` in random multi-origin batches that repeat
// already-stored deltas and arrive out of order (rejections are retried).
// Returns the number of apply() calls.
std::size_t deliver_randomly(Store& store, const History& h, std::mt19937_64& rng);

Replica replica_of(const History& h);

// `count` deltas from `origins` authors in turn, one new placement each, as
// a federation where several schools write delivers them: every origin's
// keys but the last one's land inside the trees keyed by origin or owner,
// where LMDB splits pages in half.
std::vector<VerifiedDelta> interleaved_placements(std::size_t count, std::uint32_t origins);

// Asserts (gtest) that the store holds exactly the replica's state: digest
// (incremental and recomputed), every record's bytes, counts, availability,
// reservations per placement, heads.
void expect_same_state(const Store& store, const Replica& replica);

// Rewrites meta.schema with the raw LMDB layer, as another build would.
void set_schema(const std::filesystem::path& dir, std::uint32_t version);

}  // namespace conect::storage::testing

namespace conect {
// Readable record keys in gtest failure messages.
inline void PrintTo(const RecordKey& k, std::ostream* os) { *os << static_cast<int>(k.type) << ":" << k.text(); }
}  // namespace conect
