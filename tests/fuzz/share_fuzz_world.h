// The fixed inviter, invite and joiner the share-line fuzz target checks
// against, shared with the corpus generator so that its seeds reach the
// proof and card checks (a random key would make every seed stale).
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "conect/node/invite.h"
#include "conect/node/member_card.h"

namespace conect::fuzz {

inline KeyPair share_key(std::uint8_t fill) {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(fill);
  return KeyPair::from_seed(seed);
}
inline KeyPair share_joiner() { return share_key(0x21); }
inline FederationId share_federation() { return *FederationId::from_hex("00112233445566778899aabbccddeeff"); }
inline std::string share_secret() { return std::string(32, 's'); }
inline std::string share_handshake_hash() { return std::string(32, 'h'); }
inline constexpr std::uint64_t kShareNowMs = 2000;

inline v1::StoredInvite share_stored_invite() {
  v1::StoredInvite stored;
  stored.set_secret_hash(blake2b256(share_secret()).raw());
  stored.set_expires_ms(5000);
  stored.set_role(v1::SCHOOL);
  stored.set_created_ms(1000);
  return stored;
}

// The first input byte picks what the rest is.
enum class ShareInput : std::uint8_t {
  card_line = 0,     // `conect-card:...` (member add, peer add)
  invite_line = 1,   // `conect-invite:...` (init --join)
  join_request = 2,  // a joiner's JoinRequest, the first frame of a join connection
  card_bytes = 3,    // a MemberCard as the roster stores it and a JoinRequest carries it
  duration = 4,      // `invite --expires 7d`
};

}  // namespace conect::fuzz
