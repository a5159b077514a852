// Whether this node may author now, and authoring itself: the daemon's
// authoring policy in one place (DESIGN §2 roles, §10 restore).
//
//   - An auditor authors nothing.
//   - A fenced store authors nothing until a connected peer has shown this
//     node its own chain and the node has fetched it back up to the true
//     head; otherwise it would reuse sequence numbers it already published
//     and equivocate against itself, freezing its own chain for good. The
//     fence is set by `restore` (cause "restore"), and here as soon as a peer
//     shows our own chain ahead of the store (cause "rollback": the data
//     directory was rolled back by a VM snapshot or copied files). It is kept
//     in the store, so a restart keeps it; Store::author refuses while it is
//     there, whatever calls it.
//
// The one window no node can close alone: a rolled-back node that authors
// before any peer has shown it its chain reuses a sequence number; its peers
// then hold evidence and its chain is frozen (docs/security.md).
//
// Thread-safety: author() from any thread (the API's). on_own_chain_behind()
// on the node strand, called after the PeerBoard was told our chain is not
// caught up, so a write never finds the fence set and a stale "caught up".
#pragma once

#include <atomic>
#include <mutex>
#include <optional>

#include "conect/crdt/delta.h"
#include "daemon_core.h"
#include "peer_board.h"

namespace conect::node {

class AuthorGate {
 public:
  AuthorGate(DaemonCore& core, PeerBoard& board) : core_(core), board_(board) {}

  // Signs and commits `draft` as this node's next delta, or says in plain
  // words why not (not_authorised) and what lifts the refusal.
  Result<VerifiedDelta> author(DeltaDraft draft);
  // The same with what else the delta's transaction does (consume an invite).
  Result<VerifiedDelta> author(DeltaDraft draft, const storage::Store::AuthorOptions& options);
  // A peer holds more of our own chain than the store: fence.
  void on_own_chain_behind();
  // A peer showed our whole own chain and we hold it: lift a fence now (the
  // operator waits for `author_fence_lifted` in the log and in `status`,
  // not for a write to be tried).
  void on_own_chain_caught_up();

 private:
  std::optional<Error> fenced();

  DaemonCore& core_;
  PeerBoard& board_;
  std::mutex mu_;  // a fence being set vs. one being lifted
  // Set at once; the store's fence follows in its own transaction.
  std::atomic<bool> behind_{false};
};

}  // namespace conect::node
