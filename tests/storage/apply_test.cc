// apply(), author() and the group commit against the reference replica.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "conect/crdt/ops.h"
#include "conect/storage/store.h"
#include "history.h"

namespace conect::storage {
namespace {

using testing::open_store;
using testing::TempDir;
using testing::test_options;

FederationId federation() { return testkit::test_federation(); }

std::vector<VerifiedDelta> chain_of(testkit::Author& a, int n) {
  std::vector<VerifiedDelta> out;
  for (int i = 0; i < n; ++i) {
    v1::Placement p;
    p.set_trade("cooking");
    p.set_status(v1::PLACEMENT_OPEN);
    auto* w = p.add_windows();
    w->set_window_id(1);
    w->set_capacity(2);
    out.push_back(a.emit(ops::create_placement(a.next_key(v1::PLACEMENT), p)));
  }
  return out;
}

class ApplyRandom : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(ApplyRandom, StoreEqualsReplica) {
  TempDir t;
  auto s = open_store(t / "store");
  ASSERT_TRUE(s);
  auto h = testing::random_history({.authors = 5, .deltas = 250, .seed = GetParam()});
  std::mt19937_64 rng(GetParam() * 7919);
  testing::deliver_randomly(*s, h, rng);
  Replica replica = testing::replica_of(h);
  ASSERT_GT(replica.records().size(), 50u);
  testing::expect_same_state(*s, replica);

  // The same state after a reopen (nothing lives only in memory).
  s.reset();
  s = open_store(t / "store");
  testing::expect_same_state(*s, replica);
}

INSTANTIATE_TEST_SUITE_P(Seeds, ApplyRandom, ::testing::Values(1, 2, 3, 4, 5, 6));

TEST(Apply, HistoryCarriesRejectionsAndErasures) {
  // The generator must exercise what the storage special-cases.
  auto h = testing::random_history({.authors = 5, .deltas = 250, .seed = 3});
  Replica r = testing::replica_of(h);
  std::size_t rejected = 0, erased = 0, confirmed = 0;
  for (const auto& [key, rec] : r.records()) {
    rejected += static_cast<std::size_t>(rec.state.rejected_size());
    erased += static_cast<std::size_t>(rec.state.erased_size());
    if (rec.state.has_reservation() && rec.state.reservation().decision() == v1::RESERVATION_CONFIRMED) ++confirmed;
  }
  EXPECT_GT(rejected, 0u);
  EXPECT_GT(erased, 0u);
  EXPECT_GT(confirmed, 0u);
}

TEST(Apply, DuplicatesAreCountedNotReapplied) {
  TempDir t;
  auto s = open_store(t / "store");
  testkit::Author a(1);
  auto chain = chain_of(a, 5);
  auto first = s->apply({chain[0], chain[1], chain[2]});
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->applied.size(), 3u);
  auto digest = *s->digest();
  auto again = s->apply({chain[1], chain[2], chain[3], chain[3]});
  ASSERT_TRUE(again.ok());
  ASSERT_EQ(again->duplicates.size(), 3u);
  EXPECT_EQ(again->duplicates[0].seq.value, 2u);
  EXPECT_EQ(again->duplicates[2].seq.value, 4u);
  ASSERT_EQ(again->applied.size(), 1u);
  EXPECT_EQ(again->applied[0].id, chain[3].id);
  EXPECT_NE(s->digest()->hex(), digest.hex());
  EXPECT_EQ(s->digest()->hex(), s->digest_recomputed()->hex());
}

TEST(Apply, GapOrBrokenLinkRejectsTheRestOfThatOrigin) {
  TempDir t;
  auto s = open_store(t / "store");
  testkit::Author a(1), b(2);
  auto ca = chain_of(a, 5);
  auto cb = chain_of(b, 2);
  // a: 1, 3 (gap), 4 ; b: 1, 2 keep going.
  auto out = s->apply({ca[0], ca[2], cb[0], ca[3], cb[1]});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->applied.size(), 3u);
  ASSERT_EQ(out->rejected.size(), 2u);
  EXPECT_TRUE(out->rejected[0].reason.is(Errc::sequence_gap)) << out->rejected[0].reason.message();
  EXPECT_EQ(out->rejected[0].delta.seq.value, 3u);
  EXPECT_TRUE(out->rejected[1].reason.is(Errc::sequence_gap));
  EXPECT_EQ((*s->head(a.id()))->seq.value, 1u);
  EXPECT_EQ((*s->head(b.id()))->seq.value, 2u);

