// The peer manager: wires WebSocket links, the Noise handshake and the sync
// engine together (DESIGN §7). It is the only place where the pure sync state
// machine meets sockets, timers and the store.
//
//   WsLink (own strand) --frame--> [node strand] session: handshake, then
//   SecureChannel::open --> SyncEngine::on_message_bytes --> poll() actions:
//     Send         --> SecureChannel::seal --> WsLink::send
//     ApplyBatch   --> writer thread: Store::apply --> on_batch_applied
//     StoreEvidence--> writer thread: Store::add_equivocation
//     Disconnect   --> close the session's link
//     ArmTimer     --> one steady_timer on the node strand
//
// Threading: every piece of session and engine state lives on one strand
// (the "node strand"); links post their frames onto it. Applying batches
// blocks on fsync, so it runs on a writer thread of its own and posts the
// outcome back. Public methods may be called from any thread.
//
// Links: nodes dial the peers they are configured with (`peer add`,
// node.toml) and accept anyone who completes the handshake and is on the
// roster. When two nodes dial each other, both keep the link dialled by the
// smaller node id, so exactly one link per pair survives. Lost links are
// redialled with exponential backoff and full jitter.
//
// Inside (src/), one responsibility per file, as Bitcoin Core splits
// CConnman from PeerManager: connections.cc (links, dialling, admission,
// handshakes, tie-breaks), sync_driver.cc (the engine and its actions),
// apply_writer.cc (the writer thread), peer_board.cc (status),
// sync_monitor.cc (lag, catch-up progress, gauges), admission.cc
// (who may connect before authenticating), author_gate.cc (who may author).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "conect/api/server.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/seal.h"
#include "conect/node/node_files.h"
#include "conect/node/ws_link.h"

namespace conect::api {
class Metrics;
class ProgressBoard;
}  // namespace conect::api

namespace conect::node {

class PeerManager {
 public:
  // `seal` is the node's seal key (DIR/seal.key): the peer manager announces
  // its public half in the node's log until the store holds that
  // announcement, and opens the personal data delivered to this node.
  PeerManager(boost::asio::io_context& io, const NodeFiles& node, storage::Store& store, api::Metrics& metrics,
              std::array<std::uint8_t, 32> noise_private_key, const SealKey& seal,
              api::ProgressBoard* progress = nullptr);
  ~PeerManager();
  PeerManager(const PeerManager&) = delete;
  PeerManager& operator=(const PeerManager&) = delete;

  // Loads the roster and peers, starts the engine's timer and the dialers.
  Status start();
  // Hands over an accepted TCP connection (from the peer listener).
  void accept(boost::asio::ip::tcp::socket socket);
  // Signs and commits `draft` as this node's next delta and pushes it to
  // peers, or refuses (not_authorised, with the reason in plain words): an
  // auditor authors nothing, and a store restored from a backup or found
  // behind its own chain (a rolled-back data directory) authors nothing until
  // it has fetched that chain back from a connected peer (DESIGN §10). Any
  // thread.
  Result<VerifiedDelta> author(DeltaDraft draft);
  // Generates a new identity key, writes Rotate{new key} signed by the
  // current one, and signs with the new key from then on (docs/membership.md).
  Result<VerifiedDelta> rotate_key();
  // Closes every link (sending TAG_FINAL) and stops dialling; `done` runs
  // once the writer thread has finished its current transaction.
  void stop(std::function<void()> done);

  // Snapshot for GET /api/v1/status; safe from any thread.
  std::vector<api::PeerStatus> peer_status() const;

  // Called (on the node's strand) after personal data delivered to this
  // node was opened, checked and stored: no delta announces that, so the
  // daemon tells the dashboard's event stream. Set before start().
  void set_on_personal_data(std::function<void(const RecordKey&)> hook);

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace conect::node
