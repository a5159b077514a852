// The in-memory replica: chain checks, dependencies, duplicates,
// equivocation, the incremental digest and availability.
#include <gtest/gtest.h>

#include "conect/crdt/ops.h"
#include "conect/crdt/replica.h"
#include "conect/crdt/seal.h"
#include "conect/crdt/testkit/author.h"

namespace conect {
namespace {

using testkit::Author;

// The digest recomputed from scratch: what the incremental one must equal.
Hash256 full_digest(const Replica& r) {
  StateDigest d;
  for (const auto& [key, rec] : r.records())
    d.add(record_hash(key,
                      serialize_state(fold_record(key, {rec.ops.begin(), rec.ops.end()}, FoldContext{r.roster(), r}))));
  return d.value();
}

v1::Organisation named(const std::string& city) {
  v1::Organisation o;
  o.set_city(city);
  return o;
}

class ReplicaTest : public ::testing::Test {
 protected:
  Author a{1}, b{2};
  RecordKey org_a = a.next_key(v1::ORGANISATION);
  VerifiedDelta a1 = a.emit({ops::write_organisation(org_a, named("Oulu"), {5})});
  VerifiedDelta a2 = a.emit({ops::write_organisation(org_a, named("Kemi"), {5})});
  VerifiedDelta a3 = a.emit({ops::write_organisation(org_a, named("Tornio"), {5})});
  Replica r;
};

TEST_F(ReplicaTest, AppliesAChainAndKeepsTheDigest) {
  EXPECT_TRUE(r.digest().is_zero());
  ASSERT_TRUE(r.apply(a1).ok());
  Hash256 after_one = r.digest();
  EXPECT_FALSE(after_one.is_zero());
  ASSERT_TRUE(r.apply(a2).ok());
  EXPECT_EQ(r.head(a.id()), Seq{2});
  EXPECT_EQ(r.head_id(a.id()), a2.id);
  EXPECT_EQ(r.record(org_a)->state.organisation().city(), "Kemi");
  EXPECT_EQ(r.digest(), full_digest(r));
  EXPECT_NE(r.digest(), after_one);
  // An exact duplicate changes nothing.
  ASSERT_TRUE(r.apply(a1).ok());
  ASSERT_TRUE(r.apply(a2).ok());
  EXPECT_EQ(r.delta_count(), 2u);
  EXPECT_EQ(r.op_count(), 2u);
  EXPECT_EQ(r.digest(), full_digest(r));
}

TEST_F(ReplicaTest, RefusesGapsAndBrokenLinksWithoutBuffering) {
  EXPECT_TRUE(r.apply(a2).error().is(Errc::sequence_gap));
  ASSERT_TRUE(r.apply(a1).ok());
  EXPECT_TRUE(r.apply(a3).error().is(Errc::sequence_gap));
  Author other(1);  // same key, another chain: its seq 2 does not link to a1
  other.emit({});
  VerifiedDelta stray = other.emit({});
  EXPECT_TRUE(r.apply(stray).error().is(Errc::broken_chain));
  EXPECT_EQ(r.head(a.id()), Seq{1});
  ASSERT_TRUE(r.apply(a2).ok());
  ASSERT_TRUE(r.apply(a3).ok());
}

TEST_F(ReplicaTest, AppliesADeltaOnlyAfterItsDependencies) {
  VerifiedDelta b1 = b.emit({}, {delta_ref(a2)});
  EXPECT_TRUE(r.apply(b1).error().is(Errc::sequence_gap));
  ASSERT_TRUE(r.apply(a1).ok());
  EXPECT_TRUE(r.apply(b1).error().is(Errc::sequence_gap));
  ASSERT_TRUE(r.apply(a2).ok());
  EXPECT_TRUE(r.apply(b1).ok());
  // A dependency naming another delta at a held seq is a broken chain.
  v1::DeltaRef wrong = delta_ref(a1);
  wrong.set_id(a3.id.raw());
  VerifiedDelta b2 = b.emit({}, {wrong});
  EXPECT_TRUE(r.apply(b2).error().is(Errc::broken_chain));
}

TEST_F(ReplicaTest, EquivocationFreezesTheOriginBeforeTheFork) {
  Author y(4);
  RecordKey org_y = y.next_key(v1::ORGANISATION);
  VerifiedDelta y1 = y.emit({ops::write_organisation(org_y, named("Oulu"), {5})});
  VerifiedDelta fork = y.emit_fork({ops::write_organisation(org_y, named("Forked"), {5})});
  VerifiedDelta y2 = y.emit({ops::write_organisation(org_y, named("Kemi"), {5})});
  VerifiedDelta y3 = y.emit({ops::write_organisation(org_y, named("Tornio"), {5})});
  ASSERT_EQ(fork.seq, y2.seq);
  ASSERT_EQ(fork.prev, y2.prev);
  ASSERT_NE(fork.id, y2.id);
  Replica before_fork;
  ASSERT_TRUE(before_fork.apply(a1).ok());
  ASSERT_TRUE(before_fork.apply(y1).ok());
  for (const auto* d : {&a1, &y1, &y2, &y3}) ASSERT_TRUE(r.apply(*d).ok());
  EXPECT_EQ(r.record(org_y)->state.organisation().city(), "Tornio");
  Status s = r.apply(fork);
  EXPECT_TRUE(s.error().is(Errc::equivocation)) << s.error().message();
  EXPECT_EQ(r.frozen_at(y.id()), Seq{1});
  EXPECT_FALSE(r.frozen_at(a.id()));
  EXPECT_EQ(r.head(y.id()), Seq{1});
  ASSERT_EQ(r.evidence().size(), 1u);
  EXPECT_EQ(r.evidence()[0].first().body(), y2.signed_delta.body());
  EXPECT_EQ(r.evidence()[0].second().body(), fork.signed_delta.body());
  // Records touched past the fork are refolded without those deltas.
  EXPECT_EQ(r.record(org_y)->state.organisation().city(), "Oulu");
  EXPECT_EQ(r.digest(), before_fork.digest());
  EXPECT_EQ(r.digest(), full_digest(r));
  EXPECT_EQ(r.delta_count(), 2u);
  // Nothing past the freeze is taken again, not even the first branch.
  EXPECT_TRUE(r.apply(y2).error().is(Errc::equivocation));
  EXPECT_TRUE(r.apply(y1).ok());
  ASSERT_TRUE(r.apply(a2).ok());  // other origins go on
  // Evidence learnt elsewhere freezes another replica the same way.
  Replica other;
  for (const auto* d : {&a1, &a2, &y1, &y2, &y3}) ASSERT_TRUE(other.apply(*d).ok());
  ASSERT_TRUE(other.apply_evidence(y2, fork).ok());
  EXPECT_EQ(other.digest(), r.digest());
  EXPECT_EQ(other.frozen_at(y.id()), Seq{1});
  EXPECT_TRUE(other.apply_evidence(y2, y2).error().is(Errc::invalid_argument));
}

TEST_F(ReplicaTest, AvailabilityFollowsReservationsOfAPlacement) {
  RecordKey pl = b.next_key(v1::PLACEMENT);
  v1::Placement p;
  auto* w = p.add_windows();
  w->set_window_id(1);
  w->set_capacity(2);
  VerifiedDelta b1 = b.emit(ops::create_placement(pl, p));
  RecordKey res = a.next_key(v1::RESERVATION);
  v1::Reservation req;
  *req.mutable_placement() = pl.to_proto();
  req.set_window_id(1);
  req.set_slots(2);
  VerifiedDelta a4 = a.emit({ops::request_reservation(res, req)});
  VerifiedDelta b2 = b.emit({ops::decide(res, req, v1::RESERVATION_CONFIRMED)});
  for (const auto* d : {&a1, &a2, &a3, &b1, &a4}) ASSERT_TRUE(r.apply(*d).ok());
  auto av = r.availability(pl);
  ASSERT_EQ(av.size(), 1u);
  EXPECT_EQ(av[0].pending, 2u);
  EXPECT_EQ(av[0].available, 2u);
  ASSERT_TRUE(r.apply(b2).ok());
  av = r.availability(pl);
  EXPECT_EQ(av[0].confirmed, 2u);
  EXPECT_EQ(av[0].available, 0u);
  EXPECT_EQ(r.reservations_of(pl), std::vector<RecordKey>{res});
  EXPECT_TRUE(r.availability(RecordKey::mint(v1::PLACEMENT, b.id(), Seq{99}, 0)).empty());
}

TEST_F(ReplicaTest, OperationsNamingNoRecordAreKeptAsUntargeted) {
  v1::Operation junk;
  *junk.mutable_write()->mutable_id() = org_a.to_proto();  // no group
  Author c(3);
  VerifiedDelta c1 = c.emit({junk});
  ASSERT_TRUE(r.apply(c1).ok());
  ASSERT_EQ(r.untargeted().size(), 1u);
  EXPECT_EQ(r.untargeted()[0].rule(), "unknown_record_type");
  EXPECT_EQ(r.op_count(), 0u);
}

// A seal-key announcement names no record (DESIGN §5): one its origin
// signed for this federation is no rejected operation (the audit verifier
// reads untargeted() and would warn), a forged or misdirected one is.
TEST_F(ReplicaTest, ASealKeyAnnouncementIsRejectedOnlyWhenItsSignatureFails) {
  Author c{3};  // a fresh chain (the fixture's a has emitted three deltas)
  ASSERT_TRUE(
      r.apply(c.emit({seal_key_announcement(c.key(), testkit::test_federation(), SealKey::generate().public_key())}))
          .ok());
  EXPECT_TRUE(r.untargeted().empty());
  EXPECT_TRUE(r.records().empty());
  // Signed by b, announced in c's log; and signed for another federation.
  FederationId other;
  other.bytes.fill(0x42);
  ASSERT_TRUE(
      r.apply(c.emit({seal_key_announcement(b.key(), testkit::test_federation(), SealKey::generate().public_key()),
                      seal_key_announcement(c.key(), other, SealKey::generate().public_key())}))
          .ok());
  ASSERT_EQ(r.untargeted().size(), 2u);
  for (const auto& op : r.untargeted()) {
    EXPECT_EQ(op.rule(), "bad_signature");
    EXPECT_EQ(op.position().seq(), 2u);
  }
  EXPECT_EQ(r.untargeted()[1].position().index(), 1u);
}

}  // namespace
}  // namespace conect
