// Envelopes arrive from peers (PersonalDeliver): arbitrary bytes must parse
// or be refused with a reason, never crash; what parses re-serialises to the
// same bytes (one way to write an envelope); opening never yields a plaintext
// whose BLAKE2b-256 is not the commitment asked for.
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <variant>

#include "envelope_fuzz_keys.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace conect;
  static const bool init = crypto_init();
  FUZZ_CHECK(init);
  static const SealKey seal = fuzz::fuzz_recipient_seal();
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_envelope(bytes);
  if (std::holds_alternative<EnvelopeError>(parsed)) {
    FUZZ_CHECK(std::get<EnvelopeError>(parsed).fault == EnvelopeFault::malformed);
    return 0;
  }
  const Envelope& e = std::get<Envelope>(parsed);
  FUZZ_CHECK(serialize_envelope(e) == bytes);
  // Open as the fixed recipient, expecting what the envelope claims (the
  // worst case: a record that agrees with the header).
  auto opened = open_envelope(e, fuzz::fuzz_recipient_id(), seal, e.commitment, e.owner);
  if (auto* plain = std::get_if<std::string>(&opened)) FUZZ_CHECK(blake2b256(*plain) == e.commitment);
  return 0;
}
