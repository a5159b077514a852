// The merge rules of DESIGN §3 as a pure fold.
//
// A record's state is a function of the SET of operations that touch it:
// fold_record() sorts them into one total order, (hlc, origin, seq, index),
// and applies each in turn under the authorship rules. Arrival order and
// duplicates therefore cannot matter, and every node holding the same
// deltas computes the same bytes. Storage keeps each record's operations
// (they are also its audit history) and refolds a record when one arrives;
// RecordFolder continues a fold instead when the new operations sort last.
//
// Rules applied by the fold:
//   - scalar fields: last writer wins in the total order;
//   - OR-sets (SetChange): add-wins, a removal only drops the tags it lists;
//   - mobility status: moves forward only, CANCELLED is final; fixed fields
//     are set by the owner's creating write and never again;
//   - reservation: request and cancel by the requester (id.owner); decision
//     only by the placement owner named in the operation, and only when the
//     decision's placement, window and slots equal the request's;
//   - confirmations: grow-only, signature checked against the signer;
//   - an operation that breaks a rule has no effect and is listed in
//     RecordState.rejected with the rule's stable name.
//
// The rules in detail (each one a reason an operation lands in `rejected`):
//   - Organisation, Placement, Contact: every FieldWrite and SetChange by
//     id.owner only (not_authorised). The owner's first write creates the
//     record (RecordState.created). Organisation.speaker, when written, must
//     be id.owner; a placement's window ids must be unique (invalid_argument).
//   - FieldWrite.fields must name fields of the group message
//     (malformed_body); OR-set fields (is_set_field) change only through
//     SetChange (invalid_argument).
//   - Reservation: placement, window_id and slots are fixed by the
//     requester's creating write; a later write giving them another value is
//     fixed_field. (Were they mutable, a requester could move a confirmed
//     reservation away and back after the owner re-used its slots, and two
//     partitions could then count the same slots twice.) `decision` is
//     derived, never written (not_authorised). A decision counts only when
//     its origin owns the placement it names (not_authorised), it is
//     CONFIRMED or REJECTED (invalid_argument), and placement (not_authorised),
//     window and slots (invalid_argument) equal the request's; it is checked
//     after every operation is folded, so its place in the order does not
//     matter. The last valid decision wins; a requester's cancel is final.
//     Decisions on a reservation whose request is not (yet) known are held:
//     no effect and not listed. The decider's delta must name in its deps the
//     cancel deltas whose freed slots it counted (DESIGN §3 Dependencies).
//   - Mobility: mobility_create by id.owner, naming a sending organisation
//     that id.owner speaks for (not_authorised); it takes the whole
//     MobilityFixed (`fields` is ignored); the first one in the order creates
//     the record and any later one is fixed_field. Sending fields by id.owner;
//     host fields by the owner of FieldWrite.authority, which must equal the
//     fixed receiving organisation (not_authorised). Status moves forward along
//     the enum's order (CANCELLED, the largest, is final): a write moving it
//     back is invalid_argument. Mobility.agreed_delta is the delta id of the
//     last operation in the order that changed the fixed fields or sending
//     fields 1-6. Confirmations: sending party signed by id.owner with
//     authority = fixed sending organisation; host party signed by the
//     receiving organisation's owner with authority = it; the origin must be
//     the signer (not_authorised); the signature must verify (bad_signature).
//     Host writes and confirmations on a mobility never created are held.
//   - SetChange: add-wins observed-remove. An add's tag is set_tag(origin,
//     seq, index); an element is live while one of its add tags is not named
//     by any removal of that element. Live values are mirrored into the
//     record's repeated field sorted by element bytes; elements must be
//     canonical (a deterministic message encoding, a minimal varint, UTF-8).
//   - Erase: by id.owner only; adds the 32-byte commitment to `erased`.
//   - The roster (FoldContext.roster, authority.h), checked before any other
//     rule: an operation whose origin's standing at its seq is refused has
//     no effect (that rule), and an auditor authors nothing (not_authorised;
//     DESIGN §2 Roles). Both apply to every operation, held ones included.
//   - References (FoldContext.chains): a placement write listing
//     host_organisation or mentor_contact, and a contact write listing
//     organisation, must name an organisation (a contact) that the record's
//     owner speaks for (not_authorised: no member shows its placements as
//     hosted by, or its contacts as working for, another member's
//     organisation) and created by the operation the id was minted from, in
//     one of its deltas no later than the write (invalid_argument). An unset
//     id (clearing the field) passes.
//   - Operations of a kind this version does not know (a newer conect's, in
//     an authentic delta: forward compatibility) target no record:
//     op_target() answers unknown_operation, they are stored with their
//     delta and counted, and they change nothing.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "conect/crdt/authority.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/types.h"
#include "delta.pb.h"
#include "state.pb.h"

namespace conect {

// Which record an operation touches (type + id); the storage key.
struct RecordKey {
  v1::RecordType type = v1::RECORD_TYPE_UNSPECIFIED;
  NodeId owner;
  std::uint64_t serial = 0;

