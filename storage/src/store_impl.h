// Inside the Store: the environment, its sub-databases, the group-commit
// queue and the helpers the write path shares. Not a public header.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <shared_mutex>
#include <span>
#include <vector>

#include "codec.h"
#include "conect/crdt/membership.h"
#include "conect/storage/lmdb.h"
#include "conect/storage/store.h"
#include "node_codes.h"

namespace conect::storage {

// The flags of the query indexes by term (idx_* but idx_placement_available;
// docs/storage.md): key = the term, items = 41-byte record keys.
inline constexpr unsigned kTermIndexFlags = MDB_DUPSORT | MDB_DUPFIXED;

// The record types, each with its own `records_*` and `ops_*` database
// (schema 5): every type's keys grow at the end of their own tree.
inline constexpr v1::RecordType kRecordTypes[] = {v1::ORGANISATION, v1::PLACEMENT, v1::RESERVATION, v1::MOBILITY,
                                                  v1::CONTACT};

struct Dbs {
  lmdb::Dbi meta, log, heads, availability;
  lmdb::Dbi records_organisation, records_placement, records_reservation, records_mobility, records_contact;
  lmdb::Dbi ops_organisation, ops_placement, ops_reservation, ops_mobility, ops_contact;
  lmdb::Dbi placement_trade, placement_country, placement_period, placement_available, placement_host;
  lmdb::Dbi mobility_org, mobility_period, mobility_status;
  lmdb::Dbi reservation_placement;
  lmdb::Dbi blobs, peers, members, evidence;
  // origin || seq of every stored delta that carries a membership operation
  // (empty values): what the replicated roster is derived from.
  lmdb::Dbi membership;
  lmdb::Dbi invites;  // invite id (16) -> v1::StoredInvite
  // The node codes that keys write ids as (schema 6, node_codes.h), and
  // their cache, one per open store.
  lmdb::Dbi node_codes;
  std::shared_ptr<NodeCodes> codes = std::make_shared<NodeCodes>();

  // The records (record key -> state) and operation positions (record key
  // || origin || seq || op index) of one type; a type outside kRecordTypes
  // is a bug (std::logic_error): RecordKey holds none.
  lmdb::Dbi records(v1::RecordType type) const;
  lmdb::Dbi ops(v1::RecordType type) const;
};

// meta keys
namespace meta {
inline constexpr std::string_view kProgram = "program";
inline constexpr std::string_view kProgramName = "conect";
inline constexpr std::string_view kSchema = "schema";
inline constexpr std::string_view kFederation = "federation";
inline constexpr std::string_view kOwnId = "own_id";
inline constexpr std::string_view kDigest = "digest";
inline constexpr std::string_view kClock = "clock";             // last HLC this node authored
inline constexpr std::string_view kObserved = "observed";       // newest HLC of any stored delta
inline constexpr std::string_view kFence = "fence";             // "restore" | "rollback" while authoring is fenced
inline constexpr std::string_view kFrozen = "frozen";           // (origin (32) || fork seq (8))*
inline constexpr std::string_view kFoldRules = "fold_rules";    // u32: kFoldRulesVersion the records were folded with
inline constexpr std::string_view kUnknownOps = "unknown_ops";  // u64: operations of kinds this version does not know
// 32 bytes: BLAKE2b chain over the ids of the membership deltas in the order
// they were stored (the replicated roster's cache key; fold_context.h).
inline constexpr std::string_view kMembershipTag = "membership_tag";
inline constexpr std::string_view kBootstrap = "bootstrap";  // member ids (32 each) a joiner syncs from first
inline constexpr std::string_view kBootstrapKeys = "bootstrap_keys";  // member (32) || its key (32), each
// Present while an erased blob's plaintext may linger in free pages, or a
// schema step left many free pages behind (Store::compaction_due); the
// compacted copy keeps it, the swap clears it. Its value says why: empty
// for an erasure (stores before the value was kept wrote it empty), else
// kCompactAfterUpgrade.
inline constexpr std::string_view kCompactDue = "compact_due";
inline constexpr std::string_view kCompactAfterUpgrade = "upgrade";
inline constexpr std::string_view kSealKeyPrefix = "seal_key/";  // || origin (32) -> seal key (32)
// || commitment (32) || origin (32) -> record key: the origin acknowledged it holds the data
inline constexpr std::string_view kEnvelopeAckPrefix = "envelope_ack/";
std::string count_key(v1::RecordType type);
}  // namespace meta

// The store contradicts itself (an entry that does not parse, an index entry
// without its record): throws storage_error telling the operator to restore.
[[noreturn]] void corrupt(const std::string& what);

// The keys of records, operations and the log as one transaction sees the
// node codes (schema 6, node_codes.h). An id the store never met has no
// code, so nothing is stored under a key with it: the lookups say none.
class Keys {
 public:
  Keys(const lmdb::Txn& txn, const Dbs& db) : txn_(txn), db_(db), codes_(*db.codes) {}
  std::optional<std::string> code(const NodeId& id) const { return codes_.find(txn_, id); }
  std::optional<std::string> record(const RecordKey& key) const;
  std::optional<std::string> log(const NodeId& origin, Seq seq) const;
  // The record a stored key names; the store is corrupt (corrupt()) if the
  // key is malformed or its code was never given.
  RecordKey record_at(std::string_view key) const;
  // The id a code stands for (corrupt() if none).
  NodeId id(std::string_view code) const;
  // The origin and seq of a `log` key.
  std::pair<NodeId, Seq> log_position(std::string_view key) const;
  // The SignedDelta bytes of a stored delta (codec::signed_delta_of).
  std::optional<std::string> logged(const NodeId& origin, Seq seq) const;
  // The SignedDelta bytes of the `log` entry `key` -> `value`.
  std::string signed_delta(std::string_view key, std::string_view value) const;
  // The store's federation (meta), none before it is initialised.
  const std::optional<FederationId>& federation() const;

