// The node's LMDB environment (DESIGN §6): the signed logs, their heads, each
// record's operations and merged state, the query indexes, blobs, peers, the
// roster and evidence. docs/storage.md documents every sub-database.
//
// Contract
//   - Atomicity: everything one write does (a batch applied, a group of
//     authored drafts) is one LMDB write transaction: after a crash the store
//     holds all of it or none of it.
//   - Durability: author() and apply() return only after their transaction
//     committed (fsync'd, unless StoreOptions::no_sync). What they report as
//     stored survives kill -9.
//   - Invariants after every commit: each origin's log is gap-free from seq 1
//     to its head and hash-linked; every stored operation is in `ops`; every
//     record's state equals fold_record() over its operations (minus those of
//     frozen origins past their fork); the indexes and availability agree
//     with the records; digest() == digest_recomputed().
//   - Acceptance: apply() trusts the caller to have checked signatures
//     (verify_single / verify_range) and roster membership; it re-checks only
//     that each delta links to the stored head, and that its dependencies are
//     stored.
//   - Roster: the merge reads each operation's origin's standing from the
//     `members` table (conect/crdt/authority.h); put_member / remove_member
//     refold, in their transaction, the records of a member whose standing
//     they change.
//   - Equivocation: two authentic deltas of one origin with one seq and two
//     ids are kept as evidence; the origin is frozen at the fork (its
//     operations from that seq on no longer count, later deltas are refused).
//
// Thread-safety: every method may be called from any thread at once. Reads
// run in their own LMDB read transaction (MVCC) and never wait for writers
// (only, briefly, for a map resize). Several processes may open one store
// (the daemon and CLI commands); LMDB serialises their writers.
// Writes (apply, author, add_equivocation) queue up and are committed by one
// thread at a time, many per transaction (group commit). Member, peer and
// blob writes are small transactions of their own.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "conect/crdt/delta.h"
#include "conect/crdt/error.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/membership.h"
#include "conect/crdt/merge.h"
#include "conect/crdt/seal.h"
#include "conect/crdt/types.h"
#include "conect/storage/schema.h"
#include "delta.pb.h"
#include "state.pb.h"
#include "store.pb.h"

