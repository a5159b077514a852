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

// The envelope and the record's delta leave the owner together; the delta
// waits for the recipient's writer. The recipient keeps the delivery and
// opens it once the batch with the record commits: no LATER, no second offer.
TEST_F(CourierTest, ADeliveryAheadOfItsRecordsDeltaIsOpenedOnceTheDeltaIsApplied) {
  b->view.heads[a->id()] = 4;  // the owner sent at seq 5
  world.link(*a, *b);
  world.deliver_all();
  EXPECT_EQ(b->view.blobs.count(commitment), 0u);
  EXPECT_TRUE(b->sent.empty()) << "answered at once instead of waiting for the record's delta";
  EXPECT_EQ(b->courier->parked(), 1u);
  EXPECT_EQ(count_events(*b, EventKind::parked), 1u);
  world.now += 1;
  b->courier->on_applied(world.now);  // a batch without the owner's seq 5: still waiting
  world.drain(*b);
  EXPECT_TRUE(b->sent.empty());
  b->view.heads[a->id()] = 5;
  b->courier->on_applied(world.now);
  world.drain(*b);
  world.deliver_all();
  EXPECT_EQ(b->view.blobs[commitment], plaintext);
  EXPECT_EQ(b->courier->parked(), 0u);
  ASSERT_EQ(b->sent.size(), 1u);
  EXPECT_EQ(b->sent.back().message.personal_answer().outcome(), v1::PERSONAL_HELD);
  EXPECT_EQ(sent_of(*a, &v1::SyncMessage::has_personal_deliver), 1u);
  EXPECT_EQ(count_events(*a, EventKind::later), 0u);
}

TEST_F(CourierTest, ARecipientStillBehindAfterTheParkTimeAnswersLaterAndGetsItOnceCaughtUp) {
  b->view.heads[a->id()] = 4;
  world.link(*a, *b);
  world.deliver_all();
  ASSERT_EQ(b->courier->parked(), 1u);
  world.now += CourierConfig{}.park_ms - 1;
  world.sweep_all();
  EXPECT_TRUE(b->sent.empty());
  world.now += 1;
  world.sweep_all();
  ASSERT_FALSE(b->sent.empty());
  EXPECT_EQ(b->sent.back().message.personal_answer().outcome(), v1::PERSONAL_LATER);
  EXPECT_EQ(b->courier->parked(), 0u);
  world.deliver_all();
  EXPECT_EQ(count_events(*a, EventKind::later), 1u);
  EXPECT_EQ(a->courier->in_flight(b->id()), 0u);  // LATER frees the slot
  b->view.heads[a->id()] = 5;
  world.sweep_all();
  world.deliver_all();
  EXPECT_EQ(b->view.blobs[commitment], plaintext);
}

// A sender claiming an owner_seq this node will never reach (or a flood of
// deliveries) holds at most max_parked_per_peer in memory; the rest are
// answered LATER at once, and a link going down frees its peer's.
TEST_F(CourierTest, ParkedDeliveriesAreBoundedPerPeerAndDroppedWithTheLink) {
  world.link(*a, *b);
  world.deliver_all();
  ASSERT_TRUE(a->sent.front().message.has_personal_deliver());
  const std::size_t bound = CourierConfig{}.max_parked_per_peer;
  world.link(*b, *c);
  for (std::size_t i = 0; i < bound + 3; ++i) {
    v1::SyncMessage m = a->sent.front().message;  // a well-formed envelope from the first delivery
    m.mutable_personal_deliver()->set_owner_seq(1'000'000 + i);
    b->courier->on_message(c->id(), m, world.now);
  }
  world.drain(*b);
  EXPECT_EQ(b->courier->parked(), bound);
  std::size_t later = 0;
  for (const auto& s : b->sent)
    if (s.peer == c->id() && s.message.personal_answer().outcome() == v1::PERSONAL_LATER) ++later;
  EXPECT_EQ(later, 3u);
  world.unlink(*b, *c);
  EXPECT_EQ(b->courier->parked(), 0u);
}

