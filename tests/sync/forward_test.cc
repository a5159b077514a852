// Forwarding before the commit (SyncConfig::forward_before_commit, DESIGN §6):
// a relay passes a verified delta of another origin on while its own write is
// still pending, and never a delta it authored, nor one its store could
// still refuse for a reason knowable now. Node 1 is the relay, its writer
// "blocked": its ApplyBatches are held until the test applies them.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "harness.h"

namespace conect::sync::test {
namespace {

class ForwardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(crypto_init());
    SyncConfig cfg;
    cfg.forward_before_commit = true;
    // 0 (origin) - 1 (relay) - 2 (downstream); 3 is another origin, unlinked.
    for (std::uint8_t seed = 1; seed <= 4; ++seed) w.add(seed, {}, cfg);
    w.start();
    w.connect(0, 1);
    w.connect(1, 2);
    w.run();
    relay().auto_apply = false;
    w.sent.clear();
  }
  TestNode& relay() { return w.node(1); }
  // Pushes of `origin`'s seq sent from `from` to `to` so far.
  std::size_t pushes(int from, int to, const NodeId& origin, std::uint64_t seq) const {
    std::size_t n = 0;
    for (const auto& s : w.sent) {
      if (s.from != from || s.to != to || !s.msg.has_push()) continue;
      auto d = decode_delta(test_federation(), s.msg.push().delta());
      if (d.ok() && d->origin == origin && d->seq.value == seq) ++n;
    }
    return n;
  }
  void push(int from, int to, const VerifiedDelta& d) {
    v1::SyncMessage m;
    *m.mutable_push()->mutable_delta() = d.signed_delta;
    w.inject(from, to, std::move(m));
    w.run();
  }
  Wire w;
};

TEST_F(ForwardTest, RelayForwardsBeforeItsCommit) {
  auto x1 = w.node(0).author.next();
  ASSERT_TRUE(w.node(0).log.apply({x1}).ok());
  w.node(0).engine->on_local_commit(std::span<const VerifiedDelta>(&x1, 1), w.now());
  w.drain_all();
  w.run();
  // The relay has not committed (its write is held) ...
  ASSERT_EQ(relay().held.size(), 1u);
  EXPECT_EQ(relay().log.seq(w.node(0).id()), 0u);
  // ... yet the downstream node verified and stored the delta.
  EXPECT_EQ(pushes(1, 2, x1.origin, 1), 1u);
  EXPECT_EQ(w.node(2).log.seq(w.node(0).id()), 1u);
  EXPECT_EQ(relay().engine->stats().pushes_forwarded_early, 1u);
  // The commit then sends nothing more to the node already reached.
  w.apply_held(1);
  w.run();
  EXPECT_EQ(relay().log.seq(w.node(0).id()), 1u);
  EXPECT_EQ(pushes(1, 2, x1.origin, 1), 1u);
}

TEST_F(ForwardTest, AChainOfPushesIsForwardedWhileTheFirstIsStillPending) {
  auto x1 = w.node(0).author.next();
  auto x2 = w.node(0).author.next();
  push(0, 1, x1);
  push(0, 1, x2);
  EXPECT_EQ(relay().held.size(), 2u);
  EXPECT_EQ(w.node(2).log.seq(w.node(0).id()), 2u);
  w.apply_held(1);
  w.run();
  EXPECT_EQ(relay().log.seq(w.node(0).id()), 2u);
  EXPECT_EQ(pushes(1, 2, x1.origin, 2), 1u);
}

// Authored here means pushed only after the commit: a crash before it could
// reuse a published seq. Our own chain fetched back from a peer (a restored
// node) is the one way a delta of our own origin is handed to the writer.
TEST_F(ForwardTest, OwnOriginIsNeverForwardedBeforeItsCommit) {
  auto r1 = relay().author.next();
  ASSERT_TRUE(w.node(0).log.apply({r1}).ok());  // a peer holds it, the relay lost it
  push(0, 1, r1);
  ASSERT_EQ(relay().held.size(), 1u);
  EXPECT_EQ(pushes(1, 2, r1.origin, 1), 0u);
  EXPECT_EQ(w.node(2).log.seq(relay().id()), 0u);
  EXPECT_EQ(relay().engine->stats().pushes_forwarded_early, 0u);
  w.apply_held(1);
  w.run();
  EXPECT_EQ(pushes(1, 2, r1.origin, 1), 1u);  // after the commit, as always
  EXPECT_EQ(w.node(2).log.seq(relay().id()), 1u);
}

// A delta whose dependency is handed out but not stored yet could still be
// refused (the dependency may be refused): it waits for the commit.
TEST_F(ForwardTest, ADependencyNotYetStoredHoldsTheForwardUntilTheCommit) {
  auto b1 = w.node(3).author.next();
  v1::DeltaRef dep;
  dep.set_origin(b1.origin.raw());
  dep.set_seq(1);
  dep.set_id(b1.id.raw());
  auto x1 = w.node(0).author.next(40, {dep});
  push(0, 1, b1);  // links to the stored head: forwarded at once
  push(0, 1, x1);  // names b1, which is pending, not stored
  ASSERT_EQ(relay().held.size(), 2u);
  EXPECT_EQ(pushes(1, 2, b1.origin, 1), 1u);
  EXPECT_EQ(pushes(1, 2, x1.origin, 1), 0u);
  w.apply_held(1);
  w.run();
  EXPECT_EQ(pushes(1, 2, x1.origin, 1), 1u);
  EXPECT_EQ(w.node(2).log.seq(x1.origin), 1u);
}

