// Delivery of personal data to its audience (DESIGN §5, docs/privacy.md
// "Delivery"): envelopes travel over the peer link beside the sync protocol,
// in SyncMessage fields 8 (PersonalDeliver) and 9 (PersonalAnswer).
//
// Owner side (a record this node owns, whose personal data it holds):
//   every sweep (a peer coming up, a local commit, a timer), for each linked
//   peer that is in the record's audience (audience.h) and has announced a
//   seal key, and that has not answered for this commitment on this link:
//   send PersonalDeliver with one envelope sealed to every audience member
//   that announced a seal key. The envelope is re-sealed when that set
//   changes (the audience widened, a seal key appeared or rotated).
//     HELD     settled for this link
//     LATER    the record has not reached the peer yet: offered again
//     REFUSED  settled for this link, logged and counted
//   No answer within kAnswerTimeoutMs: offered again.
//
// Recipient side, in this order, each refusal answered, logged with the
// delivering peer and the record's owner, and counted
// (conect_personal_envelopes_refused_total{reason}):
//   malformed (bytes, record id) | LATER when this node holds less of the
//   owner's log than the delivery's owner_seq, or the record is unknown here |
//   wrong_record (no personal data, other commitment or owner) | erased
//   (the commitment was erased: refused for good) | not_in_audience (the
//   signed record's audience leaves this node out) | envelope faults
//   (not_addressed, wrong_seal_key, tampered, commitment_mismatch).
//   Every envelope is opened and checked, even for data already held. Only a
//   plaintext whose BLAKE2b-256 is the commitment of the signed record is
//   stored (Store::put_blob); the answer is HELD, and the on_stored hook
//   names the record (the dashboard refetches it: no delta announced it).
//
// Metrics (docs/operations.md), every series registered at 0 at start:
//   owner side      conect_personal_envelopes_sent_total,
//                   conect_personal_envelopes_delivered_total (answered HELD),
//                   conect_personal_envelopes_refused_by_peer_total{reason}
//   recipient side  conect_personal_envelopes_opened_total (stored here),
//                   conect_personal_envelopes_refused_total{reason}
//   `reason` is one of kRefusalReasons; a peer's answer naming anything else
//   counts as "other" (a peer's words never become a label of their own).
//
// Nothing personal is ever logged or counted: logs carry record ids, node
// ids and reasons.
//
// Thread-safety: none; every call on the node strand.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <string_view>

#include "conect/crdt/envelope.h"
#include "connections.h"
#include "daemon_core.h"
#include "sync.pb.h"

namespace conect::node {

class Courier {
 public:
  // `seal`: every seal secret this node holds (its current key and the
  // retired ones it still keeps; crdt/seal.h), what deliveries open with.
  Courier(DaemonCore& core, Connections& connections, const SealKeyring& seal);

  void on_peer_up(const NodeId& peer);
  void on_peer_down(const NodeId& peer);
  // A SyncMessage whose case is personal_deliver or personal_answer.
  void on_message(const NodeId& peer, const v1::SyncMessage& message);
  // Offers every pending envelope to the linked peers that lack it.
  void sweep();
  // Called on the strand after personal data was opened, checked and stored.
  void set_on_stored(std::function<void(const RecordKey&)> hook) { on_stored_ = std::move(hook); }

  // Why a recipient refuses an envelope: the label values of the refusal
  // counters, in the order the recipient checks them.
  static constexpr std::array<const char*, 8> kRefusalReasons{"malformed",       "wrong_record",       "erased",
                                                              "not_in_audience", "not_addressed",      "wrong_seal_key",
                                                              "tampered",        "commitment_mismatch"};

  static constexpr std::uint64_t kAnswerTimeoutMs = 30'000;
  static constexpr std::size_t kMaxInFlightPerPeer = 64;

 private:
  struct Sealed {
    std::map<NodeId, SealPublicKey> recipients;  // members with a slot, and the key it was sealed to
    std::string bytes;
  };
  struct Link {
    std::set<Hash256> settled;                   // answered HELD or REFUSED
    std::map<Hash256, std::uint64_t> in_flight;  // sent at (core.now())
  };

  void on_deliver(const NodeId& peer, const v1::PersonalDeliver& d);
  void on_answer(const NodeId& peer, const v1::PersonalAnswer& a);
  void answer(const NodeId& peer, const std::string& commitment, v1::PersonalOutcome outcome,
              const std::string& reason = {});
  void refuse(const NodeId& peer, const std::string& commitment, const std::string& reason, const std::string& owner,
              const std::string& record, const std::string& detail);
  const Sealed* envelope_for(const RecordKey& key, const Hash256& commitment, const std::set<NodeId>& audience,
                             const std::map<NodeId, SealPublicKey>& seal_keys);

  DaemonCore& core_;
  Connections& connections_;
  const SealKeyring& seal_;
  std::map<NodeId, Link> links_;
  std::map<Hash256, Sealed> sealed_;  // owner side: the current envelope per commitment
  std::function<void(const RecordKey&)> on_stored_;
};

}  // namespace conect::node
