// Delivery of personal data to its audience (DESIGN §5, docs/privacy.md
// "Delivery") as a pure, deterministic state machine, built like the sync
// engine (conect/sync/engine.h): no socket, thread, clock, store or file.
// The node (node/daemon/src/courier.cc) or the simulator feeds it inputs,
// each with the current time in milliseconds:
//   on_peer_connected / on_peer_disconnected, on_message (a decoded
//   SyncMessage of fields 8-11), on_blob_stored and on_ack_authored (the
//   outcome of an action it asked for), on_applied (a batch of peers'
//   deltas committed), sweep (a timer, a local commit, a link coming up);
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
//   malformed (bytes, record id) | not yet, when this node holds less of the
//   owner's log than the delivery's owner_seq, or the record is unknown here:
//   the delivery is parked and checked again after every applied batch (the
//   envelope and the record's delta leave the owner together, and the delta
//   waits for this node's writer), answered LATER once parked for park_ms or
//   when the peer's parked deliveries are at their bounds | wrong_record (no
//   personal data, other commitment or owner) | erased (refused for good) |
//   not_in_audience (the signed record's audience leaves this node out) |
//   envelope faults (not_addressed, wrong_seal_key, tampered,
//   commitment_mismatch).
//   Every envelope is opened and checked, even for data already held. Only a
//   plaintext whose BLAKE2b-256 is the commitment of the signed record is
//   handed out for storage (StoreBlob); the answer HELD follows its success.
//
// Carry (docs/privacy.md "Carry"), when the owner has no link to an
// audience member R that has not acknowledged the data:
//   owner  hands the envelope (ciphertext) to each linked peer that is not
//          an auditor as PersonalCarry{recipient R, ttl, hops 1, hop limit};
//          ACCEPTED or REFUSED settle it for the link, silence re-offers.
//   relay  checks it (malformed, hop_limit, expired, recipient, owner,
//          erased, acknowledged, queue_full; each refusal answered and
//          counted as a drop with its reason), queues it in memory only,
//          delivers it (PersonalDeliver) as soon as it links to R, carries it
//          on to other peers while hops < hop_limit, and drops it on R's
//          acknowledgement (its signed EnvelopeAck, or its HELD answer), on
//          R's refusal, when the record is erased, or at its deadline.
//   recipient  once it holds the data (stored now, or held already) and its
//          log holds no EnvelopeAck for it, asks for one (AuthorAck); a
//          failed authoring is asked for again at the next sweep.
// A relay never opens what it carries (it has no slot unless it is itself in
// the audience) and never stores an envelope.
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
  // Offers without an answer, per peer (deliveries and carries each).
  std::size_t max_in_flight_per_peer = 64;
  // A sweep scans this node's own records only when something it reads may
  // have changed (the store, a link, an answer, a timeout), and at least
  // this often anyway.
  std::uint64_t idle_rescan_ms = 60'000;

  // Carry: what the owner puts on an envelope it hands to a relay.
  std::uint64_t carry_ttl_ms = 7ull * 24 * 3600 * 1000;
  std::uint32_t hop_limit = 2;
  // The relay queue (memory only): envelopes and their bytes.
  std::size_t max_carried = 1024;
  std::size_t max_carried_bytes = 16u << 20;

  // Recipient: deliveries that arrived before the record's delta was
  // applied here wait this long for it before the answer is LATER (which
  // costs the sender a retry timer); per delivering peer, at most this many
  // and these envelope bytes (an envelope is about 1 KiB; a frame may be
  // megabytes).
  std::uint64_t park_ms = 2'000;
  std::size_t max_parked_per_peer = 64;
  std::size_t max_parked_bytes_per_peer = 1u << 20;
};

// Bounds a relay enforces on every PersonalCarry (docs/privacy.md "Carry").
inline constexpr std::uint64_t kMaxCarryTtlMs = 30ull * 24 * 3600 * 1000;
inline constexpr std::uint32_t kMaxHopLimit = 8;

// The only way the courier sees storage: reads of committed state, each
// cheap enough to call per message (point lookups) except the scan of this
// node's own records, which a sweep makes once, and only when generation()
// moved or a link, an answer or a timeout changed what the scan would offer.
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
  // Whether `member`'s log holds a valid EnvelopeAck for `commitment`.
  virtual Result<bool> acknowledged(const Hash256& commitment, const NodeId& member) const = 0;
  // Every mobility and contact this node owns (any state), in key order.
  using RecordVisitor = std::function<void(const RecordKey&, const v1::RecordState&)>;
  virtual Status own_records(const RecordVisitor& visit) const = 0;
  // A number that changes with every commit to what this view reads (the
  // store's last committed transaction): while it stays the same, a scan of
  // own_records would see what the last one saw.
  virtual std::uint64_t generation() const = 0;
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