// A dependency stored with another id than the one named: the store will
// refuse the delta (broken_chain), so it is not forwarded early.
TEST_F(ForwardTest, ADependencyOnAnotherBranchIsNotForwarded) {
  auto b1 = w.node(3).author.next();
  ASSERT_TRUE(relay().log.apply({b1}).ok());
  w.disconnect(0, 1);
  w.disconnect(1, 2);
  w.restart(1);
  w.connect(0, 1);
  w.connect(1, 2);
  w.run();
  relay().auto_apply = false;
  v1::DeltaRef dep;
  dep.set_origin(b1.origin.raw());
  dep.set_seq(1);
  auto other = b1.id.raw();
  other[0] ^= 1;
  dep.set_id(other);
  auto x1 = w.node(0).author.next(40, {dep});
  w.sent.clear();
  push(0, 1, x1);
  EXPECT_EQ(pushes(1, 2, x1.origin, 1), 0u);
  EXPECT_EQ(relay().engine->stats().pushes_forwarded_early, 0u);
}

// The relay crashes after forwarding, before its commit: the downstream node
// holds a delta it verified itself against its origin, and the relay, once
// back, fetches it again; everyone converges on the origin's chain.
TEST_F(ForwardTest, RelayCrashBeforeItsCommitLeavesPeersConsistent) {
  auto x1 = w.node(0).author.next();
  ASSERT_TRUE(w.node(0).log.apply({x1}).ok());
  push(0, 1, x1);
  ASSERT_EQ(relay().held.size(), 1u);
  ASSERT_EQ(w.node(2).log.seq(x1.origin), 1u);
  relay().held.clear();  // the crash: the write never happened
  w.disconnect(0, 1);
  w.disconnect(1, 2);
  w.restart(1);
  relay().auto_apply = true;
  w.connect(1, 2);  // the downstream node first: it serves the delta back
  w.run();
  EXPECT_EQ(relay().log.seq(x1.origin), 1u);
  w.connect(0, 1);
  w.run();
  EXPECT_EQ(relay().engine->version_vector_hash(), w.node(2).engine->version_vector_hash());
  EXPECT_EQ(relay().engine->version_vector_hash(), w.node(0).engine->version_vector_hash());
  EXPECT_TRUE(relay().disconnects.empty());
  EXPECT_TRUE(w.node(2).disconnects.empty());
}

// A peer that saw the delta from the relay may ask the relay for it before
// the relay's commit (here: its own write of it failed, so it fetches it
// again from whoever showed it): the answer waits for the relay's commit
// instead of ending short of what the relay showed, which the peer would
// take as a broken claim and shun the relay for claim_penalty_ms.
TEST_F(ForwardTest, ARequestForADeltaInFlightIsAnsweredAfterTheCommit) {
  TestNode& down = w.node(2);
  down.auto_apply = false;
  auto x1 = w.node(0).author.next();
  push(0, 1, x1);
  ASSERT_EQ(relay().held.size(), 1u);
  ASSERT_EQ(down.held.size(), 1u);  // forwarded early
  ApplyBatchAction failed = std::move(down.held.front());
  down.held.clear();
  down.engine->on_batch_applied({failed.apply_id, Error(Errc::storage_error, "disk full")}, w.now());
  down.auto_apply = true;
  w.drain_all();
  w.sent.clear();
  w.advance(down.cfg.refetch_backoff_ms);  // the refetch: a request to the relay
  w.run();
  bool asked = false;
  for (const auto& s : w.sent) {
    if (s.from == 2 && s.to == 1 && s.msg.has_request()) asked = true;
    EXPECT_FALSE(s.from == 1 && s.msg.has_batch()) << "answered before the commit";
  }
  ASSERT_TRUE(asked);
  w.apply_held(1);
  w.run();
  EXPECT_EQ(down.log.seq(x1.origin), 1u);
  EXPECT_EQ(down.engine->stats().claims_broken, 0u);
}

TEST_F(ForwardTest, OffTheRelayWaitsForItsCommit) {
  SyncConfig cfg;  // forward_before_commit = false, the engine's default
  Wire off;
  for (std::uint8_t seed = 1; seed <= 3; ++seed) off.add(seed, {}, cfg);
  off.start();
  off.connect(0, 1);
  off.connect(1, 2);
  off.run();
  off.node(1).auto_apply = false;
  auto x1 = off.node(0).author.next();
  v1::SyncMessage m;
  *m.mutable_push()->mutable_delta() = x1.signed_delta;
  off.inject(0, 1, std::move(m));
  off.run();
  ASSERT_EQ(off.node(1).held.size(), 1u);
  EXPECT_EQ(off.node(2).log.seq(x1.origin), 0u);
  off.apply_held(1);
  off.run();
  EXPECT_EQ(off.node(2).log.seq(x1.origin), 1u);
}

}  // namespace
}  // namespace conect::sync::test
