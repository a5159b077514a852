// Signatures under the key valid per (origin, seq) (crdt/membership.h):
// after a Rotate the member's deltas are signed by its new key, after a
// Rekey the old key's deltas past the cut are refused; a catch-up range
// that carries the rotation itself is checked under the rotated key from
// the delta after it.
#include <gtest/gtest.h>

#include "conect/crdt/membership.h"
#include "conect/crdt/replica.h"
#include "conect/crdt/testkit/author.h"
#include "conect/sync/verifier.h"

namespace conect::sync {
namespace {

using testkit::Author;
namespace mops = membership_ops;

v1::MemberCard card_of(const KeyPair& key) {
  v1::MemberCardBody b;
  b.set_federation(testkit::test_federation().raw());
  b.set_node_id(key.public_key().raw());
  b.set_role(v1::SCHOOL);
  return sign_card(key, b);
}

std::shared_ptr<const ReplicatedRoster> roster_of(const std::vector<VerifiedDelta>& deltas) {
  std::vector<MembershipDelta> m;
  for (const auto& d : deltas)
    if (carries_membership(d.body)) m.push_back(MembershipDelta::from(d));
  return std::make_shared<const ReplicatedRoster>(ReplicatedRoster::derive(testkit::test_federation(), m));
}

std::vector<v1::SignedDelta> signed_of(const std::vector<VerifiedDelta>& deltas) {
  std::vector<v1::SignedDelta> out;
  for (const auto& d : deltas) out.push_back(d.signed_delta);
  return out;
}

class VerifierTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto_init()); }
  Author a{1};
  KeyPair next = testkit::test_key(40);
  VerifiedDelta a1 = a.emit({mops::found(card_of(a.key()), 1)});
  VerifiedDelta a2 = a.emit({mops::rotate(a.id(), next)});
  VerifiedDelta a3 = [this] {
    a.sign_with(next);
    return a.emit({});
  }();
  RosterVerifier verifier;
};

TEST_F(VerifierTest, AfterARotationTheNewKeySigns) {
  verifier.set_roster(roster_of({a1, a2}));
  EXPECT_TRUE(verifier.signature_holds(a2));
  EXPECT_TRUE(verifier.signature_holds(a3));
  // Without the roster a3 looks forged (signed by a key that is not a's id).
  EXPECT_FALSE(default_verifier().signature_holds(a3));
  // The old key signing past the rotation: refused.
  Author old(1);
  old.emit({});
  old.emit({});
  EXPECT_FALSE(verifier.signature_holds(old.emit({})));
}

TEST_F(VerifierTest, ARangeCarryingTheRotationIsCheckedUnderTheRotatedKey) {
  verifier.set_roster(roster_of({a1}));  // the rotation is not stored yet
  auto r = check_range(verifier, testkit::test_federation(), 1, signed_of({a1, a2, a3}));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->covered, 3u);
  // A range whose rotating delta is not signed by the key before it
  // vouches for nothing past it.
  // (The forger's own seq 1: the testkit's clock gives it another id than
  // a1's, and the range must link.)
  Author forger(1);
  auto first = forger.emit({});
  forger.sign_with(testkit::test_key(41));
  auto fake = forger.emit({mops::rotate(a.id(), testkit::test_key(42))});
  forger.sign_with(testkit::test_key(42));
  auto after = forger.emit({});
  auto bad = check_range(verifier, testkit::test_federation(), 1, signed_of({first, fake, after}));
  ASSERT_TRUE(bad.ok());
  EXPECT_EQ(bad->covered, 1u);
}

TEST_F(VerifierTest, AfterARekeyTheOldKeysLaterDeltasAreRefused) {
  Author b(2);
  auto admit_b = a.emit({mops::admit(card_of(b.key()))});
  auto b1 = b.emit({}, {delta_ref(admit_b)});
  auto b2_old = b.emit({});  // the lost key's, after the cut below
  KeyPair fresh = testkit::test_key(43);
  auto rekey = a.emit({mops::rekey(b.id(), fresh, Seq{1})});
  verifier.set_roster(roster_of({a1, a2, a3, admit_b, rekey}));
  EXPECT_TRUE(verifier.signature_holds(b1));
  EXPECT_FALSE(verifier.signature_holds(b2_old));
  Author restored(2);
  restored.emit({}, {delta_ref(admit_b)});
  restored.sign_with(fresh);
  EXPECT_TRUE(verifier.signature_holds(restored.emit({})));
}

}  // namespace
}  // namespace conect::sync
