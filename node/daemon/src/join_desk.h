// The inviter's side of the join exchange (docs/handshake.md section 8;
// DESIGN §2 Invitations): checks a JoinRequest against the invites this
// node issued and, when it holds, authors Admit{card} and consumes the
// invite in the same transaction. Its answer (a JoinResponse) says why a
// join was refused in plain words; every refusal is counted
// (conect_join_refused_total{reason}).
//
// Runs on the node strand. The write blocks on fsync; joins are rare.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "author_gate.h"
#include "daemon_core.h"

namespace conect::node {

class JoinDesk {
 public:
  JoinDesk(DaemonCore& core, AuthorGate& gate) : core_(core), gate_(gate) {}

  // Called with each delta the desk authored (to push it to peers).
  void set_on_authored(std::function<void(const VerifiedDelta&)> hook) { on_authored_ = std::move(hook); }
  // True while this node has an invite that is unused and not expired, or
  // used or expired less than a week ago (to say so to whoever tries it).
  bool open() const;
  // Serialised JoinResponse for a serialised JoinRequest.
  std::string answer(std::string_view request, std::string_view handshake_hash, const NodeId& joiner);

 private:
  std::string refuse(const Error& e, const NodeId& joiner);
  // Why `joiner` is refused when it is a pending member (admitted by fewer
  // than the quorum) that dialled this node for sync, not to join: nullopt
  // for anyone else.
  std::optional<Error> pending(const NodeId& joiner) const;

  DaemonCore& core_;
  AuthorGate& gate_;
  std::function<void(const VerifiedDelta&)> on_authored_;
};

}  // namespace conect::node
