// The courier state machine (node/courier, docs/privacy.md "Delivery"):
// several couriers back to back over the in-memory world, exact frames.
#include <gtest/gtest.h>

#include "world.h"

namespace conect::courier::test {
namespace {

class CourierTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto_init());
    a = &world.add(1);  // owner (sending school)
    b = &world.add(2);  // host (receiving organisation's node)
    c = &world.add(3);  // another school: outside the mobility's audience
    key = RecordKey{v1::MOBILITY, a->id(), (5ull << 16)};
    a->view.blobs[commitment] = plaintext;
    world.replicate(key, mobility_state(b->id(), plaintext), 5);
  }
  std::size_t sent_of(const WorldNode& w, bool (v1::SyncMessage::*has)() const) const {
    std::size_t n = 0;
    for (const auto& s : w.sent)
      if ((s.message.*has)()) ++n;
    return n;
  }

  World world;
  WorldNode *a = nullptr, *b = nullptr, *c = nullptr;
  std::string plaintext = std::string(16, 's') + R"({"name":"Aino Example"})";
  Hash256 commitment = blake2b256(plaintext);
  RecordKey key;
};

TEST_F(CourierTest, TheOwnerDeliversToTheHostWhoStoresTheCheckedPlaintext) {
  world.link(*a, *b);
  world.link(*a, *c);
  world.deliver_all();
  ASSERT_EQ(b->view.blobs.count(commitment), 1u);
  EXPECT_EQ(b->view.blobs[commitment], plaintext);
  EXPECT_EQ(c->view.blobs.count(commitment), 0u);
  EXPECT_EQ(count_events(*b, EventKind::opened), 1u);
  EXPECT_EQ(count_events(*a, EventKind::delivered), 1u);
  // Only the audience member got an envelope; c none at all.
  EXPECT_EQ(sent_of(*a, &v1::SyncMessage::has_personal_deliver), 1u);
  for (const auto& s : a->sent) EXPECT_NE(s.peer, c->id());
  // Settled for the link: later sweeps send nothing more.
  world.now += 100'000;
  world.sweep_all();
  EXPECT_EQ(sent_of(*a, &v1::SyncMessage::has_personal_deliver), 1u);
  EXPECT_EQ(a->courier->in_flight(b->id()), 0u);
}

TEST_F(CourierTest, NoEnvelopeForAMemberThatAnnouncedNoSealKey) {
  world.seal_keys.erase(b->id());
  world.sync_roster();
  world.link(*a, *b);
  world.deliver_all();
  EXPECT_TRUE(a->sent.empty());
  // Once the key arrives (a later sweep), the data goes.
  world.seal_keys[b->id()] = b->seal.current().public_key();
  world.sync_roster();
  world.sweep_all();
  world.deliver_all();
  EXPECT_EQ(b->view.blobs[commitment], plaintext);
}

TEST_F(CourierTest, ARecipientBehindTheOwnersLogAnswersLaterAndGetsItOnceCaughtUp) {
  b->view.heads[a->id()] = 4;  // the owner sent at seq 5
  world.link(*a, *b);
  world.deliver_all();
  EXPECT_EQ(b->view.blobs.count(commitment), 0u);
  ASSERT_FALSE(b->sent.empty());
  EXPECT_EQ(b->sent.back().message.personal_answer().outcome(), v1::PERSONAL_LATER);
  EXPECT_EQ(a->courier->in_flight(b->id()), 0u);  // LATER frees the slot
  b->view.heads[a->id()] = 5;
  world.sweep_all();
  world.deliver_all();
  EXPECT_EQ(b->view.blobs[commitment], plaintext);
}