  // A delta at head+1 that links elsewhere is broken_chain and kept as evidence.
  testkit::Author fork(1);
  fork.emit({});
  fork.emit({});  // differs from ca[1]
  VerifiedDelta third = fork.emit({});
  auto bad = s->apply({third});  // seq 3 but head is 1: a gap
  ASSERT_TRUE(bad.ok());
  EXPECT_TRUE(bad->rejected.at(0).reason.is(Errc::sequence_gap));
  ASSERT_TRUE(s->apply({ca[1]}).ok());
  bad = s->apply({third});  // seq 3 now follows head 2, but links to the fork's 2
  ASSERT_TRUE(bad.ok());
  ASSERT_EQ(bad->rejected.size(), 1u);
  EXPECT_TRUE(bad->rejected[0].reason.is(Errc::broken_chain));
  auto ev = s->evidence();
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_TRUE((*ev)[0].has_rejected_delta());
  EXPECT_EQ((*ev)[0].rejected_delta().reason(), "broken_chain");
}

TEST(Apply, DependenciesMustBeStoredFirst) {
  TempDir t;
  auto s = open_store(t / "store");
  testkit::Author a(1), b(2);
  auto ca = chain_of(a, 2);
  VerifiedDelta db = b.emit({}, {delta_ref(ca[1])});
  auto out = s->apply({db});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->rejected.size(), 1u);
  EXPECT_TRUE(out->rejected[0].reason.is(Errc::sequence_gap));
  EXPECT_FALSE(*s->head(b.id()));
  // Everything in one batch, dependency first: accepted.
  out = s->apply({ca[0], ca[1], db});
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(out->applied.size(), 3u);
}

// A chain with a fork at seq 2: chain[0..n) and the other delta at seq 2.
std::pair<std::vector<VerifiedDelta>, VerifiedDelta> forked_chain(testkit::Author& a, int n) {
  std::vector<VerifiedDelta> chain = chain_of(a, 1);
  VerifiedDelta fork = a.emit_fork(ops::create_placement(a.next_key(v1::PLACEMENT), v1::Placement()));
  for (auto& d : chain_of(a, n - 1)) chain.push_back(std::move(d));
  return {std::move(chain), std::move(fork)};
}

TEST(Apply, EquivocationIsKeptAndFreezesLikeTheReplica) {
  TempDir t;
  auto s = open_store(t / "store");
  testkit::Author a(1), honest(2);
  auto [ca, forked] = forked_chain(a, 3);
  ASSERT_EQ(forked.seq.value, 2u);
  ASSERT_NE(forked.id, ca[1].id);
  auto ch = chain_of(honest, 2);

  Replica r;
  for (const auto* d : {&ca[0], &ca[1], &ca[2], &ch[0], &forked, &ch[1]}) (void)r.apply(*d);
  ASSERT_TRUE(r.frozen_at(a.id()));

  auto out = s->apply({ca[0], ca[1], ca[2], ch[0]});
  ASSERT_TRUE(out.ok());
  auto before = *s->digest();
  out = s->apply({forked, ch[1]});
  ASSERT_TRUE(out.ok());
  ASSERT_EQ(out->equivocations.size(), 1u);
  EXPECT_EQ(out->equivocations[0].id, forked.id);
  EXPECT_EQ(out->applied.size(), 1u);
  EXPECT_NE(s->digest()->hex(), before.hex());  // a's seq 2 and 3 no longer count
  EXPECT_EQ((*s->head(a.id()))->frozen_at.value, 2u);
  auto ev = *s->evidence();
  ASSERT_EQ(ev.size(), 1u);
  ASSERT_TRUE(ev[0].has_equivocation());
  testing::expect_same_state(*s, r);

  // Nothing of a beyond the fork is taken again.
  auto later = s->apply({a.emit({})});
  ASSERT_TRUE(later.ok());
  ASSERT_EQ(later->rejected.size(), 1u);
  EXPECT_TRUE(later->rejected[0].reason.is(Errc::equivocation));
  testing::expect_same_state(*s, r);
}