 private:
  std::string whole(std::string_view value, const NodeId& origin, Seq seq) const;
  const lmdb::Txn& txn_;
  const Dbs& db_;
  const NodeCodes& codes_;
  mutable std::optional<std::optional<FederationId>> federation_;
};

// A write transaction that counts its writes for fault injection.
class Writer {
 public:
  Writer(lmdb::WriteTxn& txn, const Dbs& dbs, const StoreOptions& options)
      : db(dbs), txn_(txn), options_(options), keys_(txn, dbs) {}
  void put(lmdb::Dbi d, std::string_view k, std::string_view v);
  // MDB_APPEND when the key sorts last (the usual case for a log), else put.
  void append(lmdb::Dbi d, std::string_view k, std::string_view v);
  bool del(lmdb::Dbi d, std::string_view k);
  // One item of a key of an MDB_DUPSORT database (WriteTxn::put_item).
  void put_item(lmdb::Dbi d, std::string_view k, std::string_view v);
  bool del(lmdb::Dbi d, std::string_view k, std::string_view v);
  std::optional<std::string_view> get(lmdb::Dbi d, std::string_view k) const { return txn_.get(d, k); }
  lmdb::Cursor cursor(lmdb::Dbi d) const { return txn_.cursor(d); }
  const lmdb::WriteTxn& txn() const { return txn_; }
  // Keys with the ids' node codes, given a code where an id has none yet.
  std::string code(const NodeId& id) { return db.codes->assign(txn_, id, given_); }
  std::string record_key(const RecordKey& key) { return codec::record_key(key.type, code(key.owner), key.serial); }
  std::string log_key(const NodeId& origin, Seq seq) { return codec::log_key(code(origin), seq); }
  // What `log` keeps of `d` (codec::log_value).
  std::string log_value(const VerifiedDelta& d) const {
    return codec::log_value(d.signed_delta.SerializeAsString(), keys_.federation(), d.origin, d.seq);
  }
  // Lookups in this transaction (its federation read once).
  const Keys& keys() const { return keys_; }
  // The codes this transaction gave: the cache's once it commits.
  const NodeCodes::Given& given_codes() const { return given_; }

  const Dbs& db;

 private:
  void before_write();
  lmdb::WriteTxn& txn_;
  const StoreOptions& options_;
  std::uint64_t writes_ = 0;
  Keys keys_;
  NodeCodes::Given given_;
};

// One caller's request waiting for the group commit.
struct Job {
  enum class Kind { apply, author, evidence } kind = Kind::apply;
  // apply
  std::vector<VerifiedDelta>* batch = nullptr;
  ApplyOutcome outcome;
  // author
  const KeyPair* key = nullptr;
  const DeltaDraft* draft = nullptr;
  std::uint64_t now_ms = 0;
  const Store::AuthorOptions* author_options = nullptr;
  std::optional<VerifiedDelta> authored;
  // evidence
  const VerifiedDelta* first = nullptr;
  const VerifiedDelta* second = nullptr;