  auto operator<=>(const RecordKey&) const = default;
  // 1 byte type || 32 bytes owner || 8 bytes big-endian serial.
  std::string encode() const;
  static std::optional<RecordKey> decode(std::string_view key);
  // "<64 hex owner>-<serial>" as used in the API.
  std::string text() const;
  static std::optional<RecordKey> parse(v1::RecordType type, std::string_view text);
  v1::RecordId to_proto() const;
  static std::optional<RecordKey> from_proto(v1::RecordType type, const v1::RecordId& id);
  // The id of a record created by operation `index` of delta `seq` of
  // `owner` (serial = seq << 16 | index), unique without coordination.
  static RecordKey mint(v1::RecordType type, const NodeId& owner, Seq seq, std::uint32_t index);
};

// FieldWrite oneof field numbers, as used by SetChange.group.
inline constexpr std::uint32_t kGroupOrganisation = 2;
inline constexpr std::uint32_t kGroupPlacement = 3;
inline constexpr std::uint32_t kGroupReservation = 4;
inline constexpr std::uint32_t kGroupMobilityCreate = 5;
inline constexpr std::uint32_t kGroupMobilitySending = 6;
inline constexpr std::uint32_t kGroupMobilityHost = 7;
inline constexpr std::uint32_t kGroupContact = 8;

// The record type a FieldWrite group belongs to (UNSPECIFIED if none).
v1::RecordType group_record_type(std::uint32_t group);
// True for the repeated fields that are add-wins OR-sets: Organisation.trades,
// Placement.languages, MobilitySending.languages, Contact.roles,
// Contact.languages. They change only through SetChange.
bool is_set_field(std::uint32_t group, std::uint32_t field);
// The tag of an OR-set add: origin (32) || seq (8, big-endian) || index (4, big-endian).
std::string set_tag(const NodeId& origin, Seq seq, std::uint32_t index);

// One operation with the position of the delta that carried it.
struct PositionedOp {
  NodeId origin;
  Seq seq;
  Hlc hlc;
  std::uint32_t index = 0;
  DeltaId delta_id;
  v1::Operation op;

  // The fold's total order.
  bool operator<(const PositionedOp& o) const;
  v1::OpPosition position() const;
};

// The records an operation touches, or an error for an operation that names
// none validly: unknown_operation for a kind (or a FieldWrite group) this
// version does not know but that carries fields (a newer version's;
// forward compatibility), unknown_record_type, malformed_body.
Result<RecordKey> op_target(const v1::Operation& op);

// Folds every operation on `key` (any order, duplicates allowed) into state,
// reading the roster and the chains through `ctx` (authority.h). Operations
// on other records are ignored.
v1::RecordState fold_record(const RecordKey& key, std::vector<PositionedOp> ops, const FoldContext& ctx);
// Whether fold_record() asks op_target() which operations are on `key`
// (check), or the caller vouches that all are (known: storage, which routed
// each operation by op_target() once when it stored it).
enum class OpTargets { check, known };
// The same over operations kept elsewhere (storage, the replica): no copies.
v1::RecordState fold_record(const RecordKey& key, std::span<const PositionedOp* const> ops, const FoldContext& ctx,
                            OpTargets targets = OpTargets::check);

namespace detail {
class Folder;
}

// The same fold, kept open: append() continues it with operations that all
// sort after every operation folded so far (the common case: most records
// have a single writer, whose clock only moves forward), so a record need
// not be refolded from its first operation each time one arrives. state()
// equals fold_record() over every operation appended. The operations must
// outlive the folder (it keeps pointers), and so must `ctx`; when what the
// context answers changes (a roster change), fold again from scratch.
// Move-only; not thread-safe.
class RecordFolder {
 public:
  RecordFolder(const RecordKey& key, const FoldContext& ctx);
  ~RecordFolder();
  RecordFolder(RecordFolder&&) noexcept;
  RecordFolder& operator=(RecordFolder&&) noexcept;

  // Folds `ops` and returns true; or returns false and changes nothing when
  // one of them sorts before (or at) an operation already folded, comes from
  // a delta no later in its origin's chain than one already folded, or is a
  // mobility's creation arriving after operations that waited for it. Then
  // fold from scratch: a new RecordFolder over every operation.
  bool append(std::span<const PositionedOp* const> ops);
  v1::RecordState state() const;

 private:
  std::unique_ptr<detail::Folder> folder_;
};

// Deterministic bytes of a state, and its contribution to the node digest:
// BLAKE2b-256(key || state bytes).
std::string serialize_state(const v1::RecordState& state);
Hash256 record_hash(const RecordKey& key, std::string_view state_bytes);

// The state digest: sum of record hashes modulo 2^256, maintained
// incrementally (add a record's new hash, subtract its old one).
class StateDigest {
 public:
  void add(const Hash256& h);
  void subtract(const Hash256& h);
  const Hash256& value() const { return sum_; }
  static StateDigest from(const Hash256& v) {
    StateDigest d;
    d.sum_ = v;
    return d;
  }

 private:
  Hash256 sum_{};
};

// Availability of a placement's windows from the reservations naming it.
struct WindowAvailability {
  std::uint32_t window_id = 0;
  std::uint32_t capacity = 0;
  std::uint32_t confirmed = 0;
  std::uint32_t pending = 0;
  std::uint32_t available = 0;      // max(0, capacity - confirmed)
  std::uint32_t overbooked_by = 0;  // confirmed - capacity when capacity was lowered
};
// One entry per window of `placement`, in its order. `reservations` are the
// states of the reservations naming this placement (the caller selects them);
// only created ones count: CONFIRMED slots as confirmed, PENDING as pending.
std::vector<WindowAvailability> placement_availability(const v1::Placement& placement,
                                                       std::span<const v1::RecordState> reservations);
std::vector<WindowAvailability> placement_availability(const v1::Placement& placement,
                                                       std::span<const v1::RecordState* const> reservations);

// Signs and checks mobility confirmations:
// Ed25519(signer, "conect/confirm/v1" || mobility key || agreed delta id).
v1::Confirmation make_confirmation(const KeyPair& key, const RecordKey& mobility, v1::ConfirmingParty party,
                                   const DeltaId& agreed_delta);
bool verify_confirmation(const RecordKey& mobility, const v1::Confirmation& c);

}  // namespace conect
