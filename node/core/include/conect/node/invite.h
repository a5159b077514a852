// Invitations (DESIGN §2, docs/handshake.md section 8): the one-line invite
// `conect-node invite` prints, the proof a joiner gives inside the Noise
// channel, and the inviter's checks. Pure: no store, no sockets, no clock
// (the caller passes the time).
//
//   conect-invite:<base64url, no padding, of v1::Invite>
//
// The invite carries a 32-byte secret that never travels on the wire: the
// joiner proves it holds it with
//
//   proof = HMAC-SHA256(key = BLAKE2b-256(secret),
//                       "conect/invite/v1" || handshake_hash || joiner_id)
//
// bound to the Noise session (its handshake hash) and to the joiner's member
// id, so a proof seen once is worth nothing on another connection or for
// another id. The inviter keeps only BLAKE2b-256(secret) (so the invite line
// itself never sits on its disk).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "conect/crdt/error.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/types.h"
#include "delta.pb.h"
#include "handshake.pb.h"

namespace conect {

inline constexpr std::string_view kInvitePrefix = "conect-invite:";
inline constexpr std::string_view kInviteProofLabel = "conect/invite/v1";
inline constexpr std::uint64_t kDefaultInviteLifetimeMs = 7ull * 24 * 3600 * 1000;

struct NewInvite {
  v1::Invite invite;        // what the joiner gets (printed)
  v1::StoredInvite stored;  // what the inviter keeps
  std::string text;         // the printed line
};

// Mints an invite: random id and secret. `signs_with` is the inviter's
// current key (its member id until it rotates).
NewInvite mint_invite(const FederationId& federation, const NodeId& inviter, const NodeId& signs_with,
                      const std::string& address, v1::MemberRole role, std::uint64_t now_ms, std::uint64_t lifetime_ms);
// The key the inviter's Noise binding is signed with (of a parsed invite).
NodeId invite_signing_key(const v1::Invite& invite);
std::string encode_invite(const v1::Invite& invite);
// Errors: malformed_body (not an invite, bad base64, wrong field sizes).
Result<v1::Invite> parse_invite(std::string_view text);

// "7d", "12h", "30m", "90s": a duration in milliseconds; nullopt otherwise.
std::optional<std::uint64_t> parse_duration_ms(std::string_view text);

// `key` is BLAKE2b-256(secret) (raw 32 bytes).
std::string invite_proof(std::string_view key, std::string_view handshake_hash, const NodeId& joiner);

// The inviter's check of a join request (before it admits): the invite
// exists and is unused (else not_found / already_exists), not expired at
// now_ms (invalid_argument), the proof holds for this session and joiner
// (bad_signature), the card is the joiner's own, self-signed, of this
// federation (bad_signature, wrong_federation, not_authorised) and carries
// the invite's role (not_authorised). Returns the joiner's card.
Result<v1::MemberCard> check_join(const v1::JoinRequest& request, const v1::StoredInvite* stored,
                                  const FederationId& federation, std::string_view handshake_hash, const NodeId& joiner,
                                  std::uint64_t now_ms);

}  // namespace conect
