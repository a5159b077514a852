// Seal-key announcements in the store (DESIGN §5): the latest valid one of
// each origin is kept; one whose inner signature fails is kept with its
// delta, changes nothing and is listed as a rejected operation.
#include <gtest/gtest.h>

#include "conect/crdt/membership.h"
#include "conect/crdt/envelope.h"
#include "conect/crdt/seal.h"
#include "conect/crdt/testkit/author.h"
#include "conect/storage/store.h"
#include "history.h"

namespace conect::storage {
namespace {

using testing::open_store;
using testing::TempDir;

TEST(SealKeys, TheLatestAnnouncementOfEachOriginCounts) {
  TempDir t;
  auto s = open_store(t / "store");
  KeyPair me = testkit::test_key(1);
  ASSERT_TRUE(s->initialise(testkit::test_federation(), me.public_key()).ok());
  EXPECT_FALSE(*s->seal_key(me.public_key()));
  SealKey first = SealKey::generate(), second = SealKey::generate();
  DeltaDraft d;
  d.ops.push_back(seal_key_announcement(me, testkit::test_federation(), first.public_key()));
  ASSERT_TRUE(s->author(me, d, 1'000'000).ok());
  EXPECT_EQ(*s->seal_key(me.public_key()), first.public_key());

  // Another origin's announcements arrive through apply().
  testkit::Author other(2);
  SealKey theirs = SealKey::generate();
  auto r =
      s->apply({other.emit({seal_key_announcement(other.key(), testkit::test_federation(), theirs.public_key())})});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->applied.size(), 1u);
  auto all = s->seal_keys();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->size(), 2u);
  EXPECT_EQ(all->at(other.id()), theirs.public_key());

  d.ops = {seal_key_announcement(me, testkit::test_federation(), second.public_key())};
  ASSERT_TRUE(s->author(me, d, 1'000'001).ok());
  EXPECT_EQ(*s->seal_key(me.public_key()), second.public_key());
  // No record changed: the digest is the empty state's, and still agrees
  // with a refold from the log.
  EXPECT_EQ(*s->digest(), *s->digest_recomputed());
  EXPECT_EQ(*s->unknown_operations(), 0u);
}

TEST(SealKeys, AnAnnouncementSignedForAnotherOriginIsRefused) {
  TempDir t;
  auto s = open_store(t / "store");
  ASSERT_TRUE(s->initialise(testkit::test_federation(), testkit::test_key(1).public_key()).ok());
  testkit::Author mallory(3);
  KeyPair victim = testkit::test_key(4);
  // Mallory replays the victim's signed announcement in her own log: the
  // delta is authentic (hers), the inner signature is not hers.
  v1::Operation replayed = seal_key_announcement(victim, testkit::test_federation(), SealKey::generate().public_key());
  auto r = s->apply({mallory.emit({replayed})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->applied.size(), 1u);  // history is history
  EXPECT_FALSE(*s->seal_key(mallory.id()));
  auto ev = s->evidence();
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 1u);
  ASSERT_TRUE(ev->front().has_rejected_operation());
  EXPECT_EQ(ev->front().rejected_operation().reason(), "bad_signature");
}

// Key rotation carries a new seal key in the Rotate (DESIGN §2): it counts
// like an announcement, and of the two the later in the member's log is the
// member's seal key, whether the deltas arrive in one batch or one by one.
TEST(SealKeys, ARotatesSealKeyAndAnAnnouncementCountInLogOrder) {
  SealKey k1 = SealKey::generate(), k2 = SealKey::generate(), k3 = SealKey::generate();
  for (bool one_batch : {true, false}) {
    TempDir t;
    auto s = open_store(t / "store");
    ASSERT_TRUE(s->initialise(testkit::test_federation(), testkit::test_key(1).public_key()).ok());
    testkit::Author other(2);
    std::vector<VerifiedDelta> log;
    log.push_back(other.emit({seal_key_announcement(other.key(), testkit::test_federation(), k1.public_key())}));
    log.push_back(other.emit({membership_ops::rotate(other.id(), testkit::test_key(20), k2.public_key().raw())}));
    auto seal_after = [&](std::size_t n) {
      if (!one_batch) {
        auto r = s->apply({log[n - 1]});
        EXPECT_TRUE(r.ok() && r->applied.size() == 1u) << n;
      }
      return *s->seal_key(other.id());
    };
    if (!one_batch) {
      EXPECT_EQ(seal_after(1), k1.public_key());
      EXPECT_EQ(seal_after(2), k2.public_key());  // the Rotate's key replaces the announced one
    }
    // A Rotate without a seal key changes nothing; a later announcement wins.
    log.push_back(other.emit({membership_ops::rotate(other.id(), testkit::test_key(21))}));
    log.push_back(other.emit({seal_key_announcement(other.key(), testkit::test_federation(), k3.public_key())}));
    if (one_batch) {
      auto r = s->apply(log);
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(r->applied.size(), 4u);
    } else {
      EXPECT_EQ(seal_after(3), k2.public_key());
      EXPECT_EQ(seal_after(4), k3.public_key());
    }
    EXPECT_EQ(*s->seal_key(other.id()), k3.public_key()) << one_batch;
    EXPECT_EQ(s->seal_keys()->at(other.id()), k3.public_key());
  }
}

// Envelope acknowledgements (Operation field 8, docs/privacy.md "Carry"):
// each speaks for its own origin, changes no record, and a malformed one is
// a rejected operation.
TEST(EnvelopeAcks, AnAcknowledgementSpeaksForItsOriginOnly) {
  TempDir t;
  auto s = open_store(t / "store");
  ASSERT_TRUE(s->initialise(testkit::test_federation(), testkit::test_key(1).public_key()).ok());
  testkit::Author host(2);
  const Hash256 c = blake2b256("salt and content");
  const RecordKey record{v1::MOBILITY, testkit::test_key(1).public_key(), 7ull << 16};
  EXPECT_FALSE(*s->envelope_acknowledged(c, host.id()));
  auto r = s->apply({host.emit({envelope_ack_operation(record, c)})});
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->applied.size(), 1u);
  EXPECT_TRUE(*s->envelope_acknowledged(c, host.id()));
  EXPECT_FALSE(*s->envelope_acknowledged(c, testkit::test_key(1).public_key()));
  EXPECT_EQ(*s->digest(), *s->digest_recomputed());
  EXPECT_EQ(*s->unknown_operations(), 0u);
  EXPECT_TRUE(s->evidence()->empty());

  v1::Operation bad = envelope_ack_operation(record, c);
  bad.mutable_envelope_ack()->set_commitment("short");
  r = s->apply({host.emit({bad})});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->applied.size(), 1u);  // stored: history is history
  auto ev = s->evidence();
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ(ev->front().rejected_operation().reason(), "malformed_body");
}

}  // namespace
}  // namespace conect::storage