namespace conect::storage {

struct StoreOptions {
  // Create the directory and an empty store if missing; otherwise a missing
  // directory is not_found.
  bool create = false;
  // Upgrade a store of an older schema in place (schema.h: one transaction,
  // all steps or none). Only the daemon and restore do; other commands refuse
  // an older store and say to start the node.
  bool upgrade = false;
  // Testing only: another plan than current_schema() (its version and steps).
  const SchemaPlan* schema = nullptr;
  // Initial LMDB map (address space; the file grows only as pages are used).
  std::uint64_t map_size = std::uint64_t{64} << 30;
  // When a write finds the map full, the map is doubled up to this ceiling
  // and the write retried; 0 means never grow (storage_full instead).
  std::uint64_t max_map_size = 0;
  // MDB_NOSYNC: commits are not fsync'd (the simulator; never a real node).
  bool no_sync = false;
  unsigned max_readers = 126;
  // A received HLC more than this ahead of the author's clock does not pull
  // the local clock forward (DESIGN §3: such deltas are flagged, not obeyed).
  std::uint64_t hlc_max_drift_ms = 60'000;
  // Upper bound on deltas committed in one group transaction.
  std::size_t max_group_deltas = 4096;
  // Testing only: called before every put/delete inside apply/author
  // transactions with a running count; an error aborts the transaction and is
  // returned to every caller in the group.
  std::function<Status(std::uint64_t write_index)> fault_injection;
  // Testing only: compact() calls it at each of its steps ("copied",
  // "closed", "renamed"), so a test can end the process there.
  std::function<void(std::string_view step)> compaction_step;
};

// What one compact() did.
struct Compaction {
  // False when it did not swap the file in: `busy` says why (another process
  // has the store open, so the file cannot be replaced under it).
  bool compacted = false;
  std::string busy;
  // Why the store was due: "erasure" (plaintext in free pages) or "upgrade"
  // (a schema step's free pages); empty when it was not marked due.
  std::string reason;
  std::uint64_t bytes_before = 0;  // data.mdb's size before and after
  std::uint64_t bytes_after = 0;
  std::uint64_t ms = 0;
};

struct HeadInfo {
  Seq seq;          // last stored seq (gap-free from 1)
  DeltaId id;       // its delta id
  Hlc hlc;          // its HLC
  Seq frozen_at{};  // 0, or the seq of the first equivocation: nothing from here on counts
};
using VersionVector = std::map<NodeId, HeadInfo>;

struct DeltaPosition {
  NodeId origin;
  Seq seq;
  DeltaId id;
};

struct Rejection {
  DeltaPosition delta;
  Error reason;  // sequence_gap, broken_chain, equivocation, wrong_federation
};

struct ApplyOutcome {
  std::vector<DeltaPosition> applied;        // stored now, in batch order
  std::vector<DeltaPosition> duplicates;     // already stored with the same id
  std::vector<Rejection> rejected;           // not stored; the reason says why
  std::vector<DeltaPosition> equivocations;  // evidence recorded (the incoming delta)
};

// The operations behind a record, in fold order, and the signed deltas that
// carried them (each once, in (origin, seq) order).
struct StoredDelta {
  NodeId origin;
  Seq seq;
  DeltaId id;
  v1::SignedDelta signed_delta;
};
struct RecordHistory {
  std::vector<PositionedOp> ops;
  std::vector<StoredDelta> deltas;
};

struct RecordView {
  RecordKey key;
  v1::RecordState state;
};
struct PlacementView {
  RecordKey key;
  v1::RecordState state;
  std::vector<WindowAvailability> availability;
};

template <class T>
struct Page {
  std::vector<T> items;
  std::string next_cursor;  // empty when there is nothing more
};

// Dates are days since 1970-01-01 (v1::Date). Empty / nullopt means "any".
struct PlacementFilter {
  std::string trade;                 // equal, ignoring case and surrounding space
  std::string country;               // ISO alpha-2, ignoring case
  std::optional<std::int32_t> from;  // some window ends on or after `from`
  std::optional<std::int32_t> to;    // ... and starts on or before `to`
  std::string language;              // a working language (primary tag)
  bool available = false;            // open, and some window has a free slot
  std::optional<RecordKey> host;     // host organisation
  std::size_t limit = 50;
  std::string cursor;  // next_cursor of the previous page
};

struct MobilityFilter {
  std::optional<RecordKey> organisation;  // sending or receiving
  std::string country;                    // of the sending or receiving organisation
  v1::MobilityType type = v1::MOBILITY_TYPE_UNSPECIFIED;
  v1::MobilityStatus status = v1::MOBILITY_STATUS_UNSPECIFIED;
  std::optional<std::int32_t> from;  // planned period overlaps [from, to]
  std::optional<std::int32_t> to;
  // A further condition the caller defines (the API's direction and partner
  // filters), checked inside the scan so that a page still holds `limit`
  // matches.
  std::function<bool(const RecordKey&, const v1::RecordState&)> keep;
  std::size_t limit = 50;
  std::string cursor;
};

class Store {
 public:
  // Opens (or with options.create, creates) the environment in `dir`.
  // Errors: not_found (no store and !create), schema_mismatch (newer schema,
  // older schema without options.upgrade or without the steps to upgrade it,
  // foreign or non-LMDB file; nothing is touched), io_error (permissions,
  // read-only), storage_error (corruption), and a failing upgrade step's
  // error (the store is left at its old version).
  static Result<std::unique_ptr<Store>> open(const std::filesystem::path& dir, const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Sets the federation and own node id, once. Repeating it with the same
  // values is a no-op; different values are already_exists.
  Status initialise(const FederationId& federation, const NodeId& own_id);
  std::optional<FederationId> federation() const;
  std::optional<NodeId> own_id() const;

  // Stores a batch of authentic deltas in one transaction (see Contract).
  // Deltas of one origin must come in seq order; a delta that does not link
  // to its origin's head is rejected with the rest of that origin's batch.
  Result<ApplyOutcome> apply(std::vector<VerifiedDelta> batch);
  // Several batches, each as apply() would take it, in this order and in as
  // few transactions as StoreOptions::max_group_deltas allows (one, usually):
  // each batch gets its own outcome, but they share the commit. A catch-up
  // hands in what queued up while the last commit was flushing, so the
  // pages every batch touches (index leaves, branch pages, heads) are
  // written once per commit, not once per batch.
  std::vector<Result<ApplyOutcome>> apply_each(std::vector<std::vector<VerifiedDelta>> batches);

  // Signs and stores the next delta of `key`'s chain (key must be the
  // store's own id). Concurrent callers share one transaction; each returns
  // after that transaction is durable. The seq is only known here, so a new
  // record's id is written as a placeholder: any RecordId in the draft whose
  // owner is empty or all zero (RecordKey{type, {}, k}.to_proto()) becomes
  // RecordKey::mint(type, own id, seq, k), the record created by operation k
  // of this delta; the returned delta carries the real ids. Errors: invalid_argument (not
  // initialised, foreign key), not_authorised (restored store, see
  // author_fenced), storage errors.
  Result<VerifiedDelta> author(const KeyPair& key, DeltaDraft draft, std::uint64_t now_ms);

  // What else an authored delta may do in its transaction.
  struct AuthorOptions {
    // The store's own member id when `key` is its current key after a
    // Rotate or Rekey (crdt/membership.h): the delta's origin stays the id.
    std::optional<NodeId> origin;
    // Consumes this invite (its `invites` entry) for `joiner` in the same
    // transaction, or fails the whole write: not_found (no such invite),
    // already_exists (used), invalid_argument (expired at now_ms).
    std::string consume_invite;
    NodeId joiner;
  };
  Result<VerifiedDelta> author(const KeyPair& key, DeltaDraft draft, std::uint64_t now_ms,
                               const AuthorOptions& options);

  // Records replicated equivocation evidence: two authentic deltas of one
  // origin with one seq and different ids (the caller verified both
  // signatures). Freezes the origin at that seq.
  Status add_equivocation(const VerifiedDelta& a, const VerifiedDelta& b);

  // Called after every commit that stored deltas (authored or applied), in
  // commit order, on the committing thread, before the next group starts:
  // keep it short (post elsewhere). It must not call author/apply (that
  // would wait for itself); reads are fine.
  void set_on_committed(std::function<void(std::span<const VerifiedDelta>)> hook);

  // ------------------------------------------------------------ reads
  Result<std::optional<v1::RecordState>> record(const RecordKey& key) const;
  Result<RecordHistory> history(const RecordKey& key) const;
  // Serialised SignedDelta bytes of `origin` from seq `from` on, in order, at
  // most max_count and about max_bytes (always at least one if any).
  Result<std::vector<std::string>> deltas_from(const NodeId& origin, Seq from, std::size_t max_count,
                                               std::size_t max_bytes) const;
  Result<std::optional<HeadInfo>> head(const NodeId& origin) const;
  Result<VersionVector> version_vector() const;
  // The incremental state digest kept in meta: O(1).
  Result<Hash256> digest() const;
  // Refolds everything from the log (slow; tests and `status --verify`).
  Result<Hash256> digest_recomputed() const;
  // How many stored operations are of a kind this version does not know (a
  // newer conect's): kept with their deltas, without effect, each also
  // listed in the evidence table as a rejected operation (unknown_operation).
  Result<std::uint64_t> unknown_operations() const;

  Result<Page<PlacementView>> placements(const PlacementFilter& filter) const;
  Result<Page<RecordView>> mobilities(const MobilityFilter& filter) const;
  // Reservations naming a placement (any decision).
  Result<std::vector<RecordView>> reservations_of(const RecordKey& placement) const;
  Result<std::vector<WindowAvailability>> availability(const RecordKey& placement) const;
  // All records of one type in key order; cursor = previous next_cursor.
  // `keep`, when given, filters inside the scan: a page holds `limit` kept
  // records (fewer only at the end).
  using RecordPredicate = std::function<bool(const RecordKey&, const v1::RecordState&)>;
  Result<Page<RecordView>> list(v1::RecordType type, const std::string& cursor, std::size_t limit,
                                const RecordPredicate& keep = {}) const;
  // The records of one type that `owner` minted, in key order: record keys
  // begin with type and owner, so only those are read (the courier's
  // once-a-second sweep of its own records must not read the federation's).
  Result<Page<RecordView>> list_owned(v1::RecordType type, const NodeId& owner, const std::string& cursor,
                                      std::size_t limit) const;
  Result<std::map<v1::RecordType, std::uint64_t>> counts() const;

  // --------------------------------------------- roster, peers, blobs
  Status put_member(const NodeId& id, const v1::MemberCard& card);
  Result<std::optional<v1::MemberCard>> member(const NodeId& id) const;
  Result<std::vector<std::pair<NodeId, v1::MemberCard>>> members() const;
  Status remove_member(const NodeId& id);  // not_found if absent
  // The replicated roster derived from the stored membership deltas
  // (crdt/membership.h); `members()` above are the local overrides.
  Result<std::shared_ptr<const ReplicatedRoster>> roster() const;
  // Every member this node trusts, with its role: the replicated roster's
  // admitted members that were not cut off, and the local overrides (a local
  // card wins). What a personal-data audience is computed from (audience.h).
  Result<std::map<NodeId, v1::MemberRole>> member_roles() const;
  // The newest stored membership delta of every origin: what a membership
  // operation authored now names in deps (docs/membership.md, Determinism).
  Result<std::vector<v1::DeltaRef>> membership_deps() const;

  // The members a node that joined with an invite takes deltas from until
  // its own admission is in its store (the inviter names them in its
  // JoinResponse): without them it could not fetch the membership deltas
  // that admit everyone else. Replaced whole.
  Status set_bootstrap(const std::vector<NodeId>& ids);
  Result<std::vector<NodeId>> bootstrap() const;
  // The key the inviter signed with when its invite was made (the invite
  // names it after a `key rotate`): a joiner checks the inviter's handshake
  // binding against it until its roster holds the inviter's Rotate, which
  // it can only fetch over that very link. Empty: none. Replaced whole.
  Status set_bootstrap_keys(const std::map<NodeId, NodeId>& keys);
  Result<std::map<NodeId, NodeId>> bootstrap_keys() const;
  // The stored deltas of `origin` that carry a Rotate, oldest first, as
  // signed; the newest `max` of them. Its handshakes show them to a peer
  // whose roster predates them (HandshakePayload.rotations).
  Result<std::vector<std::string>> rotation_deltas(const NodeId& origin, std::size_t max) const;

  // Invitations this node issued (docs/handshake.md section 8): invite id
  // (16 bytes) -> serialised v1::StoredInvite.
  Status put_invite(const std::string& invite_id, const std::string& stored);
  Result<std::optional<std::string>> invite(const std::string& invite_id) const;
  Result<std::vector<std::pair<std::string, std::string>>> invites() const;

  Status put_peer(const std::string& address, const std::string& state);
  Result<std::optional<std::string>> peer(const std::string& address) const;
  Result<std::vector<std::pair<std::string, std::string>>> peers() const;
  Status remove_peer(const std::string& address);

  // Sealed personal data by commitment. Erasing (here, or by an Erase
  // operation that the merge accepted) leaves a tombstone: the blob is gone
  // and put_blob refuses it from then on (not_authorised).
  Status put_blob(const Hash256& commitment, const std::string& bytes);
  // Several blobs in one transaction (one fsync): all or none.
  Status put_blobs(const std::vector<std::pair<Hash256, std::string>>& blobs);
  Result<std::optional<std::string>> blob(const Hash256& commitment) const;
  Status erase_blob(const Hash256& commitment);

  Result<std::vector<v1::StoredEvidence>> evidence() const;

  // The latest seal key each origin stated in its log: a SealKeyAnnounce
  // with a valid inner signature or a Rotate's new_seal_key, whichever is
  // later in its log order (crdt/seal.h seal_key_stated; DESIGN §5). An
  // origin missing here announced none yet and can receive no personal data.
  Result<std::map<NodeId, SealPublicKey>> seal_keys() const;
  Result<std::optional<SealPublicKey>> seal_key(const NodeId& origin) const;
  // Whether `member`'s log holds a valid acknowledgement that it holds the
  // personal data behind `commitment` (Operation.envelope_ack; docs/privacy.md
  // "Carry"): relays and owners drop what they carry for it.
  Result<bool> envelope_acknowledged(const Hash256& commitment, const NodeId& member) const;

  // -------------------------------------------------- backup, restore
  // A consistent copy of the latest commit into `dir`, which must be empty
  // or absent. With `compact`, every database rewritten in key order
  // (Env::copy_to): no free pages, and pages as full as LMDB fills them
  // when it appends, however many origins wrote them; without, the file
  // page for page (mdb_env_copyfd2). Writers keep running meanwhile.
  Status backup(const std::filesystem::path& dir, bool compact = true) const;
  // Installs a backup as the store in `target` (empty or absent). The
  // restored store is fenced: author() refuses until lift_author_fence(),
  // which the node calls once it fetched its own chain back from its peers up
  // to its true head (DESIGN §10: otherwise it would equivocate). A backup
  // of an older schema is upgraded on the way in (`upgraded` says from what).
  static Status restore(const std::filesystem::path& backup_dir, const std::filesystem::path& target,
                        std::optional<SchemaUpgrade>* upgraded = nullptr);
  bool author_fenced() const;
  // Why authoring is fenced: "restore" (installed from a backup) or
  // "rollback" (a peer showed more of this node's own chain than the store
  // holds); nullopt when it is not. Kept across restarts.
  std::optional<std::string> author_fence() const;
  Status fence_author(std::string_view cause);
  Status lift_author_fence();

  // ------------------------------------------------ erasure on disk
  // LMDB keeps freed pages (and the unused tail of live pages) as they were,
  // so an erased blob's plaintext stays in data.mdb until the page is
  // reused. Every commit that turns a held blob into a tombstone marks the
  // store as due for compaction (in `meta`, so a restart keeps the mark);
  // compact() clears it.
  Result<bool> compaction_due() const;
  // Replaces data.mdb by a copy of itself rewritten in key order (what
  // backup(dir, true) writes): the live entries only, so nothing erased
  // remains in the live file, and full pages, so a store written by several
  // origins shrinks to what one origin's would take. Every transaction of this process waits meanwhile (writers
  // included: the copy is the latest commit). Refused, as a value
  // (`busy`), while another process has the store open. Crash-safe: the
  // copy is fsync'd, then renamed over data.mdb (atomic), then the directory
  // fsync'd; a crash leaves the old file or the new one, and a half-written
  // copy is removed at the next open.
  Result<Compaction> compact();

  // Current LMDB map size in bytes (grows with max_map_size).
  std::uint64_t map_size() const;
  // The most the map may grow to: max_map_size, or map_size when it never grows.
  std::uint64_t map_limit() const;
  // Bytes of the map in use (Env::used_bytes).
  std::uint64_t used_bytes() const;
  // Changes with every commit (Env::last_txn_id): a reader that saw the
  // store at one value has nothing new to read while it stays the same.
  std::uint64_t last_commit_id() const;
  // What open() upgraded, when it found an older schema.
  const std::optional<SchemaUpgrade>& upgraded() const;

  struct Impl;

 private:
  explicit Store(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace conect::storage
