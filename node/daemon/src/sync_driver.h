// The sync side (the PeerManager half of Bitcoin Core's split): one
// SyncEngine over the store, driven on the node strand. Every input is
// followed by drain(), which carries the engine's actions out:
//
//   Send          --> Connections::send (sealed, queued on the link)
//   ApplyBatch    --> ApplyWriter (one transaction, in order) --> on_batch_applied
//   StoreEvidence --> ApplyWriter --> Store::add_equivocation
//   Disconnect    --> counted, logged, Connections::disconnect
//   ArmTimer      --> the one engine timer
//   Event         --> one log line and conect_sync_events_total{kind}
//
// and publishes whether our own chain is caught up (PeerBoard) and the
// engine's counters (conect_sync_*_total).
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <vector>

#include "apply_writer.h"
#include "conect/node/store_view.h"
#include "conect/sync/engine.h"
#include "connections.h"

namespace conect::node {

class SyncDriver final : public PeerEvents {
 public:
  SyncDriver(DaemonCore& core, PeerBoard& board, Connections& connections, ApplyWriter& writer);

  void start(const std::set<NodeId>& roster, std::uint64_t seed);
  void set_roster(const std::set<NodeId>& roster);
  // The replicated roster the engine checks signatures against (each delta
  // under the key its origin held at its seq).
  void set_replicated_roster(std::shared_ptr<const ReplicatedRoster> roster) {
    verifier_.set_roster(std::move(roster));
  }
  // Deltas committed outside an ApplyBatch (authored here).
  void on_local_commit(const std::vector<VerifiedDelta>& deltas);
  // Runs after every ApplyBatch reported done (the stop sequence waits on it).
  void set_on_applied(std::function<void()> hook) { on_applied_ = std::move(hook); }
  // Runs when a peer shows our own chain ahead of the store (the author
  // fence), after the PeerBoard was told we are not caught up.
  void set_on_own_chain_behind(std::function<void()> hook) { on_own_chain_behind_ = std::move(hook); }
  // Runs when a peer has shown our whole own chain and we hold it (lifts the
  // author fence at once, not at the next write).
  void set_on_own_chain_caught_up(std::function<void()> hook) { on_own_chain_caught_up_ = std::move(hook); }
  void stop();

  void on_peer_up(const NodeId& peer, bool dialled) override;
  void on_peer_message(const NodeId& peer, std::string_view plaintext) override;
  void on_peer_down(const NodeId& peer) override;

  // Carries out every pending action of the engine.
  void drain();
  // The engine's catch-up figures (nullopt before start()).
  std::optional<sync::SyncProgress> progress() const;

 private:
  void arm_timer(std::uint64_t when);
  void export_stats();
  void handle(sync::SendAction& a);
  void handle(sync::ApplyBatchAction& a);
  void handle(sync::StoreEvidenceAction& a);
  void handle(sync::DisconnectAction& a);
  void handle(sync::ArmTimerAction& a);
  void handle(sync::EventAction& a);

  DaemonCore& core_;
  PeerBoard& board_;
  Connections& connections_;
  ApplyWriter& writer_;
  StoreSyncView view_;
  sync::RosterVerifier verifier_;
  std::unique_ptr<sync::SyncEngine> engine_;
  asio::steady_timer timer_;
  std::function<void()> on_applied_;
  std::function<void()> on_own_chain_behind_;
  std::function<void()> on_own_chain_caught_up_;
  std::vector<std::pair<api::Counter*, std::uint64_t>> exported_;  // per kStats entry: counter, last value
  api::Counter* bad_signature_refusals_ = nullptr;                 // pushes_bad_signature, in the refusals family
  std::uint64_t bad_signature_exported_ = 0;
};

}  // namespace conect::node
