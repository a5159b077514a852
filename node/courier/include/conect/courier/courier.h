// Delivery of personal data to its audience (DESIGN §5, docs/privacy.md
// "Delivery") as a pure, deterministic state machine, built like the sync
// engine (conect/sync/engine.h): no socket, thread, clock, store or file.
// The node (node/daemon/src/courier.cc) or the simulator feeds it inputs,
// each with the current time in milliseconds:
//   on_peer_connected / on_peer_disconnected, on_message (a decoded
//   SyncMessage of fields 8-11), on_blob_stored and on_ack_authored (the
//   outcome of an action it asked for), sweep (a timer, a local commit, a
//   link coming up);
// reads committed state through CourierView, and then drains its outputs
// with poll():
//   Send{peer, message}, StoreBlob{plaintext checked against the signed
//   record}, AuthorAck{the signed acknowledgement, Operation field 8},
//   Event{...} (logs and metrics).
// Sealing draws a fresh content key (libsodium's random source), so envelope
// bytes differ from run to run; no decision depends on them.
//
// Thread-safety: none. Drive one courier from one strand.
//
// Owner side (a record this node owns, whose personal data it holds):
//   at every sweep, for each linked peer that is in the record's audience
//   (audience.h) and announced a seal key, and that has not answered for
//   this commitment on this link: send PersonalDeliver with one envelope
//   sealed to every audience member that announced a seal key. The envelope
//   is sealed again when that set changes (widened audience, new or rotated
//   seal key).
//     HELD     settled for this link
//     LATER    the record has not reached the peer yet: offered again
//     REFUSED  settled for this link, logged and counted
//   No answer within answer_timeout_ms: offered again.
//
// Recipient side, in this order, each refusal answered, logged with the
// delivering peer and the record's owner, and counted:
//   malformed (bytes, record id) | LATER when this node holds less of the
//   owner's log than the delivery's owner_seq, or the record is unknown here
//   | wrong_record (no personal data, other commitment or owner) | erased
//   (refused for good) | not_in_audience (the signed record's audience leaves
//   this node out) | envelope faults (not_addressed, wrong_seal_key,
//   tampered, commitment_mismatch).
//   Every envelope is opened and checked, even for data already held. Only a
//   plaintext whose BLAKE2b-256 is the commitment of the signed record is
//   handed out for storage (StoreBlob); the answer HELD follows its success.
//
// Nothing personal is ever in an Event: records, node ids and reasons only.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "conect/crdt/envelope.h"
#include "conect/crdt/error.h"
#include "conect/crdt/merge.h"
#include "conect/crdt/seal.h"
#include "conect/crdt/types.h"
#include "records.pb.h"
#include "state.pb.h"
#include "sync.pb.h"

namespace conect::courier {

struct CourierConfig {
  NodeId self;
  // An offer without an answer for this long is made again.
  std::uint64_t answer_timeout_ms = 30'000;
  // Offers without an answer, per peer.
  std::size_t max_in_flight_per_peer = 64;
};

// The only way the courier sees storage: reads of committed state, each
// cheap enough to call per message (point lookups) except the scan of this
// node's own records, which a sweep makes once.
class CourierView {
 public:
  virtual ~CourierView() = default;
  // The last stored seq of `origin`'s log (0: nothing).
  virtual Result<std::uint64_t> head_seq(const NodeId& origin) const = 0;
  virtual Result<std::optional<v1::RecordState>> record(const RecordKey& key) const = 0;
  // The plaintext held for a commitment; "" is the tombstone an erasure left.
  virtual Result<std::optional<std::string>> blob(const Hash256& commitment) const = 0;
  virtual Result<std::map<NodeId, v1::MemberRole>> member_roles() const = 0;
  virtual Result<std::map<NodeId, SealPublicKey>> seal_keys() const = 0;
  // Every mobility and contact this node owns (any state), in key order.
  using RecordVisitor = std::function<void(const RecordKey&, const v1::RecordState&)>;
  virtual Status own_records(const RecordVisitor& visit) const = 0;
};

// ------------------------------------------------------------------ actions
struct SendAction {
  NodeId peer;
  v1::SyncMessage message;
};

// Store `plaintext` under `commitment` (Store::put_blob: one transaction),
// then report with on_blob_stored(store_id, ...). The plaintext was checked
// against the commitment of the signed record `record`.
struct StoreBlobAction {
  std::uint64_t store_id = 0;
  RecordKey record;
  Hash256 commitment;
  std::string plaintext;
  NodeId from_peer;
};

enum class EventKind : std::uint8_t {
  envelope_sent,    // peer, record: a PersonalDeliver went out
  delivered,        // peer: answered HELD to this node's delivery
  refused_by_peer,  // peer, reason (one of kRefusalReasons or "other"), detail (the peer's words)
  opened,           // peer, owner, record: checked and stored here
  refused,          // peer, owner, record, reason, detail: this node refused an envelope
  not_sealed,       // record, detail: sealing failed (a local fault)
  store_error,      // detail: a read or write of the store failed; retried
};
const char* event_name(EventKind k);

struct Event {
  EventKind kind{};
  NodeId peer{};
  std::string owner{};   // short id of the record's owner
  std::string record{};  // record id text
  std::string reason{};
  std::string detail{};
  std::optional<RecordKey> key{};  // opened: the record whose data arrived
};

using Action = std::variant<SendAction, StoreBlobAction, Event>;

class Courier {
 public:
  // Why a recipient refuses an envelope: the label values of the refusal
  // counters, in the order the recipient checks them.
  static constexpr std::array<const char*, 8> kRefusalReasons{"malformed",       "wrong_record",       "erased",
                                                              "not_in_audience", "not_addressed",      "wrong_seal_key",
                                                              "tampered",        "commitment_mismatch"};