TEST(Apply, EvidenceFromElsewhereFreezes) {
  TempDir t;
  auto s = open_store(t / "store");
  testkit::Author a(1);
  auto [ca, other] = forked_chain(a, 4);
  ASSERT_TRUE(s->apply(ca).ok());
  Replica r;
  for (const auto& d : ca) (void)r.apply(d);
  ASSERT_TRUE(r.apply_evidence(ca[1], other).ok());
  ASSERT_TRUE(s->add_equivocation(ca[1], other).ok());
  EXPECT_TRUE(s->add_equivocation(ca[1], ca[1]).error().is(Errc::invalid_argument));
  testing::expect_same_state(*s, r);
  EXPECT_EQ(s->counts()->at(v1::PLACEMENT), 1u);
}

TEST(Apply, BatchIsAtomicUnderInjectedFaults) {
  TempDir t;
  std::atomic<std::int64_t> fail_at{-1};
  std::atomic<std::uint64_t> writes{0};
  StoreOptions o = test_options();
  o.fault_injection = [&](std::uint64_t i) -> Status {
    writes = i + 1;
    if (static_cast<std::int64_t>(i) == fail_at.load()) return Error(Errc::io_error, "injected");
    return Status::Ok();
  };
  auto s = open_store(t / "store", o);
  auto h = testing::random_history({.authors = 3, .deltas = 60, .seed = 11});
  std::vector<VerifiedDelta> head(h.deltas.begin(), h.deltas.begin() + 30);
  std::vector<VerifiedDelta> tail(h.deltas.begin() + 30, h.deltas.end());
  ASSERT_TRUE(s->apply(head).ok());

  auto snapshot = [&] {
    std::string out = s->digest()->hex();
    auto vv = s->version_vector().value();
    for (const auto& [origin, info] : vv) out += origin.hex() + std::to_string(info.seq.value);
    auto counts = s->counts().value();
    for (const auto& [type, n] : counts) out += "/" + std::to_string(n);
    out += std::to_string(s->evidence()->size());
    for (auto type : {v1::PLACEMENT, v1::RESERVATION, v1::MOBILITY}) {
      auto page = s->list(type, "", 1000).value();
      for (const auto& v : page.items) out += serialize_state(v.state);
    }
    return out;
  };
  std::string before = snapshot();
  // Count the writes of the tail batch in a dry run that fails at its end.
  writes = 0;
  fail_at = 1'000'000;
  ASSERT_TRUE(s->apply(tail).ok());
  std::uint64_t total = writes.load();
  ASSERT_GT(total, 50u);
  s.reset();
  std::filesystem::remove_all(t / "store");
  s = open_store(t / "store", o);
  fail_at = -1;
  ASSERT_TRUE(s->apply(head).ok());
  ASSERT_EQ(snapshot(), before);
  for (std::uint64_t k : {std::uint64_t{0}, std::uint64_t{1}, total / 3, total / 2, total - 2, total - 1}) {
    writes = 0;
    fail_at = static_cast<std::int64_t>(k);
    auto r = s->apply(tail);
    ASSERT_FALSE(r.ok()) << "no failure at write " << k;
    EXPECT_NE(r.error().detail.find("injected"), std::string::npos);
    EXPECT_EQ(snapshot(), before) << "trace left by a batch that failed at write " << k;
  }
  fail_at = -1;
  ASSERT_TRUE(s->apply(tail).ok());
  testing::expect_same_state(*s, testing::replica_of(h));
}