// Author an EnvelopeAck (envelope_ack_operation) in this node's own log,
// then report with on_ack_authored(commitment, ...). The daemon puts the
// acks of one drain into one delta.
struct AuthorAckAction {
  RecordKey record;
  Hash256 commitment;
};

enum class EventKind : std::uint8_t {
  envelope_sent,          // peer, record: a PersonalDeliver went out (owner or relay)
  delivered,              // peer: answered HELD to this node's delivery
  refused_by_peer,        // peer, reason (one of kRefusalReasons or "other"), detail (the peer's words)
  opened,                 // peer, owner, record: checked and stored here
  refused,                // peer, owner, record, reason, detail: this node refused an envelope
  not_sealed,             // record, detail: sealing failed (a local fault)
  store_error,            // detail: a read or write of the store failed; retried
  carry_sent,             // peer, record: a PersonalCarry went out (owner or relay)
  carry_accepted,         // peer: it queued what this node handed it
  carry_refused_by_peer,  // peer, reason (one of kCarryReasons or "other"), detail
  carry_queued,           // peer (it came from), record: taken into this relay's queue
  carry_dropped,          // peer, record, reason (one of kCarryReasons), detail: not taken, or no longer kept
  ack_authored,           // record: this node's log now acknowledges it holds the data
  later,                  // peer: answered LATER (its sync is behind this delivery): sweep again soon
  parked,                 // peer, owner, record: a delivery waits here for the record's delta
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

using Action = std::variant<SendAction, StoreBlobAction, AuthorAckAction, Event>;

class Courier {
 public:
  // Why a recipient refuses an envelope: the label values of the refusal
  // counters, in the order the recipient checks them.
  static constexpr std::array<const char*, 8> kRefusalReasons{"malformed",       "wrong_record",       "erased",
                                                              "not_in_audience", "not_addressed",      "wrong_seal_key",
                                                              "tampered",        "commitment_mismatch"};
  // Why a relay does not take a carried envelope, or no longer keeps it: the
  // label values of conect_personal_carry_dropped_total. The first eight are
  // checked on arrival, in this order; the last two are the recipient's
  // answers to the relay's delivery.
  static constexpr std::array<const char*, 10> kCarryReasons{"malformed", "hop_limit", "expired",      "recipient",
                                                             "owner",     "erased",    "acknowledged", "queue_full",
                                                             "delivered", "refused"};

  // `view` and `seal` must outlive the courier.
  Courier(CourierConfig config, const CourierView& view, const SealKeyring& seal);

  void on_peer_connected(const NodeId& peer, std::uint64_t now);
  void on_peer_disconnected(const NodeId& peer, std::uint64_t now);
  // A SyncMessage whose case is one of the courier's (is_courier_message).
  void on_message(const NodeId& peer, const v1::SyncMessage& message, std::uint64_t now);
  void on_blob_stored(std::uint64_t store_id, const Status& outcome, std::uint64_t now);
  void on_ack_authored(const Hash256& commitment, const Status& outcome, std::uint64_t now);
  // Peers' deltas were committed: parked deliveries are checked again.
  void on_applied(std::uint64_t now);
  // Offers every pending envelope to the linked peers that lack it, and
  // goes through the relay queue (deadlines, acknowledgements, links). The
  // scan of own records is skipped when nothing it depends on changed
  // since the last one (see CourierConfig::idle_rescan_ms).
  void sweep(std::uint64_t now);
  // How many sweeps scanned this node's own records.
  std::uint64_t scans() const { return scans_; }

  std::optional<Action> poll();

  static bool is_courier_message(const v1::SyncMessage& m);
  // The label a peer's refusal ("reason: detail") counts under: one of
  // kRefusalReasons (kCarryReasons), else "other" (a peer's words never
  // become a label).
  static std::string refusal_label(std::string_view answer);
  static std::string carry_label(std::string_view answer);

  std::size_t linked_peers() const { return links_.size(); }
  std::size_t in_flight(const NodeId& peer) const;
  std::size_t carries_in_flight(const NodeId& peer) const;
  // The relay queue: envelopes carried for others, and their bytes.
  std::size_t queued() const { return queue_.size(); }
  std::size_t queued_bytes() const { return queue_bytes_; }
  // Deliveries waiting here for their record's delta.
  std::size_t parked() const { return parked_.size(); }
  bool queued_for(const Hash256& commitment, const NodeId& recipient) const {
    return queue_.contains({commitment, recipient});
  }

