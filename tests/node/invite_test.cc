// Invitations (conect/node/invite.h): the printed line round-trips, and the
// inviter's check refuses every bad join with its own rule and a message.
#include <gtest/gtest.h>

#include "conect/node/invite.h"
#include "conect/node/member_card.h"

namespace conect {
namespace {

struct JoinSetup {
  KeyPair inviter = KeyPair::generate();
  KeyPair joiner = KeyPair::generate();
  FederationId federation = *FederationId::from_hex("00112233445566778899aabbccddeeff");
  NewInvite made = mint_invite(federation, inviter.public_key(), inviter.public_key(), "ws://127.0.0.1:7700/sync",
                               v1::SCHOOL, 1000, 5000);
  std::string hh = std::string(32, 'h');

  std::string card(v1::MemberRole role = v1::SCHOOL) {
    MemberInfo info{joiner.public_key(), federation, "Luleå", "SE", role, {}, 1};
    return *card_bytes(make_card(joiner, info));
  }
  v1::JoinRequest request(const std::string& card_bytes) {
    v1::JoinRequest r;
    r.set_invite_id(made.invite.invite_id());
    r.set_proof(invite_proof(blake2b256(made.invite.secret()).raw(), hh, joiner.public_key()));
    r.set_card(card_bytes);
    return r;
  }
};

TEST(Invite, TheLineRoundTrips) {
  ASSERT_TRUE(crypto_init());
  JoinSetup s;
  auto parsed = parse_invite(s.made.text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->SerializeAsString(), s.made.invite.SerializeAsString());
  EXPECT_TRUE(parse_invite("conect-card:abc").error().is(Errc::malformed_body));
  EXPECT_TRUE(parse_invite(s.made.text.substr(0, 40)).error().is(Errc::malformed_body));
  EXPECT_EQ(parse_duration_ms("7d"), 7ull * 24 * 3600 * 1000);
  EXPECT_FALSE(parse_duration_ms("7"));
  EXPECT_FALSE(parse_duration_ms("-1d"));
}

// After `key rotate` the inviter's Noise binding is signed with its new
// key: the invite names that key (and only then), or every joiner took the
// binding for a man in the middle.
TEST(Invite, ARotatedInvitersInviteNamesTheKeyItSignsWith) {
  ASSERT_TRUE(crypto_init());
  JoinSetup s;
  EXPECT_TRUE(s.made.invite.inviter_key().empty());
  EXPECT_EQ(invite_signing_key(*parse_invite(s.made.text)), s.inviter.public_key());
  KeyPair rotated = KeyPair::generate();
  NewInvite made = mint_invite(s.federation, s.inviter.public_key(), rotated.public_key(), "ws://127.0.0.1:7700/sync",
                               v1::SCHOOL, 1000, 5000);
  auto parsed = parse_invite(made.text);
  ASSERT_TRUE(parsed.ok()) << parsed.error().message();
  EXPECT_EQ(parsed->inviter(), s.inviter.public_key().raw());
  EXPECT_EQ(invite_signing_key(*parsed), rotated.public_key());
  v1::Invite damaged = made.invite;
  damaged.set_inviter_key(std::string(31, 'k'));
  auto refused = parse_invite(encode_invite(damaged));
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().detail.find("damaged"), std::string::npos);
}

TEST(Invite, TheInviterRefusesEveryBadJoinWithItsRule) {
  ASSERT_TRUE(crypto_init());
  JoinSetup s;
  const auto& fed = s.federation;
  auto good = s.request(s.card());
  ASSERT_TRUE(check_join(good, &s.made.stored, fed, s.hh, s.joiner.public_key(), 2000).ok());
  // Another node's invite (this one issued none by that id).
  EXPECT_TRUE(check_join(good, nullptr, fed, s.hh, s.joiner.public_key(), 2000).error().is(Errc::not_found));
  // Used.
  v1::StoredInvite used = s.made.stored;
  used.set_used_by(std::string(32, 'x'));
  auto e = check_join(good, &used, fed, s.hh, s.joiner.public_key(), 2000).error();
  EXPECT_TRUE(e.is(Errc::already_exists));
  EXPECT_NE(e.detail.find("used already"), std::string::npos);
  // Expired.
  EXPECT_TRUE(
      check_join(good, &s.made.stored, fed, s.hh, s.joiner.public_key(), 6000).error().is(Errc::invalid_argument));
  // Proof from another session (handshake hash), or for another id: forged.
  EXPECT_TRUE(check_join(good, &s.made.stored, fed, std::string(32, 'x'), s.joiner.public_key(), 2000)
                  .error()
                  .is(Errc::bad_signature));
  KeyPair other = KeyPair::generate();
  EXPECT_TRUE(check_join(good, &s.made.stored, fed, s.hh, other.public_key(), 2000).error().is(Errc::bad_signature));
  // A card of another role than the invite's.
  auto company = s.request(s.card(v1::COMPANY));
  e = check_join(company, &s.made.stored, fed, s.hh, s.joiner.public_key(), 2000).error();
  EXPECT_TRUE(e.is(Errc::not_authorised));
  EXPECT_NE(e.detail.find("the invite is for a school"), std::string::npos);
  // The joiner's card signed by someone else.
  v1::MemberCard forged_card;
  ASSERT_TRUE(forged_card.ParseFromString(s.card()));
  forged_card.set_signature(other.sign(SigningDomain::member_card, forged_card.body()).raw());
  auto forged = s.request(forged_card.SerializeAsString());
  e = check_join(forged, &s.made.stored, fed, s.hh, s.joiner.public_key(), 2000).error();
  EXPECT_TRUE(e.is(Errc::bad_signature)) << e.message();
}

}  // namespace
}  // namespace conect
