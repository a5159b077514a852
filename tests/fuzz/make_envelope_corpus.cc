// Writes the seed corpus of fuzz_envelope: valid envelopes sealed to the
// fuzz recipient (one, two and many slots; tiny and large content), one that
// opens but fails the commitment, and one sealed to another key. Run by hand:
//   conect_fuzz_envelope_corpus tests/fuzz/corpus/envelope
#include <filesystem>
#include <fstream>
#include <iostream>

#include "envelope_fuzz_keys.h"

using namespace conect;

namespace {

void write(const std::filesystem::path& dir, const std::string& name, const std::string& bytes) {
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string sealed(std::string_view plaintext, const Hash256& commitment, std::vector<SealTarget> audience) {
  auto r = seal_envelope(plaintext, commitment, fuzz::fuzz_owner_id(), audience);
  if (!r.ok()) throw std::runtime_error(r.error().message());
  return *r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || !crypto_init()) {
    std::cerr << "usage: conect_fuzz_envelope_corpus DIR\n";
    return 2;
  }
  std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const SealTarget me{fuzz::fuzz_recipient_id(), fuzz::fuzz_recipient_seal().public_key()};
  std::vector<SealTarget> many{me};
  for (std::uint8_t i = 0; i < 5; ++i) {
    NodeId id;
    id.bytes.fill(static_cast<std::uint8_t>(0x50 + i));
    many.push_back({id, SealKey::generate().public_key()});
  }
  const std::string small = std::string(16, 's') + R"({"name":"A"})";
  const std::string large = std::string(16, 's') + R"({"notes":")" + std::string(4000, 'n') + R"("})";
  write(dir, "one_slot", sealed(small, blake2b256(small), {me}));
  write(dir, "two_slots", sealed(small, blake2b256(small), {me, many[1]}));
  write(dir, "six_slots_large", sealed(large, blake2b256(large), many));
  write(dir, "commitment_mismatch", sealed(small, blake2b256("other"), {me}));
  write(dir, "other_key", sealed(small, blake2b256(small), {{me.member, SealKey::generate().public_key()}}));
  std::cout << "wrote 5 envelopes to " << dir << "\n";
  return 0;
}