TEST(Author, AssignsSeqAndHlcThatSurviveRestartAndClockJumps) {
  TempDir t;
  KeyPair key = testkit::test_key(1);
  Hlc last;
  {
    auto s = open_store(t / "store");
    ASSERT_TRUE(s->initialise(federation(), key.public_key()).ok());
    for (int i = 0; i < 3; ++i) {
      auto d = s->author(key, DeltaDraft{}, 5'000'000);
      ASSERT_TRUE(d.ok()) << d.error().message();
      EXPECT_EQ(d->seq.value, static_cast<std::uint64_t>(i + 1));
      EXPECT_GT(d->hlc, last);
      ASSERT_TRUE(verify_single(federation(), d->signed_delta).ok());
      last = d->hlc;
    }
  }
  auto s = open_store(t / "store");
  // The wall clock went back an hour: neither seq nor HLC is reused.
  auto d = s->author(key, DeltaDraft{}, 5'000'000 - 3'600'000);
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->seq.value, 4u);
  EXPECT_GT(d->hlc, last);
  auto third = s->deltas_from(key.public_key(), Seq{3}, 1, 1 << 20);
  ASSERT_TRUE(third.ok() && third->size() == 1);
  EXPECT_EQ(d->prev, decode_delta(federation(), (*third)[0])->id);
}