  std::optional<Error> error;  // set instead of a result
  bool done = false;
  std::size_t size() const { return batch ? batch->size() : 1; }
};

// An operation stored by this group, still inside the body of its delta
// (the group owns its batches until they are committed): the refold borrows
// it from there instead of reading it back from the log.
struct PendingOp {
  VerifiedDelta* delta;
  std::uint32_t index;
  v1::Operation& op() const { return *delta->body.mutable_ops(static_cast<int>(index)); }
};

// The records a group must refold, each with the operations this group
// stored for it: appended as the deltas are stored (one entry per operation,
// or one without an operation for a record only touched), sorted once by
// record at the refold (a stable sort: each record's operations stay in the
// order they were stored). A vector sorted once instead of a tree keyed by
// 41-byte record keys: one allocation, no rebalancing, no node per record.
class TouchedRecords {
 public:
  void add(const RecordKey& key, PendingOp op) { entries_.push_back({key, op}); }
  void touch(const RecordKey& key) { entries_.push_back({key, PendingOp{nullptr, 0}}); }
  bool empty() const { return entries_.empty(); }
  void clear() { entries_.clear(); }
  // f(key, operations) once per record, in key order.
  template <class F>
  void for_each(F&& f) {
    std::stable_sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.key < b.key; });
    std::vector<PendingOp> ops;
    for (std::size_t i = 0; i < entries_.size();) {
      std::size_t j = i;
      ops.clear();
      for (; j < entries_.size() && entries_[j].key == entries_[i].key; ++j)
        if (entries_[j].op.delta) ops.push_back(entries_[j].op);
      f(entries_[i].key, std::span<const PendingOp>(ops));
      i = j;
    }
  }

 private:
  struct Entry {
    RecordKey key;
    PendingOp op;  // delta == nullptr: touched without an operation of this group
  };
  std::vector<Entry> entries_;
};

// What one group transaction accumulates before it refolds and commits.
struct GroupState {
  std::map<NodeId, Seq> frozen;  // meta "frozen", loaded at the start
  bool frozen_changed = false;
  // Records to refold, each with the operations this group stored for it.
  TouchedRecords touched;
  std::set<RecordKey> placements;  // placements whose availability to recompute
  // States the refold wrote, of the types availability reads (placements,
  // reservations), so it need not parse them back.
  std::map<RecordKey, v1::RecordState> refolded;
  // Heads read through this cache and written once per origin at the end.
  std::map<NodeId, std::optional<HeadInfo>> heads;
  std::set<NodeId> heads_changed;
  std::optional<Hlc> clock;       // loaded lazily from meta
  std::uint64_t unknown_ops = 0;  // operations of unknown kinds stored by this group
  // The replicated roster before this group stored its first membership
  // delta (set then): the standings it changes are refolded at the end.
  std::shared_ptr<const ReplicatedRoster> roster_before;
  Hlc observed{};  // newest stored HLC
  bool observed_loaded = false;
  // For the on_committed hook; `owned` deltas (applied batches) may be moved
  // out once committed, authored ones go back to their caller.
  struct Stored {
    VerifiedDelta* delta;
    bool owned;
  };
  std::vector<Stored> stored;
};
struct Store::Impl {
  std::filesystem::path dir;
  StoreOptions options;
  lmdb::Env env;
  Dbs db;
  // Shared by every transaction of this process; exclusive only to resize the
  // map, which LMDB allows only while no transaction is active.
  mutable std::shared_mutex resize_mu;
  // Added to LMDB's last transaction id in last_commit_id(): a compaction
  // swaps in a copy whose ids start again.
  std::uint64_t commit_id_base = 0;

  std::mutex init_mu;          // serialises initialise()
  mutable std::mutex meta_mu;  // guards the two below; never held across a write
  std::optional<FederationId> federation;
  std::optional<NodeId> own;
  std::optional<SchemaUpgrade> upgraded;  // set once by open

  // Group commit.
  std::mutex q_mu;
  std::condition_variable q_cv;
  std::deque<Job*> queue;
  bool leader_active = false;
  std::function<void(std::span<const VerifiedDelta>)> hook;

  explicit Impl(lmdb::Env e) : env(std::move(e)) {}

