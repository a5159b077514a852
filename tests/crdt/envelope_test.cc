// Envelopes (DESIGN §5, docs/privacy.md): sealing to an audience, the
// layout parser, and every way an envelope is refused.
#include <gtest/gtest.h>

#include <variant>

#include "conect/crdt/envelope.h"

namespace conect {
namespace {

struct Member {
  KeyPair identity = KeyPair::generate();
  SealKey seal = SealKey::generate();
  NodeId id() const { return identity.public_key(); }
  SealTarget target() const { return {id(), seal.public_key()}; }
};

std::string personal(std::string_view content) { return std::string(16, 's') + std::string(content); }

class EnvelopeTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto_init()); }
  Member owner, host, outsider;
  std::string plaintext = personal(R"({"name":"Aino Example"})");
  Hash256 commitment = blake2b256(plaintext);

  std::string sealed() {
    SealTarget audience[] = {owner.target(), host.target()};
    auto bytes = seal_envelope(plaintext, commitment, owner.id(), audience);
    EXPECT_TRUE(bytes.ok());
    return *bytes;
  }
  static Envelope parsed(std::string_view bytes) {
    auto p = parse_envelope(bytes);
    EXPECT_TRUE(std::holds_alternative<Envelope>(p)) << std::get<EnvelopeError>(p).detail;
    return std::get<Envelope>(p);
  }
  std::variant<std::string, EnvelopeError> open_as(const Member& m, const Envelope& e) {
    return open_envelope(e, m.id(), m.seal, commitment, owner.id());
  }
  static EnvelopeFault fault_of(const std::variant<std::string, EnvelopeError>& r) {
    EXPECT_TRUE(std::holds_alternative<EnvelopeError>(r)) << "opened, but should have been refused";
    return std::holds_alternative<EnvelopeError>(r) ? std::get<EnvelopeError>(r).fault : EnvelopeFault::malformed;
  }
};

TEST_F(EnvelopeTest, EveryAudienceMemberOpensTheSamePlaintext) {
  Envelope e = parsed(sealed());
  EXPECT_EQ(e.slots.size(), 2u);
  for (const Member* m : {&owner, &host}) {
    auto r = open_as(*m, e);
    ASSERT_TRUE(std::holds_alternative<std::string>(r)) << std::get<EnvelopeError>(r).detail;
    EXPECT_EQ(std::get<std::string>(r), plaintext);
  }
}

TEST_F(EnvelopeTest, TheClearDataAppearsNowhereInTheBytes) {
  std::string bytes = sealed();
  EXPECT_EQ(bytes.find("Aino"), std::string::npos);
}

TEST_F(EnvelopeTest, SerialiseAndParseRoundTrip) {
  std::string bytes = sealed();
  EXPECT_EQ(serialize_envelope(parsed(bytes)), bytes);
  EXPECT_EQ(bytes.size(), envelope::kHeaderBytes + envelope::kNonceBytes + 1 + 2 * envelope::kSlotBytes + 4 +
                              plaintext.size() + envelope::kTagBytes);
}

TEST_F(EnvelopeTest, AMemberOutsideTheAudienceHasNoSlot) {
  EXPECT_EQ(fault_of(open_as(outsider, parsed(sealed()))), EnvelopeFault::not_addressed);
}

TEST_F(EnvelopeTest, ASlotSealedToAnotherKeyDoesNotOpen) {
  SealTarget audience[] = {owner.target(), {host.id(), outsider.seal.public_key()}};
  auto bytes = seal_envelope(plaintext, commitment, owner.id(), audience);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(fault_of(open_as(host, parsed(*bytes))), EnvelopeFault::wrong_seal_key);
}

TEST_F(EnvelopeTest, AFlippedCiphertextBitIsTampering) {
  Envelope e = parsed(sealed());
  e.ciphertext[3] ^= 0x01;
  EXPECT_EQ(fault_of(open_as(host, e)), EnvelopeFault::tampered);
}

TEST_F(EnvelopeTest, AnAlteredHeaderIsTamperingOrAnotherRecord) {
  Envelope e = parsed(sealed());
  e.owner = outsider.id();
  EXPECT_EQ(fault_of(open_as(host, e)), EnvelopeFault::wrong_record);
  // The header is the AEAD's associated data: with the record agreeing to
  // the altered header (a forger who also controls the expectation), the
  // ciphertext still fails.
  auto r = open_envelope(e, host.id(), host.seal, commitment, outsider.id());
  EXPECT_EQ(fault_of(r), EnvelopeFault::tampered);
}

// The attack the commitment check exists for: crypto_box_seal is anonymous,
// so anybody who knows the host's public seal key (everyone: it is in the
// log) can seal other content under the owner's header. It opens; only the
// commitment from the signed record refuses it.
TEST_F(EnvelopeTest, AForgedEnvelopeThatOpensIsRefusedByTheCommitment) {
  std::string forged_plaintext = personal(R"({"name":"Someone Else"})");
  SealTarget audience[] = {host.target()};
  auto forged = seal_envelope(forged_plaintext, commitment, owner.id(), audience);
  ASSERT_TRUE(forged.ok());
  EXPECT_EQ(fault_of(open_as(host, parsed(*forged))), EnvelopeFault::commitment_mismatch);
}

TEST_F(EnvelopeTest, SealRefusesEmptyOrOversizedInput) {
  SealTarget audience[] = {host.target()};
  EXPECT_FALSE(seal_envelope("", commitment, owner.id(), audience).ok());
  EXPECT_FALSE(seal_envelope(std::string(envelope::kMaxPlaintext + 1, 'x'), commitment, owner.id(), audience).ok());
  EXPECT_FALSE(seal_envelope(plaintext, commitment, owner.id(), {}).ok());
}

TEST_F(EnvelopeTest, DuplicateAudienceMembersGetOneSlot) {
  SealTarget audience[] = {host.target(), host.target(), owner.target()};
  auto bytes = seal_envelope(plaintext, commitment, owner.id(), audience);
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(parsed(*bytes).slots.size(), 2u);
}

TEST_F(EnvelopeTest, EveryTruncationAndAnyTrailingByteIsMalformed) {
  std::string bytes = sealed();
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    auto p = parse_envelope(std::string_view(bytes).substr(0, n));
    ASSERT_TRUE(std::holds_alternative<EnvelopeError>(p)) << "a prefix of " << n << " bytes parsed";
    EXPECT_EQ(std::get<EnvelopeError>(p).fault, EnvelopeFault::malformed);
  }
  EXPECT_TRUE(std::holds_alternative<EnvelopeError>(parse_envelope(bytes + "x")));
}

TEST_F(EnvelopeTest, SlotsOutOfOrderOrRepeatedAreMalformed) {
  Envelope e = parsed(sealed());
  std::swap(e.slots[0], e.slots[1]);
  EXPECT_TRUE(std::holds_alternative<EnvelopeError>(parse_envelope(serialize_envelope(e))));
  e.slots[0] = e.slots[1];
  EXPECT_TRUE(std::holds_alternative<EnvelopeError>(parse_envelope(serialize_envelope(e))));
  e.slots.clear();
  EXPECT_TRUE(std::holds_alternative<EnvelopeError>(parse_envelope(serialize_envelope(e))));
}

TEST_F(EnvelopeTest, WrongMagicIsMalformed) {
  std::string bytes = sealed();
  bytes[3] = '2';
  auto p = parse_envelope(bytes);
  ASSERT_TRUE(std::holds_alternative<EnvelopeError>(p));
  EXPECT_EQ(std::get<EnvelopeError>(p).fault, EnvelopeFault::malformed);
}

}  // namespace
}  // namespace conect
