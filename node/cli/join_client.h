// The joiner's side of the join exchange (docs/handshake.md section 8): dials
// the inviter, runs the Noise XX handshake expecting the inviter's id, sends
// one JoinRequest proving the invite's secret inside the channel, and reads
// the inviter's JoinResponse. Blocking, with one deadline for the whole
// exchange; used by `conect-node init --join`.
#pragma once

#include <chrono>
#include <string>

#include "conect/crdt/error.h"
#include "conect/crdt/identity.h"
#include "conect/net/peer_identity.h"
#include "handshake.pb.h"

namespace conect::cli {

struct JoinAttempt {
  v1::Invite invite;
  const KeyPair* key = nullptr;
  const net::NoiseStaticKey* noise = nullptr;
  std::string card;  // serialised MemberCard of the joiner
  std::chrono::milliseconds timeout{15000};
};

// Errors: io_error (cannot reach the inviter), the handshake's errors, or
// protocol_error; a refusal by the inviter is a JoinResponse, not an error.
Result<v1::JoinResponse> run_join(const JoinAttempt& attempt);

}  // namespace conect::cli
