// What partners hand each other: member cards and invite lines (pasted by a
// person), and the join request a would-be member sends before it is known.
// Arbitrary bytes must be refused with a reason, never crash; what parses
// re-encodes to something that parses the same; and a join is admitted only
// with the proof the invite's secret gives for this session and this joiner.
#include <cstdint>
#include <string_view>

#include "fuzz_check.h"
#include "share_fuzz_world.h"

namespace {

using namespace conect;

bool same_card(const MemberInfo& a, const MemberInfo& b) {
  return a.node_id == b.node_id && a.federation == b.federation && a.name == b.name && a.country == b.country &&
         a.role == b.role && a.addresses == b.addresses && a.issued_ms == b.issued_ms;
}

void card_line(std::string_view text) {
  auto info = parse_card(text);
  if (!info.ok()) {
    FUZZ_CHECK(info.error().is(Errc::malformed_body) || info.error().is(Errc::bad_signature));
    return;
  }
  auto bytes = card_bytes(text);
  FUZZ_CHECK(bytes.ok());
  auto again = parse_card_bytes(*bytes);
  FUZZ_CHECK(again.ok() && same_card(*info, *again));
  auto reencoded = parse_card(std::string(kCardPrefix) + base64url_encode(*bytes));
  FUZZ_CHECK(reencoded.ok() && same_card(*info, *reencoded));
}

void invite_line(std::string_view text) {
  auto invite = parse_invite(text);
  if (!invite.ok()) {
    FUZZ_CHECK(invite.error().is(Errc::malformed_body));
    return;
  }
  FUZZ_CHECK(invite->federation().size() == 16 && invite->inviter().size() == 32);
  auto again = parse_invite(encode_invite(*invite));
  FUZZ_CHECK(again.ok() && again->SerializeAsString() == invite->SerializeAsString());
}

void join_request(std::string_view bytes) {
  v1::JoinRequest request;
  if (!request.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) return;
  static const KeyPair joiner = fuzz::share_joiner();
  static const v1::StoredInvite stored = fuzz::share_stored_invite();
  auto card = check_join(request, &stored, fuzz::share_federation(), fuzz::share_handshake_hash(), joiner.public_key(),
                         fuzz::kShareNowMs);
  if (!card.ok()) return;
  // Admitted: only with this session's proof for this joiner, and with the
  // joiner's own card of this federation and the invite's role.
  FUZZ_CHECK(request.proof() == invite_proof(stored.secret_hash(), fuzz::share_handshake_hash(), joiner.public_key()));
  auto info = parse_card_bytes(card->SerializeAsString());
  FUZZ_CHECK(info.ok() && info->node_id == joiner.public_key() && info->federation == fuzz::share_federation() &&
             info->role == v1::SCHOOL);
}

void stored_card(std::string_view bytes) {
  auto info = parse_card_bytes(bytes);
  if (!info.ok()) FUZZ_CHECK(info.error().is(Errc::malformed_body) || info.error().is(Errc::bad_signature));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool init = crypto_init();
  FUZZ_CHECK(init);
  if (size == 0) return 0;
  std::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (static_cast<fuzz::ShareInput>(data[0] % 5)) {
    case fuzz::ShareInput::card_line:
      card_line(rest);
      break;
    case fuzz::ShareInput::invite_line:
      invite_line(rest);
      break;
    case fuzz::ShareInput::join_request:
      join_request(rest);
      break;
    case fuzz::ShareInput::card_bytes:
      stored_card(rest);
      break;
    case fuzz::ShareInput::duration:
      (void)parse_duration_ms(rest);
      break;
  }
  return 0;
}