TEST_F(CourierTest, ParkedEnvelopeBytesAreBoundedPerPeer) {
  world.link(*a, *b);
  world.deliver_all();
  const v1::SyncMessage first = a->sent.front().message;
  const std::size_t envelope = first.personal_deliver().envelope().size();
  CourierConfig cfg{.self = b->id()};
  cfg.max_parked_bytes_per_peer = envelope * 5 / 2;  // room for two
  b->courier = std::make_unique<Courier>(cfg, b->view, b->seal);
  b->courier->on_peer_connected(a->id(), world.now);
  world.drain(*b);
  b->sent.clear();
  for (int i = 0; i < 4; ++i) {
    v1::SyncMessage m = first;
    m.mutable_personal_deliver()->set_owner_seq(1'000'000 + i);
    b->courier->on_message(a->id(), m, world.now);
  }
  world.drain(*b);
  EXPECT_EQ(b->courier->parked(), 2u);
  EXPECT_EQ(b->sent.size(), 2u);
  for (const auto& sent : b->sent) EXPECT_EQ(sent.message.personal_answer().outcome(), v1::PERSONAL_LATER);
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

// The scan reads every record this node owns (a million at the largest
// size measured): a sweep makes it only when something it reads moved.
TEST_F(CourierTest, ASweepRescansOwnRecordsOnlyWhenSomethingTheyDependOnMoved) {
  world.link(*a, *b);
  world.deliver_all();
  ASSERT_EQ(b->view.blobs[commitment], plaintext);
  world.sweep_all();  // the answer that came in is one more reason to look
  const std::size_t settled = a->view.own_record_scans;
  for (int i = 0; i < 10; ++i) {
    world.now += 1'000;
    world.sweep_all();
  }
  EXPECT_EQ(a->view.own_record_scans, settled) << "nothing changed, yet the sweeps read every own record";
  EXPECT_TRUE(world.wire.empty());

  // A new record (a commit): the next sweep sees it and delivers it.
  const std::string second = std::string(16, 't') + R"({"name":"Ola Example"})";
  const RecordKey key2{v1::MOBILITY, a->id(), (6ull << 16)};
  a->view.blobs[blake2b256(second)] = second;
  world.replicate(key2, mobility_state(b->id(), second), 6);
  world.now += 1'000;
  world.sweep_all();
  EXPECT_EQ(a->view.own_record_scans, settled + 1);
  world.deliver_all();
  EXPECT_EQ(b->view.blobs[blake2b256(second)], second);

  // With nothing new at all, still once per idle_rescan_ms.
  world.sweep_all();
  const std::size_t quiet = a->view.own_record_scans;
  world.now += CourierConfig{}.idle_rescan_ms - 1;
  world.sweep_all();
  EXPECT_EQ(a->view.own_record_scans, quiet);
  world.now += 1;
  world.sweep_all();
  EXPECT_EQ(a->view.own_record_scans, quiet + 1);
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

// ------------------------------------------------------------------ carry
// Line A - C - B: the owner A has no link to the host B; C is outside the
// mobility's audience and carries the ciphertext.

v1::SyncMessage carry_of(const RecordKey& key, const std::string& envelope, const NodeId& recipient,
                         std::uint64_t ttl_ms = 60'000, std::uint32_t hops = 1, std::uint32_t hop_limit = 2) {
  v1::SyncMessage m;
  auto* c = m.mutable_personal_carry();
  *c->mutable_record() = key.to_proto();
  c->set_type(key.type);
  c->set_envelope(envelope);
  c->set_owner_seq(5);
  c->set_recipient(recipient.raw());
  c->set_ttl_ms(ttl_ms);
  c->set_hops(hops);
  c->set_hop_limit(hop_limit);
  return m;
}

class CarryTest : public CourierTest {
 protected:
  std::string sealed_for_b() {
    SealTarget t[] = {{a->id(), a->seal.current().public_key()}, {b->id(), b->seal.current().public_key()}};
    auto e = seal_envelope(plaintext, commitment, a->id(), t);
    EXPECT_TRUE(e.ok());
    return *e;
  }
  // What c answered to its last carry.
  v1::PersonalCarryAnswer last_carry_answer(const WorldNode& w) {
    for (auto it = w.sent.rbegin(); it != w.sent.rend(); ++it)
      if (it->message.has_personal_carry_answer()) return it->message.personal_carry_answer();
    ADD_FAILURE() << "no carry answer";
    return {};
  }
};

TEST_F(CarryTest, TheHostGetsItThroughTheRelayWhichNeverHoldsThePlaintext) {
  world.link(*a, *c);
  world.link(*c, *b);
  world.deliver_all();
  EXPECT_EQ(b->view.blobs[commitment], plaintext);
  EXPECT_EQ(count_events(*b, EventKind::opened), 1u);
  // c carried ciphertext only: nothing stored, nothing opened, queue empty
  // once b answered HELD; b acknowledged in its own log.
  EXPECT_EQ(c->view.blobs.count(commitment), 0u);
  EXPECT_EQ(count_events(*c, EventKind::opened), 0u);
  EXPECT_EQ(count_events(*c, EventKind::carry_queued), 1u);
  EXPECT_EQ(count_events(*c, EventKind::carry_dropped, "delivered"), 1u);
  EXPECT_EQ(c->courier->queued(), 0u);
  EXPECT_EQ(c->courier->queued_bytes(), 0u);
  EXPECT_EQ(b->acks_authored, 1u);
  EXPECT_TRUE(b->view.acks.contains({commitment, b->id()}));
  for (const auto& f : c->sent) {
    const std::string bytes = f.message.SerializeAsString();
    EXPECT_EQ(bytes.find("Aino"), std::string::npos);
  }
  // The owner carries no more once b acknowledged: a new link gets nothing.
  WorldNode& d = world.add(4);
  world.link(*a, d);
  world.deliver_all();
  EXPECT_EQ(count_events(d, EventKind::carry_queued), 0u);
}

TEST_F(CarryTest, TheRelayKeepsItInMemoryUntilItLinksToTheRecipient) {
  world.link(*a, *c);
  world.deliver_all();
  EXPECT_EQ(c->courier->queued(), 1u);
  EXPECT_TRUE(c->courier->queued_for(commitment, b->id()));
  EXPECT_GT(c->courier->queued_bytes(), 0u);
  EXPECT_EQ(count_events(*a, EventKind::carry_accepted), 1u);
  // The owner goes away; the relay still delivers when b comes.
  world.unlink(*a, *c);
  world.now += 10'000;
  world.link(*c, *b);
  world.deliver_all();
  EXPECT_EQ(b->view.blobs[commitment], plaintext);
  EXPECT_EQ(c->courier->queued(), 0u);
}

TEST_F(CarryTest, TheRecipientsSignedAcknowledgementEmptiesEveryRelay) {
  world.spread_acks = false;
  WorldNode& d = world.add(4);
  world.link(*a, *c);
  world.link(*a, d);
  world.deliver_all();
  EXPECT_EQ(c->courier->queued(), 1u);
  EXPECT_EQ(d.courier->queued(), 1u);
  // b gets the data from c; d learns of it only through b's acknowledgement
  // (an operation of b's log that reaches d with the ordinary sync).
  world.link(*c, *b);
  world.deliver_all();
  EXPECT_EQ(b->view.blobs[commitment], plaintext);
  EXPECT_EQ(d.courier->queued(), 1u);
  d.view.acks.insert({commitment, b->id()});
  world.sweep_all();
  EXPECT_EQ(d.courier->queued(), 0u);
  EXPECT_EQ(count_events(d, EventKind::carry_dropped, "acknowledged"), 1u);
}

TEST_F(CarryTest, ACarriedEnvelopePastItsTimeToLiveIsDropped) {
  world.link(*b, *c);
  world.unlink(*b, *c);  // c knows b, but is not linked now
  world.link(*a, *c);
  world.wire.clear();
  c->courier->on_message(a->id(), carry_of(key, sealed_for_b(), b->id(), 5'000), world.now);
  world.drain(*c);
  ASSERT_EQ(c->courier->queued(), 1u);
  world.now += 4'999;
  world.sweep_all();
  EXPECT_EQ(c->courier->queued(), 1u);
  world.now += 1;
  world.sweep_all();
  EXPECT_EQ(c->courier->queued(), 0u);
  EXPECT_EQ(count_events(*c, EventKind::carry_dropped, "expired"), 1u);
  // Too late now: b links, and nothing comes from c.
  world.link(*c, *b);
  world.deliver_all();
  EXPECT_EQ(b->view.blobs.count(commitment), 0u);
}

TEST_F(CarryTest, ACarryPastItsHopLimitIsRefusedAndCounted) {
  world.link(*a, *c);
  world.wire.clear();
  c->courier->on_message(a->id(), carry_of(key, sealed_for_b(), b->id(), 60'000, 3, 2), world.now);
  world.drain(*c);
  EXPECT_EQ(c->courier->queued(), 0u);
  EXPECT_EQ(count_events(*c, EventKind::carry_dropped, "hop_limit"), 1u);
  auto ans = last_carry_answer(*c);
  EXPECT_EQ(ans.outcome(), v1::CARRY_REFUSED);
  EXPECT_EQ(Courier::carry_label(ans.reason()), "hop_limit");
}

TEST_F(CarryTest, ARelayAtTheHopLimitHandsItOnlyToTheRecipient) {
  // a - c - d - b: with the owner's hop limit 1, c may not give it to d.
  for (std::uint32_t limit : {1u, 2u}) {
    World w;
    CourierConfig cfg;
    cfg.hop_limit = limit;
    WorldNode& owner = w.add(1, v1::SCHOOL, cfg);
    WorldNode& host = w.add(2);
    WorldNode& r1 = w.add(3);
    WorldNode& r2 = w.add(4);
    owner.view.blobs[commitment] = plaintext;
    w.replicate(key, mobility_state(host.id(), plaintext), 5);
    w.link(owner, r1);
    w.link(r1, r2);
    w.link(r2, host);
    w.deliver_all();
    w.sweep_all();
    w.deliver_all();
    if (limit == 1) {
      EXPECT_EQ(host.view.blobs.count(commitment), 0u);
      EXPECT_EQ(r2.courier->queued(), 0u);
      EXPECT_EQ(r1.courier->queued(), 1u);
      EXPECT_EQ(count_events(r1, EventKind::carry_sent), 0u);  // the relay at the limit keeps it
    } else {
      EXPECT_EQ(host.view.blobs[commitment], plaintext);
      EXPECT_EQ(count_events(r2, EventKind::carry_queued), 1u);
    }
  }
}

TEST_F(CarryTest, TheRelayQueueIsBounded) {
  CourierConfig cfg;
  cfg.max_carried = 2;
  World w;
  WorldNode& owner = w.add(1);
  WorldNode& host = w.add(2);
  WorldNode& relay = w.add(3, v1::SCHOOL, cfg);
  w.link(owner, relay);
  (void)host;
  for (int i = 0; i < 3; ++i) {
    std::string p = std::string(16, static_cast<char>('k' + i)) + "{}";
    RecordKey k{v1::MOBILITY, owner.id(), static_cast<std::uint64_t>(i + 1) << 16};
    owner.view.blobs[blake2b256(p)] = p;
    w.replicate(k, mobility_state(host.id(), p), 5);
  }
  w.sweep_all();
  w.deliver_all();
  EXPECT_EQ(relay.courier->queued(), 2u);
  EXPECT_EQ(count_events(relay, EventKind::carry_dropped, "queue_full"), 1u);
  EXPECT_EQ(count_events(owner, EventKind::carry_refused_by_peer, "queue_full"), 1u);
}

TEST_F(CarryTest, ARelayRefusesWhatItShouldNotCarry) {
  world.link(*a, *c);
  world.link(*b, *c);
  world.wire.clear();
  const std::string env = sealed_for_b();
  struct Case {
    v1::SyncMessage m;
    const char* reason;
  };
  std::vector<Case> cases;
  cases.push_back({carry_of(key, env, c->id()), "malformed"});                // no slot for the recipient
  cases.push_back({carry_of(key, env, b->id(), 0), "expired"});               // nothing left to live
  cases.push_back({carry_of(key, env, b->id(), 60'000, 0), "malformed"});     // hops 0
  cases.push_back({carry_of(key, env, b->id(), 60'000, 1, 9), "malformed"});  // hop limit above 8
  cases.push_back({carry_of(key, "cnE1", b->id()), "malformed"});
  for (auto& cs : cases) {
    c->courier->on_message(a->id(), cs.m, world.now);
    world.drain(*c);
    EXPECT_EQ(Courier::carry_label(last_carry_answer(*c).reason()), cs.reason);
  }
  // The recipient itself, and the owner, take no carry.
  b->courier->on_message(c->id(), carry_of(key, env, b->id()), world.now);
  world.drain(*b);
  EXPECT_EQ(Courier::carry_label(last_carry_answer(*b).reason()), "recipient");
  SealTarget t[] = {{c->id(), c->seal.current().public_key()}};
  a->courier->on_message(c->id(), carry_of(key, *seal_envelope(plaintext, commitment, a->id(), t), c->id()), world.now);
  world.drain(*a);
  EXPECT_EQ(Courier::carry_label(last_carry_answer(*a).reason()), "owner");
  // Erased, or already acknowledged by the recipient: nothing to carry.
  c->view.acks.insert({commitment, b->id()});
  c->courier->on_message(a->id(), carry_of(key, env, b->id()), world.now);
  world.drain(*c);
  EXPECT_EQ(Courier::carry_label(last_carry_answer(*c).reason()), "acknowledged");
  c->view.records[key].add_erased(commitment.raw());
  c->courier->on_message(a->id(), carry_of(key, env, b->id()), world.now);
  world.drain(*c);
  EXPECT_EQ(Courier::carry_label(last_carry_answer(*c).reason()), "erased");
  EXPECT_EQ(c->courier->queued(), 0u);
}

TEST_F(CarryTest, AnErasureEmptiesTheRelayQueue) {
  world.link(*a, *c);
  world.deliver_all();
  ASSERT_EQ(c->courier->queued(), 1u);
  c->view.records[key].add_erased(commitment.raw());
  world.sweep_all();
  EXPECT_EQ(c->courier->queued(), 0u);
  EXPECT_EQ(count_events(*c, EventKind::carry_dropped, "erased"), 1u);
}

TEST_F(CarryTest, AuditorsAreNeverHandedAnything) {
  WorldNode& auditor = world.add(9, v1::AUDITOR);
  world.link(*a, auditor);
  world.deliver_all();
  EXPECT_TRUE(auditor.sent.empty());
  for (const auto& f : a->sent) EXPECT_NE(f.peer, auditor.id());
}

TEST_F(CarryTest, AFailedAcknowledgementIsAuthoredAtALaterSweep) {
  b->refuse_acks = true;
  world.link(*a, *b);
  world.deliver_all();
  EXPECT_EQ(b->view.blobs[commitment], plaintext);
  EXPECT_EQ(b->acks_authored, 0u);
  b->refuse_acks = false;
  world.sweep_all();
  EXPECT_EQ(b->acks_authored, 1u);
  world.sweep_all();
  EXPECT_EQ(b->acks_authored, 1u);  // once
}

}  // namespace
}  // namespace conect::courier::test