TEST_F(CourierTest, AnUnansweredOfferIsMadeAgainOnlyAfterTheTimeout) {
  world.links.insert({a->id(), b->id()});  // a's frames arrive; b's answers are lost
  a->courier->on_peer_connected(b->id(), world.now);
  world.drain(*a);
  ASSERT_EQ(world.wire.size(), 1u);
  world.wire.clear();
  world.now += CourierConfig{}.answer_timeout_ms - 1;
  world.sweep_all();
  EXPECT_TRUE(world.wire.empty());
  world.now += 1;
  world.sweep_all();
  EXPECT_EQ(world.wire.size(), 1u);
}

TEST_F(CourierTest, ADeliveryOutsideTheAudienceIsRefusedAndNothingIsStored) {
  // c is handed a correctly sealed envelope (e.g. by a confused relay).
  world.link(*a, *b);
  world.deliver_all();
  const v1::SyncMessage m = a->sent.front().message;
  world.link(*b, *c);
  c->courier->on_message(b->id(), m, world.now);
  world.drain(*c);
  EXPECT_EQ(count_events(*c, EventKind::refused, "not_in_audience"), 1u);
  EXPECT_EQ(c->view.blobs.count(commitment), 0u);
  ASSERT_FALSE(c->sent.empty());
  EXPECT_EQ(c->sent.back().message.personal_answer().outcome(), v1::PERSONAL_REFUSED);
  EXPECT_EQ(Courier::refusal_label(c->sent.back().message.personal_answer().reason()), "not_in_audience");
}

TEST_F(CourierTest, AForgeryThatOpensIsRefusedByTheCommitment) {
  // Anybody can seal to b's public seal key: only the signed commitment says
  // which plaintext is the owner's.
  SealTarget t[] = {{b->id(), b->seal.current().public_key()}};
  auto forged = seal_envelope(std::string(16, 's') + R"({"name":"Mallory"})", commitment, a->id(), t);
  ASSERT_TRUE(forged.ok());
  v1::SyncMessage m;
  *m.mutable_personal_deliver()->mutable_record() = key.to_proto();
  m.mutable_personal_deliver()->set_type(v1::MOBILITY);
  m.mutable_personal_deliver()->set_envelope(*forged);
  world.link(*b, *c);
  b->courier->on_message(c->id(), m, world.now);
  world.drain(*b);
  EXPECT_EQ(count_events(*b, EventKind::refused, "commitment_mismatch"), 1u);
  EXPECT_EQ(b->view.blobs.count(commitment), 0u);
}

TEST_F(CourierTest, ErasedDataIsNeitherDeliveredNorAccepted) {
  v1::RecordState erased = mobility_state(b->id(), plaintext);
  erased.add_erased(commitment.raw());
  // The owner erased it: nothing goes out.
  a->view.records[key] = erased;
  world.link(*a, *b);
  world.deliver_all();
  EXPECT_TRUE(a->sent.empty());
  // A recipient that applied the erasure refuses a late envelope for good.
  SealTarget t[] = {{b->id(), b->seal.current().public_key()}};
  auto late = seal_envelope(plaintext, commitment, a->id(), t);
  ASSERT_TRUE(late.ok());
  b->view.records[key] = erased;
  v1::SyncMessage m;
  *m.mutable_personal_deliver()->mutable_record() = key.to_proto();
  m.mutable_personal_deliver()->set_type(v1::MOBILITY);
  m.mutable_personal_deliver()->set_envelope(*late);
  b->courier->on_message(a->id(), m, world.now);
  world.drain(*b);
  EXPECT_EQ(count_events(*b, EventKind::refused, "erased"), 1u);
  EXPECT_EQ(b->view.blobs.count(commitment), 0u);
}

TEST_F(CourierTest, ATombstoneWrittenWhileOpeningRefusesTheStore) {
  world.links.insert({a->id(), b->id()});
  a->courier->on_peer_connected(b->id(), world.now);
  world.drain(*a);
  ASSERT_EQ(world.wire.size(), 1u);
  b->courier->on_message(a->id(), world.wire.front().message, world.now);
  // The erasure commits between the courier's checks and its StoreBlob.
  b->view.blobs[commitment] = "";
  world.drain(*b);
  EXPECT_EQ(count_events(*b, EventKind::refused, "erased"), 1u);
  EXPECT_EQ(count_events(*b, EventKind::opened), 0u);
  EXPECT_EQ(b->view.blobs[commitment], "");
}

