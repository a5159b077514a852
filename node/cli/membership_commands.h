// The invite flow's building blocks, shared by `invite`, `init --join` and
// the demo (cmd_member.cc).
#pragma once

#include <string>

#include "commands.h"
#include "conect/node/node_files.h"
#include "handshake.pb.h"

namespace conect::cli {

// Mints an invite of `node` for `role`, dialled at `address`, and stores it;
// returns the printed line. Errors: not_authorised when the node is not an
// admitted member of the replicated roster (its admissions would not count).
Result<std::string> issue_invite(const NodeFiles& node, storage::Store& store, v1::MemberRole role,
                                 const std::string& address, std::uint64_t lifetime_ms);
// Creates the node in `dir` (as `init` with the invite's federation), runs the
// join exchange with the inviter and records what it needs to catch up (the
// inviter as a peer, the inviter's members to fetch from). A refusal removes
// what it created and says why.
Result<InitResult> join_node(const DataDir& dir, const InitOptions& o, const v1::Invite& invite);

}  // namespace conect::cli
