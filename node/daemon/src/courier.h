// The daemon's side of personal-data delivery (DESIGN §5, docs/privacy.md
// "Delivery"): the I/O adapter around the pure state machine
// conect::courier::Courier (node/courier), which makes every decision. This
// file reads the store for it (CourierView over storage::Store), carries out
// its actions (frames to peers, Store::put_blob) and turns its events into
// log lines and metrics.
//
// Metrics (docs/operations.md), every series registered at 0 at start:
//   owner side      conect_personal_envelopes_sent_total,
//                   conect_personal_envelopes_delivered_total (answered HELD),
//                   conect_personal_envelopes_refused_by_peer_total{reason}
//   recipient side  conect_personal_envelopes_opened_total (stored here),
//                   conect_personal_envelopes_refused_total{reason}
//   relay side      conect_personal_carry_sent_total (owner or relay handed
//                   an envelope on), conect_personal_carry_queued_total,
//                   conect_personal_carry_dropped_total{reason} (not taken or
//                   no longer kept), conect_personal_carry_refused_by_peer_total{reason},
//                   conect_personal_relay_queue_envelopes / _bytes (gauges)
//   recipient side  conect_personal_envelope_acks_total (EnvelopeAck operations
//                   authored in this node's log)
//   `reason` is one of courier::Courier::kRefusalReasons (kCarryReasons for
//   carry); a peer's answer naming anything else counts as "other".
//
// Nothing personal is ever logged or counted: logs carry record ids, node
// ids and reasons.
//
// Thread-safety: none; every call on the node strand.
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <vector>

#include "conect/courier/courier.h"
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
  ~Courier();

  void on_peer_up(const NodeId& peer);
  void on_peer_down(const NodeId& peer);
  // A SyncMessage for the courier (courier::Courier::is_courier_message).
  void on_message(const NodeId& peer, const v1::SyncMessage& message);
  // Offers every pending envelope to the linked peers that lack it.
  void sweep();
  // After a batch of peers' deltas committed: deliveries that overtook
  // their record's delta are opened now.
  void on_applied();
  // Called on the strand after personal data was opened, checked and stored.
  void set_on_stored(std::function<void(const RecordKey&)> hook) { on_stored_ = std::move(hook); }
  // How an EnvelopeAck operation is written to this node's log (the peer
  // manager's author(): the authoring gate, then the sync's push).
  using Author = std::function<Status(std::vector<v1::Operation>)>;
  void set_author(Author author) { author_ = std::move(author); }

 private:
  class StoreView;
  void drain();
  void report(const courier::Event& e);

  DaemonCore& core_;
  Connections& connections_;
  std::unique_ptr<StoreView> view_;
  courier::Courier machine_;
  std::function<void(const RecordKey&)> on_stored_;
  Author author_;
  api::Gauge& queue_envelopes_;
  api::Gauge& queue_bytes_;
  asio::steady_timer retry_;  // a sweep brought forward after a LATER answer
  bool retry_armed_ = false;
};

}  // namespace conect::node