TEST_F(CourierTest, AFailedStoreIsNotAnsweredSoTheOwnerOffersAgain) {
  b->refuse_stores = true;
  world.link(*a, *b);
  world.deliver_all();
  EXPECT_EQ(count_events(*b, EventKind::store_error), 1u);
  EXPECT_EQ(sent_of(*b, &v1::SyncMessage::has_personal_answer), 0u);
  EXPECT_EQ(a->courier->in_flight(b->id()), 1u);
  b->refuse_stores = false;
  world.now += CourierConfig{}.answer_timeout_ms;
  world.sweep_all();
  world.deliver_all();
  EXPECT_EQ(b->view.blobs[commitment], plaintext);
}

TEST_F(CourierTest, AnAnswerForNothingOfferedChangesNothing) {
  world.link(*b, *c);
  v1::SyncMessage m;
  m.mutable_personal_answer()->set_commitment(commitment.raw());
  m.mutable_personal_answer()->set_outcome(v1::PERSONAL_HELD);
  b->courier->on_message(c->id(), m, world.now);
  world.drain(*b);
  EXPECT_EQ(count_events(*b, EventKind::delivered), 0u);
}

TEST_F(CourierTest, OffersPerPeerAreBounded) {
  CourierConfig cfg;
  cfg.max_in_flight_per_peer = 3;
  World w;
  WorldNode& owner = w.add(10, v1::SCHOOL, cfg);
  WorldNode& host = w.add(11);
  for (std::uint64_t i = 1; i <= 10; ++i) {
    std::string p = std::string(16, static_cast<char>('a' + i)) + "{}";
    RecordKey k{v1::MOBILITY, owner.id(), i << 16};
    owner.view.blobs[blake2b256(p)] = p;
    w.replicate(k, mobility_state(host.id(), p), 10);
  }
  w.links.insert({owner.id(), host.id()});  // answers never come back
  owner.courier->on_peer_connected(host.id(), w.now);
  w.drain(owner);
  EXPECT_EQ(w.wire.size(), 3u);
  EXPECT_EQ(owner.courier->in_flight(host.id()), 3u);
}

TEST_F(CourierTest, MalformedDeliveriesAreRefusedWithTheirReason) {
  world.link(*b, *c);
  v1::SyncMessage m;
  m.mutable_personal_deliver()->set_type(v1::PLACEMENT);
  b->courier->on_message(c->id(), m, world.now);
  *m.mutable_personal_deliver()->mutable_record() = key.to_proto();
  m.mutable_personal_deliver()->set_type(v1::MOBILITY);
  m.mutable_personal_deliver()->set_envelope("cnE1 not an envelope");
  b->courier->on_message(c->id(), m, world.now);
  world.drain(*b);
  EXPECT_EQ(count_events(*b, EventKind::refused, "malformed"), 2u);
}

TEST_F(CourierTest, AStoreThatCannotBeReadAnswersNothingAndIsRetried) {
  world.link(*a, *b);
  world.wire.clear();
  b->view.fail_reads = true;
  world.now += CourierConfig{}.answer_timeout_ms;
  world.sweep_all();
  world.deliver_all();
  EXPECT_GE(count_events(*b, EventKind::store_error), 1u);
  EXPECT_EQ(b->view.blobs.count(commitment), 0u);
  b->view.fail_reads = false;
  world.now += CourierConfig{}.answer_timeout_ms;
  world.sweep_all();
  world.deliver_all();
  EXPECT_EQ(b->view.blobs[commitment], plaintext);
}

}  // namespace
}  // namespace conect::courier::test