 private:
  using CarryKey = std::pair<Hash256, NodeId>;  // commitment, recipient
  struct Sealed {
    std::map<NodeId, SealPublicKey> recipients;  // members with a slot, and the key it was sealed to
    std::string bytes;
  };
  struct Link {
    std::set<Hash256> settled;                   // answered HELD or REFUSED
    std::map<Hash256, std::uint64_t> in_flight;  // sent at
    std::set<CarryKey> carry_settled;            // answered ACCEPTED or REFUSED
    std::map<CarryKey, std::uint64_t> carry_in_flight;
  };
  struct PendingStore {
    NodeId peer;
    RecordKey key;
    std::string claimed;  // the commitment to answer with
  };
  struct Carried {
    RecordKey record;
    std::string envelope;
    std::uint64_t owner_seq = 0;
    std::uint64_t deadline = 0;  // local time
    std::uint32_t hops = 0, hop_limit = 0;
    NodeId from;
  };
  struct Parked {
    NodeId peer;
    v1::PersonalDeliver deliver;
    std::uint64_t since = 0;
  };
  struct Ack {
    RecordKey record;
    bool asked = false;  // AuthorAck out, outcome not reported yet
  };

  // `parked_since`: when a parked delivery first arrived (absent: it just did).
  void on_deliver(const NodeId& peer, const v1::PersonalDeliver& d, std::optional<std::uint64_t> parked_since = {});
  void not_yet(const NodeId& peer, const v1::PersonalDeliver& d, std::optional<std::uint64_t> parked_since,
               const std::string& claimed, const std::string& owner, const std::string& record, const char* reason);
  void retry_parked();
  void on_answer(const NodeId& peer, const v1::PersonalAnswer& a);
  void on_carry(const NodeId& peer, const v1::PersonalCarry& c);
  void on_carry_answer(const NodeId& peer, const v1::PersonalCarryAnswer& a);
  void send(const NodeId& peer, v1::SyncMessage m);
  void answer(const NodeId& peer, const std::string& commitment, v1::PersonalOutcome outcome,
              const std::string& reason = {});
  void refuse(const NodeId& peer, const std::string& commitment, const std::string& reason, const std::string& owner,
              const std::string& record, const std::string& detail);
  void refuse_carry(const NodeId& peer, const v1::PersonalCarry& c, const std::string& reason,
                    const std::string& record, const std::string& detail);
  void event(Event e) { out_.emplace_back(std::move(e)); }
  const Sealed* envelope_for(const RecordKey& key, const Hash256& commitment, const std::set<NodeId>& audience,
                             const std::map<NodeId, SealPublicKey>& seal_keys);
  bool can_offer(const Link& link, std::size_t in_flight, std::optional<std::uint64_t> sent_at) const;
  void offer_carry(const NodeId& peer, Link& link, const CarryKey& key, const RecordKey& record,
                   const std::string& envelope, std::uint64_t owner_seq, std::uint64_t ttl_ms, std::uint32_t hops,
                   std::uint32_t hop_limit);
  void carry_for_others(const RecordKey& key, const Hash256& c, const std::string& envelope,
                        const std::set<NodeId>& recipients, std::uint64_t owner_seq,
                        const std::map<NodeId, v1::MemberRole>& roles);
  void sweep_queue(const std::map<NodeId, v1::MemberRole>& roles);
  void drop(const CarryKey& key, const std::string& reason, const NodeId& peer, const std::string& detail = {});
  void want_ack(const RecordKey& record, const Hash256& commitment);
  bool held_by(const Hash256& commitment, const NodeId& member) const;

  CourierConfig cfg_;
  const CourierView& view_;
  const SealKeyring& seal_;  // the current seal key and the retired ones still kept
  std::uint64_t now_ = 0;
  std::map<NodeId, Link> links_;
  std::map<Hash256, Sealed> sealed_;  // owner side: the current envelope per commitment
  std::map<std::uint64_t, PendingStore> stores_;
  std::uint64_t next_store_id_ = 1;
  std::set<CarryKey> held_;            // owner, relay: (commitment, member) answered HELD
  std::map<CarryKey, Carried> queue_;  // relay: envelopes carried for others
  std::size_t queue_bytes_ = 0;
  std::map<Hash256, Ack> acks_;  // recipient: acknowledgements to author
  std::deque<Parked> parked_;    // recipient: deliveries ahead of their record's delta, oldest first
  std::deque<Action> out_;
  // The owner side's scan of own records costs a read of every one of them
  // (a million at the largest size measured): it runs again only when
  // something it reads moved. Links, answers and timeouts set scan_due_;
  // commits move the view's generation.
  bool scan_due_ = true;
  std::optional<std::uint64_t> scanned_generation_;
  std::uint64_t scanned_at_ = 0;
  std::uint64_t scans_ = 0;
};

}  // namespace conect::courier
