// RecordKey, the fold's order, op_target, the state digest, availability and
// confirmations.
#include <gtest/gtest.h>

#include <algorithm>

#include "conect/crdt/merge.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/author.h"

namespace conect {
namespace {

using testkit::test_key;

RecordKey key_of(v1::RecordType t, std::uint32_t member, std::uint64_t serial) {
  return RecordKey{t, test_key(member).public_key(), serial};
}

TEST(RecordKey, EncodeDecodeRoundTripsAndIsBigEndian) {
  RecordKey k = key_of(v1::PLACEMENT, 1, 0x0102030405060708ULL);
  std::string e = k.encode();
  ASSERT_EQ(e.size(), 41u);
  EXPECT_EQ(e[0], static_cast<char>(v1::PLACEMENT));
  EXPECT_EQ(e.substr(1, 32), k.owner.raw());
  EXPECT_EQ(e.substr(33), std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
  auto d = RecordKey::decode(e);
  ASSERT_TRUE(d);
  EXPECT_EQ(*d, k);
  EXPECT_FALSE(RecordKey::decode(e.substr(1)));
  std::string bad_type = e;
  bad_type[0] = 9;
  EXPECT_FALSE(RecordKey::decode(bad_type));
  bad_type[0] = 0;
  EXPECT_FALSE(RecordKey::decode(bad_type));
}

TEST(RecordKey, EncodingSortsByTypeThenOwnerThenSerial) {
  RecordKey a = key_of(v1::PLACEMENT, 1, 255);
  RecordKey b = key_of(v1::PLACEMENT, 1, 256);
  EXPECT_LT(a.encode(), b.encode());
  EXPECT_LT(a, b);
  RecordKey c = key_of(v1::ORGANISATION, 1, 999);
  EXPECT_LT(c.encode(), a.encode());
}

TEST(RecordKey, TextParsesBackAndRejectsJunk) {
  RecordKey k = key_of(v1::MOBILITY, 2, 65537);
  std::string t = k.text();
  EXPECT_EQ(t, k.owner.hex() + "-65537");
  auto p = RecordKey::parse(v1::MOBILITY, t);
  ASSERT_TRUE(p);
  EXPECT_EQ(*p, k);
  EXPECT_FALSE(RecordKey::parse(v1::MOBILITY, k.owner.hex()));
  EXPECT_FALSE(RecordKey::parse(v1::MOBILITY, k.owner.hex() + "-"));
  EXPECT_FALSE(RecordKey::parse(v1::MOBILITY, k.owner.hex() + "-12x"));
  EXPECT_FALSE(RecordKey::parse(v1::MOBILITY, k.owner.hex() + "-012"));
  EXPECT_FALSE(RecordKey::parse(v1::MOBILITY, k.owner.hex() + "-99999999999999999999999"));
  EXPECT_FALSE(RecordKey::parse(v1::MOBILITY, "zz" + t.substr(2)));
  EXPECT_FALSE(RecordKey::parse(v1::RECORD_TYPE_UNSPECIFIED, t));
  EXPECT_TRUE(RecordKey::parse(v1::MOBILITY, k.owner.hex() + "-0"));
}

TEST(RecordKey, ProtoRoundTripAndMint) {
  RecordKey k = RecordKey::mint(v1::CONTACT, test_key(3).public_key(), Seq{7}, 2);
  EXPECT_EQ(k.serial, (7ULL << 16) | 2);
  auto back = RecordKey::from_proto(v1::CONTACT, k.to_proto());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, k);
  v1::RecordId short_owner = k.to_proto();
  short_owner.mutable_owner()->pop_back();
  EXPECT_FALSE(RecordKey::from_proto(v1::CONTACT, short_owner));
  EXPECT_FALSE(RecordKey::from_proto(v1::RECORD_TYPE_UNSPECIFIED, k.to_proto()));
}

TEST(PositionedOp, OrdersByHlcThenOriginThenSeqThenIndex) {
  NodeId lo = std::min(test_key(1).public_key(), test_key(2).public_key());
  NodeId hi = std::max(test_key(1).public_key(), test_key(2).public_key());
  PositionedOp a{hi, Seq{9}, Hlc{10}, 5, {}, {}};
  PositionedOp b{lo, Seq{1}, Hlc{11}, 0, {}, {}};
  EXPECT_TRUE(a < b);  // hlc first, whatever the origin
  PositionedOp c{lo, Seq{9}, Hlc{10}, 5, {}, {}};
  EXPECT_TRUE(c < a);  // same hlc: node id breaks the tie
  PositionedOp d{hi, Seq{8}, Hlc{10}, 7, {}, {}};
  EXPECT_TRUE(d < a);
  PositionedOp e{hi, Seq{9}, Hlc{10}, 4, {}, {}};
  EXPECT_TRUE(e < a);
  EXPECT_FALSE(a < a);
}

TEST(OpTarget, NamesTheRecordOfEveryOperationKind) {
  RecordKey org = key_of(v1::ORGANISATION, 1, 1);
  RecordKey pl = key_of(v1::PLACEMENT, 1, 2);
  RecordKey res = key_of(v1::RESERVATION, 2, 3);
  RecordKey mob = key_of(v1::MOBILITY, 2, 4);
  RecordKey con = key_of(v1::CONTACT, 2, 5);
  EXPECT_EQ(*op_target(ops::write_organisation(org, {}, {})), org);
  EXPECT_EQ(*op_target(ops::write_placement(pl, {}, {})), pl);
  EXPECT_EQ(*op_target(ops::write_reservation(res, {}, {})), res);
  EXPECT_EQ(*op_target(ops::create_mobility(mob, {})[0]), mob);
  EXPECT_EQ(*op_target(ops::write_mobility_sending(mob, {}, {})), mob);
  EXPECT_EQ(*op_target(ops::write_mobility_host(mob, org, {}, {})), mob);
  EXPECT_EQ(*op_target(ops::write_contact(con, {}, {})), con);
  EXPECT_EQ(*op_target(ops::set_add(con, kGroupContact, 3, "x")), con);
  EXPECT_EQ(*op_target(ops::decide(res, pl, 1, 1, v1::RESERVATION_CONFIRMED)), res);
  EXPECT_EQ(*op_target(ops::cancel(res)), res);
  EXPECT_EQ(*op_target(ops::confirm(mob, org.to_proto(), {})), mob);
  EXPECT_EQ(*op_target(ops::erase(con, Hash256{})), con);
}

TEST(OpTarget, RefusesOperationsThatNameNoRecord) {
  v1::Operation empty;
  EXPECT_TRUE(op_target(empty).error().is(Errc::malformed_body));
  v1::Operation no_group;
  *no_group.mutable_write()->mutable_id() = key_of(v1::PLACEMENT, 1, 1).to_proto();
  EXPECT_TRUE(op_target(no_group).error().is(Errc::unknown_record_type));
  v1::Operation set = ops::set_add(key_of(v1::CONTACT, 1, 1), kGroupContact, 3, "x");
  set.mutable_set()->set_type(v1::RECORD_TYPE_UNSPECIFIED);
  EXPECT_TRUE(op_target(set).error().is(Errc::unknown_record_type));
  set.mutable_set()->set_type(static_cast<v1::RecordType>(42));
  EXPECT_TRUE(op_target(set).error().is(Errc::unknown_record_type));
  v1::Operation erase = ops::erase(key_of(v1::CONTACT, 1, 1), Hash256{});
  erase.mutable_erase()->clear_type();
  EXPECT_TRUE(op_target(erase).error().is(Errc::unknown_record_type));
  v1::Operation bad_owner = ops::cancel(key_of(v1::RESERVATION, 1, 1));
  bad_owner.mutable_cancel()->mutable_reservation()->set_owner("short");
  EXPECT_TRUE(op_target(bad_owner).error().is(Errc::malformed_body));
}

Hash256 hash_of(std::uint8_t fill) {
  Hash256 h;
  h.bytes.fill(fill);
  return h;
}

TEST(StateDigest, IsASumModulo2To256) {
  StateDigest d;
  d.add(hash_of(0xff));
  d.add(Hash256::from_hex(std::string(62, '0') + "01").value());
  EXPECT_TRUE(d.value().is_zero()) << d.value().hex();  // 2^256 - 1 + 1 wraps to 0
  StateDigest e;
  e.subtract(Hash256::from_hex(std::string(62, '0') + "01").value());
  EXPECT_EQ(e.value(), hash_of(0xff));  // 0 - 1 borrows all the way
  Hash256 x = blake2b256("x"), y = blake2b256("y"), z = blake2b256("z");
  StateDigest a, b;
  a.add(x);
  a.add(y);
  a.add(z);
  b.add(z);
  b.add(x);
  b.add(y);
  EXPECT_EQ(a.value(), b.value());
  a.subtract(y);
  StateDigest c;
  c.add(x);
  c.add(z);
  EXPECT_EQ(a.value(), c.value());
  a.subtract(x);
  a.subtract(z);
  EXPECT_TRUE(a.value().is_zero());
}

TEST(StateDigest, RecordHashCoversKeyAndBytes) {
  RecordKey k = key_of(v1::PLACEMENT, 1, 1);
  EXPECT_EQ(record_hash(k, "abc"), blake2b256(k.encode() + "abc"));
  EXPECT_NE(record_hash(k, "abc"), record_hash(key_of(v1::PLACEMENT, 1, 2), "abc"));
}

v1::RecordState reservation_state(std::uint32_t window, std::uint32_t slots, v1::ReservationDecision d,
                                  bool created = true) {
  v1::RecordState st;
  st.set_created(created);
  st.mutable_reservation()->set_window_id(window);
  st.mutable_reservation()->set_slots(slots);
  st.mutable_reservation()->set_decision(d);
  return st;
}

TEST(Availability, CapacityMinusConfirmedWithPendingAndOverbooking) {
  v1::Placement p;
  auto* w1 = p.add_windows();
  w1->set_window_id(1);
  w1->set_capacity(3);
  auto* w2 = p.add_windows();
  w2->set_window_id(2);
  w2->set_capacity(1);
  std::vector<v1::RecordState> r = {
      reservation_state(1, 2, v1::RESERVATION_CONFIRMED),        reservation_state(1, 1, v1::RESERVATION_PENDING),
      reservation_state(1, 5, v1::RESERVATION_CANCELLED),        reservation_state(1, 5, v1::RESERVATION_REJECTED),
      reservation_state(1, 5, v1::RESERVATION_CONFIRMED, false), reservation_state(2, 2, v1::RESERVATION_CONFIRMED),
      reservation_state(7, 9, v1::RESERVATION_CONFIRMED)};
  auto a = placement_availability(p, r);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a[0].window_id, 1u);
  EXPECT_EQ(a[0].capacity, 3u);
  EXPECT_EQ(a[0].confirmed, 2u);
  EXPECT_EQ(a[0].pending, 1u);
  EXPECT_EQ(a[0].available, 1u);
  EXPECT_EQ(a[0].overbooked_by, 0u);
  // Capacity lowered below what is confirmed: 0 available, flagged, nothing dropped.
  EXPECT_EQ(a[1].confirmed, 2u);
  EXPECT_EQ(a[1].available, 0u);
  EXPECT_EQ(a[1].overbooked_by, 1u);
}

TEST(Confirmation, SignsMobilityAndAgreedDeltaInItsOwnDomain) {
  KeyPair k = test_key(1);
  RecordKey mob = key_of(v1::MOBILITY, 1, 7);
  DeltaId agreed = DeltaId::from_raw(std::string(32, '\x42')).value();
  v1::Confirmation c = make_confirmation(k, mob, v1::PARTY_SENDING, agreed);
  EXPECT_TRUE(verify_confirmation(mob, c));
  EXPECT_EQ(c.signer(), k.public_key().raw());
  v1::Confirmation other_delta = c;
  other_delta.set_agreed_delta(std::string(32, '\x43'));
  EXPECT_FALSE(verify_confirmation(mob, other_delta));
  EXPECT_FALSE(verify_confirmation(key_of(v1::MOBILITY, 1, 8), c));
  v1::Confirmation other_signer = c;
  other_signer.set_signer(test_key(2).public_key().raw());
  EXPECT_FALSE(verify_confirmation(mob, other_signer));
  // The same bytes signed in the delta domain are not a confirmation.
  v1::Confirmation wrong_domain = c;
  wrong_domain.set_signature(k.sign(SigningDomain::delta, mob.encode() + agreed.raw()).raw());
  EXPECT_FALSE(verify_confirmation(mob, wrong_domain));
  v1::Confirmation no_party = c;
  no_party.set_party(v1::PARTY_UNSPECIFIED);
  EXPECT_FALSE(verify_confirmation(mob, no_party));
}

}  // namespace
}  // namespace conect
