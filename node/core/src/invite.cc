// Invitations: minting, the printed line, the proof and the inviter's checks.
#include "conect/node/invite.h"

#include <sodium.h>

#include <charconv>

#include "conect/node/member_card.h"

namespace conect {
namespace {

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  randombytes_buf(out.data(), n);
  return out;
}

}  // namespace

NewInvite mint_invite(const FederationId& federation, const NodeId& inviter, const NodeId& signs_with,
                      const std::string& address, v1::MemberRole role, std::uint64_t now_ms,
                      std::uint64_t lifetime_ms) {
  NewInvite n;
  n.invite.set_federation(federation.raw());
  n.invite.set_inviter(inviter.raw());
  if (signs_with != inviter) n.invite.set_inviter_key(signs_with.raw());
  n.invite.set_address(address);
  n.invite.set_invite_id(random_bytes(16));
  n.invite.set_secret(random_bytes(32));
  n.invite.set_expires_ms(now_ms + lifetime_ms);
  n.invite.set_role(static_cast<std::uint32_t>(role));
  n.stored.set_secret_hash(blake2b256(n.invite.secret()).raw());
  n.stored.set_expires_ms(n.invite.expires_ms());
  n.stored.set_role(n.invite.role());
  n.stored.set_created_ms(now_ms);
  n.text = encode_invite(n.invite);
  return n;
}

NodeId invite_signing_key(const v1::Invite& invite) {
  const auto& key = invite.inviter_key().empty() ? invite.inviter() : invite.inviter_key();
  return *NodeId::from_raw(key);  // sizes checked by parse_invite
}

std::string encode_invite(const v1::Invite& invite) {
  return std::string(kInvitePrefix) + base64url_encode(invite.SerializeAsString());
}

Result<v1::Invite> parse_invite(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  if (text.substr(0, kInvitePrefix.size()) != kInvitePrefix)
    return Error(Errc::malformed_body, "not an invite: it must start with '" + std::string(kInvitePrefix) +
                                           "' (ask a member to run `conect-node invite`)");
  auto raw = base64url_decode(text.substr(kInvitePrefix.size()));
  v1::Invite invite;
  if (!raw || !invite.ParseFromString(*raw))
    return Error(Errc::malformed_body, "the invite is not valid base64url: was it cut or wrapped?");
  if (invite.federation().size() != 16 || invite.inviter().size() != 32 || invite.invite_id().size() != 16 ||
      invite.secret().size() != 32 || invite.address().empty() ||
      (!invite.inviter_key().empty() && invite.inviter_key().size() != 32))
    return Error(Errc::malformed_body, "the invite is damaged (a field has the wrong size); ask for a new one");
  if (!parse_role(role_name(static_cast<v1::MemberRole>(invite.role()))))
    return Error(Errc::malformed_body, "the invite names no role");
  return invite;
}

std::optional<std::uint64_t> parse_duration_ms(std::string_view text) {
  if (text.size() < 2) return std::nullopt;
  std::uint64_t unit = 0;
  switch (text.back()) {
    case 'd':
      unit = 24ull * 3600 * 1000;
      break;
    case 'h':
      unit = 3600ull * 1000;
      break;
    case 'm':
      unit = 60ull * 1000;
      break;
    case 's':
      unit = 1000;
      break;
    default:
      return std::nullopt;
  }
  std::uint64_t n = 0;
  auto digits = text.substr(0, text.size() - 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc() || end != digits.data() + digits.size() || n == 0 || n > 366ull * 24 * 3600)
    return std::nullopt;
  return n * unit;
}

std::string invite_proof(std::string_view key, std::string_view handshake_hash, const NodeId& joiner) {
  std::string message(kInviteProofLabel);
  message.append(handshake_hash);
  message += joiner.raw();
  unsigned char mac[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(message.data()), message.size());
  crypto_auth_hmacsha256_final(&st, mac);
  return std::string(reinterpret_cast<const char*>(mac), sizeof mac);
}

Result<v1::MemberCard> check_join(const v1::JoinRequest& request, const v1::StoredInvite* stored,
                                  const FederationId& federation, std::string_view handshake_hash, const NodeId& joiner,
                                  std::uint64_t now_ms) {
  if (!stored)
    return Error(Errc::not_found,
                 "this node issued no such invite (an invite works only at the member that printed it)");
  if (!stored->used_by().empty())
    return Error(Errc::already_exists, "the invite was used already (each invite admits one node); ask for a new one");
  if (now_ms >= stored->expires_ms())
    return Error(Errc::invalid_argument, "the invite expired; ask the member for a new one (`conect-node invite`)");
  std::string expected = invite_proof(stored->secret_hash(), handshake_hash, joiner);
  if (request.proof().size() != expected.size() ||
      sodium_memcmp(request.proof().data(), expected.data(), expected.size()) != 0)
    return Error(Errc::bad_signature, "the invite's proof does not hold: the invite was forged or altered");
  v1::MemberCard card;
  if (!card.ParseFromString(request.card())) return Error(Errc::malformed_body, "the joiner's card does not decode");
  auto info = parse_card_bytes(request.card());
  if (!info.ok()) return Error(info.error().code, "the joiner's card: " + info.error().detail);
  if (info->node_id != joiner) return Error(Errc::not_authorised, "the card is not the card of the node that joins");
  if (info->federation != federation) return Error(Errc::wrong_federation, "the card is of another federation");
  if (static_cast<std::uint32_t>(info->role) != stored->role())
    return Error(Errc::not_authorised, "the invite is for a " + role_name(static_cast<v1::MemberRole>(stored->role())) +
                                           ", the card says " + role_name(info->role));
  return card;
}

}  // namespace conect
