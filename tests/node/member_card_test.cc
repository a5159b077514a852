#include "conect/node/member_card.h"

#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>

namespace conect {
namespace {

MemberInfo info_for(const KeyPair& key) {
  MemberInfo info;
  info.node_id = key.public_key();
  info.federation = *FederationId::from_hex("00112233445566778899aabbccddeeff");
  info.name = "Lapin ammattiopisto";
  info.country = "FI";
  info.role = v1::SCHOOL;
  info.addresses = {"ws://127.0.0.1:7700/sync"};
  info.issued_ms = 1'780'000'000'000;
  return info;
}

TEST(MemberCard, RoundTripsAndIsOneLine) {
  ASSERT_TRUE(crypto_init());
  KeyPair key = KeyPair::generate();
  std::string card = make_card(key, info_for(key));
  EXPECT_EQ(card.rfind("conect-card:", 0), 0u);
  EXPECT_EQ(card.find('\n'), std::string::npos);
  auto parsed = parse_card(card + "\n");  // a trailing newline from a file is fine
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->node_id, key.public_key());
  EXPECT_EQ(parsed->name, "Lapin ammattiopisto");
  EXPECT_EQ(parsed->country, "FI");
  EXPECT_EQ(parsed->role, v1::SCHOOL);
  EXPECT_EQ(parsed->addresses, std::vector<std::string>{"ws://127.0.0.1:7700/sync"});
}

TEST(MemberCard, EveryMistypedCharacterIsCaught) {
  KeyPair key = KeyPair::generate();
  std::string card = make_card(key, info_for(key));
  for (std::size_t i = std::string("conect-card:").size(); i < card.size(); ++i) {
    std::string typo = card;
    typo[i] = typo[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(parse_card(typo).ok()) << "typo at " << i << " accepted";
  }
}

TEST(MemberCard, SignatureFromAnotherKeyIsRefused) {
  KeyPair key = KeyPair::generate();
  KeyPair thief = KeyPair::generate();
  // A card naming `key` but signed by `thief`: rebuild by hand.
  MemberInfo info = info_for(key);
  v1::MemberCardBody body;
  body.set_federation(info.federation.raw());
  body.set_node_id(key.public_key().raw());
  body.set_name(info.name);
  body.set_country(info.country);
  body.set_role(info.role);
  v1::MemberCard card;
  body.SerializeToString(card.mutable_body());
  card.set_signature(thief.sign(SigningDomain::member_card, card.body()).raw());
  auto parsed = parse_card(std::string(kCardPrefix) + base64url_encode(card.SerializeAsString()));
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.error().is(Errc::bad_signature));
}

// An unknown field in the wrapper is not covered by the signature: a card
// padded with one still verifies, but what the roster keeps is exactly the
// signed body and its signature.
TEST(MemberCard, UnsignedPaddingInTheWrapperIsDropped) {
  ASSERT_TRUE(crypto_init());
  KeyPair key = KeyPair::generate();
  auto clean = card_bytes(make_card(key, info_for(key)));
  ASSERT_TRUE(clean.ok());
  v1::MemberCard padded;
  ASSERT_TRUE(padded.ParseFromString(*clean));
  padded.GetReflection()->MutableUnknownFields(&padded)->AddLengthDelimited(15, std::string(100'000, 'x'));
  auto kept = card_bytes(std::string(kCardPrefix) + base64url_encode(padded.SerializeAsString()));
  ASSERT_TRUE(kept.ok()) << kept.error().message();
  EXPECT_EQ(*kept, *clean);
  EXPECT_TRUE(parse_card_bytes(*kept).ok());
}

TEST(MemberCard, NotACardSaysHowToGetOne) {
  auto parsed = parse_card("hello");
  ASSERT_FALSE(parsed.ok());
  EXPECT_TRUE(parsed.error().is(Errc::malformed_body));
  EXPECT_NE(parsed.error().detail.find("conect-node card"), std::string::npos);
}

TEST(MemberCard, BadCountryRefused) {
  KeyPair key = KeyPair::generate();
  MemberInfo info = info_for(key);
  info.country = "XX";
  EXPECT_FALSE(parse_card(make_card(key, info)).ok());
  EXPECT_TRUE(is_country_code("NO"));
  EXPECT_TRUE(is_country_code("RU"));
  EXPECT_FALSE(is_country_code("no"));
}

}  // namespace
}  // namespace conect