  // Runs fn(ReadTxn&) in a read transaction; LMDB failures become errors.
  template <class F>
  auto read(F&& fn) const -> decltype(fn(std::declval<lmdb::ReadTxn&>())) {
    for (int attempt = 0;; ++attempt) {
      try {
        std::shared_lock lock(resize_mu);
        check_open();
        lmdb::ReadTxn txn = env.begin_read();
        return fn(txn);
      } catch (const lmdb::Failure& f) {
        if (f.rc != MDB_MAP_RESIZED || attempt > 0) return f.error;
      }
      const_cast<Impl*>(this)->adopt_map_size();
    }
  }
  // Throws when a compaction could not reopen the environment (compact.cc).
  void check_open() const {
    if (!env.get())
      throw lmdb::Failure{
          Error(Errc::storage_error,
                "the store in " + dir.string() + " could not be reopened after compacting it; restart the node"),
          0};
  }
  // A small write transaction of its own (roster, peers, blobs, meta).
  Status write(const std::function<void(lmdb::WriteTxn&)>& fn);
  // Doubles the map (up to max_map_size) after a full-map failure; false
  // when it may not grow.
  bool grow_map(std::uint64_t failed_at);

  // group commit (writer.cc)
  void submit(Job& job) { submit(std::span<Job* const>(std::array<Job*, 1>{&job})); }
  // Queues the jobs together, in order; returns once all are committed.
  void submit(std::span<Job* const> jobs);
  std::vector<VerifiedDelta> run_group(std::vector<Job*>& group, bool want_copies);
  void run_job(Writer& w, GroupState& g, Job& job);
  void author_one(Writer& w, GroupState& g, Job& job);
  // After another process grew the map (MDB_MAP_RESIZED).
  void adopt_map_size();
  // Refolds what `id`'s operations touch if its standing is no longer
  // `before` (a card put or removed in `txn`).
  void roster_changed(lmdb::WriteTxn& txn, const NodeId& id, const Standing& before);
};

// The write path (apply.cc).
void apply_batch(Writer& w, GroupState& g, const std::optional<FederationId>& federation,
                 std::vector<VerifiedDelta>& batch, ApplyOutcome& out);
// `owned`: the group may move `d` into the hook's list after the commit.
void store_delta(Writer& w, GroupState& g, VerifiedDelta& d, bool owned);
std::optional<HeadInfo> read_head(const lmdb::Txn& txn, const Dbs& db, const NodeId& origin);
// The head as this group left it (read through g.heads).
std::optional<HeadInfo> group_head(const Writer& w, GroupState& g, const NodeId& origin);
void set_group_head(GroupState& g, const NodeId& origin, const HeadInfo& h);
// Writes the heads the group changed.
void flush_heads(Writer& w, GroupState& g);
Status record_equivocation(Writer& w, GroupState& g, const VerifiedDelta& a, const VerifiedDelta& b);
// Refolds touched records, their indexes, availability and the digest (records.cc).
void refold_touched(Writer& w, GroupState& g);
// Marks for refolding every record that `origin`'s stored operations in
// [from, until) touch. Used when what the fold reads about those operations
// changes: an equivocation freezes them, a roster change alters the
// origin's standing (RosterAt, conect/crdt/authority.h). A membership
// operation that changes an origin's standing from some seq on calls this
// with that seq in the same transaction, then refold_touched().
void touch_stored_range(Writer& w, GroupState& g, const NodeId& origin, Seq from, Seq until);
// Indexes a stored membership delta (membership sub-database and tag),
// capturing the roster before the first one of the group.
void note_membership(Writer& w, GroupState& g, const VerifiedDelta& d);
// After a group stored membership deltas: refolds the records of every
// origin whose standing the new roster changed.
void membership_changed(Writer& w, GroupState& g);
// Rebuilds the membership index and tag from the log (fold rules upgrade).
void rebuild_membership_index(Writer& w);
// The group state a write transaction starts from (frozen origins loaded).
GroupState begin_group(const Writer& w);

// Opens (creating) every named database in `txn` (store.cc).
void open_databases(lmdb::WriteTxn& txn, Dbs& db);
// What open_impl opened the environment with (the map at its current size).
lmdb::EnvOptions env_options(const StoreOptions& options, std::uint64_t map_size);
// The name a compaction writes its copy under before the rename.
inline constexpr const char* kCompactingFile = "data.mdb.compacting";

// At open: refolds every record when the store was folded under other merge
// rules (meta.fold_rules != kFoldRulesVersion; absent = 0.2.0's), then
// records the version. A fresh store only records it.
void refold_for_rules(Writer& w);
// Rebuilds every record from the log (records.cc).
Result<Hash256> recompute_digest(const lmdb::Txn& txn, const Dbs& db);
// meta "frozen" value.
std::map<NodeId, Seq> decode_frozen(std::string_view v);
std::string encode_frozen(const std::map<NodeId, Seq>& frozen);

}  // namespace conect::storage
