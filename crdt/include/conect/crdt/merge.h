// The merge rules of DESIGN §3 as a pure fold.
//
// A record's state is a function of the SET of operations that touch it:
// fold_record() sorts them into one total order, (hlc, origin, seq, index),
// and applies each in turn under the authorship rules. Arrival order and
// duplicates therefore cannot matter, and every node holding the same
// deltas computes the same bytes. Storage keeps each record's operations
// (they are also its audit history) and refolds a record when one arrives.
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
#pragma once

#include <span>
#include <string>
#include <vector>

#include "delta.pb.h"
#include "state.pb.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/types.h"

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
};

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
};

// The records an operation touches, or an error (unknown_record_type,
// malformed_body) for an operation that names none validly.
Result<RecordKey> op_target(const v1::Operation& op);

// Folds every operation on `key` (any order, duplicates allowed) into state.
v1::RecordState fold_record(const RecordKey& key, std::vector<PositionedOp> ops);

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
  static StateDigest from(const Hash256& v) { StateDigest d; d.sum_ = v; return d; }
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
std::vector<WindowAvailability> placement_availability(
    const v1::Placement& placement, std::span<const v1::RecordState> reservations);

// Signs and checks mobility confirmations:
// Ed25519(signer, "conect/confirm/v1" || mobility key || agreed delta id).
v1::Confirmation make_confirmation(const KeyPair& key, const RecordKey& mobility,
                                   v1::ConfirmingParty party, const DeltaId& agreed_delta);
bool verify_confirmation(const RecordKey& mobility, const v1::Confirmation& c);

}  // namespace conect