  // `view` and `seal` must outlive the courier.
  Courier(CourierConfig config, const CourierView& view, const SealKeyring& seal);

  void on_peer_connected(const NodeId& peer, std::uint64_t now);
  void on_peer_disconnected(const NodeId& peer, std::uint64_t now);
  // A SyncMessage whose case is one of the courier's (is_courier_message).
  void on_message(const NodeId& peer, const v1::SyncMessage& message, std::uint64_t now);
  void on_blob_stored(std::uint64_t store_id, const Status& outcome, std::uint64_t now);
  // Offers every pending envelope to the linked peers that lack it.
  void sweep(std::uint64_t now);

  std::optional<Action> poll();

  static bool is_courier_message(const v1::SyncMessage& m);
  // The label a peer's refusal ("reason: detail") counts under: one of
  // kRefusalReasons, else "other" (a peer's words never become a label).
  static std::string refusal_label(std::string_view answer);

  std::size_t linked_peers() const { return links_.size(); }
  std::size_t in_flight(const NodeId& peer) const;

 private:
  struct Sealed {
    std::map<NodeId, SealPublicKey> recipients;  // members with a slot, and the key it was sealed to
    std::string bytes;
  };
  struct Link {
    std::set<Hash256> settled;                   // answered HELD or REFUSED
    std::map<Hash256, std::uint64_t> in_flight;  // sent at
  };
  struct PendingStore {
    NodeId peer;
    RecordKey key;
    std::string claimed;  // the commitment to answer with
  };

  void on_deliver(const NodeId& peer, const v1::PersonalDeliver& d);
  void on_answer(const NodeId& peer, const v1::PersonalAnswer& a);
  void send(const NodeId& peer, v1::SyncMessage m);
  void answer(const NodeId& peer, const std::string& commitment, v1::PersonalOutcome outcome,
              const std::string& reason = {});
  void refuse(const NodeId& peer, const std::string& commitment, const std::string& reason, const std::string& owner,
              const std::string& record, const std::string& detail);
  void event(Event e) { out_.emplace_back(std::move(e)); }
  const Sealed* envelope_for(const RecordKey& key, const Hash256& commitment, const std::set<NodeId>& audience,
                             const std::map<NodeId, SealPublicKey>& seal_keys);

  CourierConfig cfg_;
  const CourierView& view_;
  const SealKeyring& seal_;  // the current seal key and the retired ones still kept
  std::uint64_t now_ = 0;
  std::map<NodeId, Link> links_;
  std::map<Hash256, Sealed> sealed_;  // owner side: the current envelope per commitment
  std::map<std::uint64_t, PendingStore> stores_;
  std::uint64_t next_store_id_ = 1;
  std::deque<Action> out_;
};

}  // namespace conect::courier
