// Writes the seed corpus of fuzz_share_lines: a valid card line and its
// bytes, a valid invite line, an admitted join request and refused ones (a
// proof for another session, a card of another role), and durations. Run by
// hand:
//   conect_fuzz_share_corpus tests/fuzz/corpus/share
#include <filesystem>
#include <fstream>
#include <iostream>

#include "share_fuzz_world.h"

using namespace conect;

namespace {

void write(const std::filesystem::path& dir, const std::string& name, fuzz::ShareInput kind, const std::string& bytes) {
  std::ofstream(dir / name, std::ios::binary) << static_cast<char>(kind) << bytes;
}

std::string card(v1::MemberRole role) {
  const KeyPair joiner = fuzz::share_joiner();
  MemberInfo info{joiner.public_key(),
                  fuzz::share_federation(),
                  "Luleå tekniska gymnasium",
                  "SE",
                  role,
                  {"ws://192.0.2.7:7700/sync"},
                  1};
  return make_card(joiner, info);
}

std::string join(const std::string& card_line, const std::string& handshake_hash) {
  v1::JoinRequest r;
  r.set_invite_id(std::string(16, 'i'));
  r.set_proof(invite_proof(blake2b256(fuzz::share_secret()).raw(), handshake_hash, fuzz::share_joiner().public_key()));
  r.set_card(*card_bytes(card_line));
  return r.SerializeAsString();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || !crypto_init()) {
    std::cerr << "usage: conect_fuzz_share_corpus DIR\n";
    return 2;
  }
  std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const std::string school = card(v1::SCHOOL);
  write(dir, "card_line", fuzz::ShareInput::card_line, school);
  write(dir, "card_bytes", fuzz::ShareInput::card_bytes, *card_bytes(school));
  v1::Invite invite;
  invite.set_federation(fuzz::share_federation().raw());
  invite.set_inviter(fuzz::share_key(0x11).public_key().raw());
  invite.set_address("ws://192.0.2.1:7700/sync");
  invite.set_invite_id(std::string(16, 'i'));
  invite.set_secret(fuzz::share_secret());
  invite.set_expires_ms(5000);
  invite.set_role(v1::SCHOOL);
  write(dir, "invite_line", fuzz::ShareInput::invite_line, encode_invite(invite));
  write(dir, "join_admitted", fuzz::ShareInput::join_request, join(school, fuzz::share_handshake_hash()));
  write(dir, "join_other_session", fuzz::ShareInput::join_request, join(school, std::string(32, 'x')));
  write(dir, "join_company_card", fuzz::ShareInput::join_request,
        join(card(v1::COMPANY), fuzz::share_handshake_hash()));
  write(dir, "duration_days", fuzz::ShareInput::duration, "7d");
  write(dir, "duration_bad", fuzz::ShareInput::duration, "99999999999999999999d");
  std::cout << "wrote 8 inputs to " << dir << "\n";
  return 0;
}