TEST(Author, FollowsReceivedClocksWithinTheDriftBound) {
  TempDir t;
  KeyPair key = testkit::test_key(1);
  auto s = open_store(t / "store");
  ASSERT_TRUE(s->initialise(federation(), key.public_key()).ok());
  testkit::Author near(2), far(3);
  const std::uint64_t now = 10'000'000;
  ASSERT_TRUE(s->apply({near.emit({}, {}, now + 5'000)}).ok());
  auto d = s->author(key, DeltaDraft{}, now);
  ASSERT_TRUE(d.ok());
  EXPECT_GT(d->hlc.millis(), now + 4'999);  // follows a clock 5 s ahead
  ASSERT_TRUE(s->apply({far.emit({}, {}, now + 3'600'000)}).ok());
  d = s->author(key, DeltaDraft{}, now + 10);
  ASSERT_TRUE(d.ok());
  EXPECT_LT(d->hlc.millis(), now + 3'600'000);  // but not one an hour ahead
}

TEST(Author, MintsPlaceholderIdsAndRefusesStrangers) {
  TempDir t;
  KeyPair key = testkit::test_key(1);
  auto s = open_store(t / "store");
  auto refused = s->author(key, DeltaDraft{}, 1);
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(refused.error().is(Errc::invalid_argument));
  ASSERT_TRUE(s->initialise(federation(), key.public_key()).ok());
  refused = s->author(testkit::test_key(2), DeltaDraft{}, 1);
  EXPECT_TRUE(refused.error().is(Errc::invalid_argument));

  ASSERT_TRUE(s->author(key, DeltaDraft{}, 1).ok());  // seq 1
  v1::Placement p;
  p.set_trade("welding");
  p.set_status(v1::PLACEMENT_OPEN);
  p.add_languages()->set_lang("fi");
  DeltaDraft draft;
  draft.ops = ops::create_placement(RecordKey{v1::PLACEMENT, {}, 0}, p);
  auto d = s->author(key, draft, 2);
  ASSERT_TRUE(d.ok());
  RecordKey minted = RecordKey::mint(v1::PLACEMENT, key.public_key(), Seq{2}, 0);
  auto rec = s->record(minted);
  ASSERT_TRUE(rec.ok() && *rec);
  EXPECT_TRUE((*rec)->created());
  EXPECT_EQ((*rec)->placement().languages_size(), 1);
  EXPECT_EQ((*rec)->rejected_size(), 0);
}

TEST(Author, SixteenConcurrentWritersMakeOneGapFreeChain) {
  TempDir t;
  KeyPair key = testkit::test_key(1);
  auto s = open_store(t / "store");
  ASSERT_TRUE(s->initialise(federation(), key.public_key()).ok());
  std::mutex mu;
  std::vector<std::pair<std::uint64_t, DeltaId>> hooked;
  std::atomic<int> hook_calls{0};
  Store* raw = s.get();
  s->set_on_committed([&](std::span<const VerifiedDelta> ds) {
    ++hook_calls;
    std::lock_guard lock(mu);
    for (const auto& d : ds) {
      // Pushed only after commit: a reader already sees it.
      auto h = raw->head(d.origin);
      EXPECT_TRUE(h.ok() && *h && (*h)->seq >= d.seq);
      hooked.emplace_back(d.seq.value, d.id);
    }
  });
  constexpr int kThreads = 16, kEach = 12;
  std::vector<std::vector<std::pair<std::uint64_t, DeltaId>>> acks(kThreads);
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i)
    threads.emplace_back([&, i] {
      for (int j = 0; j < kEach; ++j) {
        auto d = s->author(key, DeltaDraft{}, 1'000'000 + static_cast<std::uint64_t>(j));
        ASSERT_TRUE(d.ok()) << d.error().message();
        acks[static_cast<std::size_t>(i)].emplace_back(d->seq.value, d->id);
      }
    });
  for (auto& th : threads) th.join();

  std::map<std::uint64_t, DeltaId> all;
  for (const auto& a : acks)
    for (const auto& [seq, id] : a) EXPECT_TRUE(all.emplace(seq, id).second) << "seq " << seq << " acked twice";
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kThreads * kEach));
  EXPECT_EQ(all.begin()->first, 1u);
  EXPECT_EQ(all.rbegin()->first, static_cast<std::uint64_t>(kThreads * kEach));

  auto bytes = s->deltas_from(key.public_key(), Seq{1}, 10'000, 1u << 30);
  ASSERT_TRUE(bytes.ok());
  std::vector<v1::SignedDelta> range;
  for (const auto& b : *bytes) range.emplace_back().ParseFromString(b);
  auto verified = verify_range(federation(), DeltaId{}, range);
  ASSERT_TRUE(verified.ok()) << verified.error().message();
  for (const auto& d : *verified) EXPECT_EQ(all.at(d.seq.value), d.id);

  std::lock_guard lock(mu);
  ASSERT_EQ(hooked.size(), all.size());
  for (std::size_t i = 0; i < hooked.size(); ++i) EXPECT_EQ(hooked[i].first, i + 1) << "hook out of commit order";
  EXPECT_LE(hook_calls.load(), kThreads * kEach);
}

TEST(Apply, ErasureDropsTheBlobForGood) {
  TempDir t;
  KeyPair key = testkit::test_key(1);
  auto s = open_store(t / "store");
  ASSERT_TRUE(s->initialise(federation(), key.public_key()).ok());
  Hash256 commitment = blake2b256("salt|Anna");
  ASSERT_TRUE(s->put_blob(commitment, "sealed").ok());
  v1::Contact c;
  c.set_display_name("Coordinator");
  c.mutable_personal()->set_commitment(commitment.raw());
  DeltaDraft create;
  create.ops = ops::create_contact(RecordKey{v1::CONTACT, {}, 0}, c);
  auto d = s->author(key, create, 1);
  ASSERT_TRUE(d.ok());
  RecordKey contact = RecordKey::mint(v1::CONTACT, key.public_key(), Seq{1}, 0);
  DeltaDraft erase;
  erase.ops.push_back(ops::erase(contact, commitment));
  ASSERT_TRUE(s->author(key, erase, 2).ok());
  EXPECT_FALSE(*s->blob(commitment));
  EXPECT_TRUE(s->put_blob(commitment, "sealed").error().is(Errc::not_authorised));
  EXPECT_EQ((*s->record(contact))->erased_size(), 1);
}

}  // namespace
}  // namespace conect::storage
