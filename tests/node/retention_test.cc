// Retention of mobility personal data (node/daemon retention.h): the
// deadline rule, and the sweeper over a real store with an injected clock
// (no waiting for days), erasing with a signed Erase as `erase` would.
#include "conect/node/retention.h"

#include <gtest/gtest.h>

#include "conect/api/metrics.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/author.h"
#include "history.h"

namespace conect::node {
namespace {

using storage::testing::TempDir;

constexpr std::int32_t kDay2026 = 20'454;  // 2026-01-01, days since 1970-01-01
constexpr std::uint64_t ms_of_day(std::int64_t day) { return static_cast<std::uint64_t>(day) * kDayMs; }

v1::Mobility mobility(std::optional<std::int32_t> planned_end, std::optional<std::int32_t> departure,
                      v1::MobilityStatus status = v1::MOBILITY_LIVE) {
  v1::Mobility m;
  if (planned_end) m.mutable_sending()->mutable_planned_end()->set_days(*planned_end);
  if (departure) m.mutable_host()->mutable_actual_departure()->set_days(*departure);
  m.mutable_sending()->set_status(status);
  return m;
}

TEST(RetentionDeadline, CountsFromTheEndOfTheLaterOfPlannedEndAndDeparture) {
  // Planned end only: N days after the end of that day.
  EXPECT_EQ(retention_deadline_ms(mobility(kDay2026, {}), {}, 30), ms_of_day(kDay2026 + 1 + 30));
  // A later departure (the student stayed on) moves it later ...
  EXPECT_EQ(retention_deadline_ms(mobility(kDay2026, kDay2026 + 10), {}, 30), ms_of_day(kDay2026 + 11 + 30));
  // ... an earlier one (went home early) does not bring it forward.
  EXPECT_EQ(retention_deadline_ms(mobility(kDay2026, kDay2026 - 10), {}, 30), ms_of_day(kDay2026 + 1 + 30));
  // Departure only.
  EXPECT_EQ(retention_deadline_ms(mobility({}, kDay2026), {}, 1), ms_of_day(kDay2026 + 2));
  // Nothing says it ended: kept.
  EXPECT_EQ(retention_deadline_ms(mobility({}, {}), {}, 30), std::nullopt);
  // Off.
  EXPECT_EQ(retention_deadline_ms(mobility(kDay2026, {}), {}, 0), std::nullopt);
}

TEST(RetentionDeadline, ACancelledMobilityCountsFromItsCancellation) {
  const std::uint64_t cancelled = ms_of_day(kDay2026) + 12'345;
  // Whatever its planned dates (here far in the future).
  EXPECT_EQ(retention_deadline_ms(mobility(kDay2026 + 400, {}, v1::MOBILITY_CANCELLED), cancelled, 7),
            cancelled + 7 * kDayMs);
}

// A store that owns mobilities whose participant's personal data it holds.
struct Node {
  TempDir dir;
  std::unique_ptr<storage::Store> store = storage::testing::open_store(dir / "store");
  KeyPair key = testkit::test_key(1);
  std::uint64_t now = ms_of_day(kDay2026);
  api::Metrics metrics;
  Node() { EXPECT_TRUE(store->initialise(testkit::test_federation(), key.public_key()).ok()); }

  RetentionSweeper::Author author() {
    return [this](DeltaDraft d) { return store->author(key, std::move(d), now); };
  }
  RetentionSweeper sweeper(std::uint32_t days, RetentionSweeper::Author a = {}) {
    return RetentionSweeper(*store, key.public_key(), metrics, a ? a : author(), [this] { return now; },
                            {days, std::chrono::milliseconds(60'000)});
  }
  // A mobility this node sends, with personal data held here.
  struct Made {
    RecordKey key;
    Hash256 commitment;
  };
  Made add_mobility(const std::string& name, std::optional<std::int32_t> planned_end) {
    const std::string plaintext = std::string(16, 's') + R"({"name":")" + name + R"("})";
    Hash256 c = blake2b256(plaintext);
    EXPECT_TRUE(store->put_blob(c, plaintext).ok());
    RecordKey org{v1::ORGANISATION, key.public_key(), 1};
    v1::MobilityFixed fixed;
    *fixed.mutable_sending_organisation() = org.to_proto();
    *fixed.mutable_receiving_organisation() =
        RecordKey{v1::ORGANISATION, testkit::test_key(2).public_key(), 1}.to_proto();
    fixed.mutable_participant()->set_pseudonym("FI-" + name);
    fixed.mutable_participant()->mutable_personal()->set_commitment(c.raw());
    fixed.set_type(v1::LEARNER_OTJ_COMPANY);
    fixed.set_category(v1::IVET_LEARNER);
    v1::MobilitySending s;
    if (planned_end) s.mutable_planned_end()->set_days(*planned_end);
    s.set_status(v1::MOBILITY_LIVE);
    DeltaDraft d;
    d.ops = ops::create_mobility(RecordKey{v1::MOBILITY, {}, 0}, fixed, &s);
    auto made = store->author(key, d, ++now);
    EXPECT_TRUE(made.ok()) << made.error().message();
    return {RecordKey::mint(v1::MOBILITY, key.public_key(), made->seq, 0), c};
  }
  void cancel(const RecordKey& m) {
    v1::MobilitySending s;
    s.set_status(v1::MOBILITY_CANCELLED);
    DeltaDraft d;
    d.ops.push_back(ops::write_mobility_sending(m, s, {v1::MobilitySending::kStatusFieldNumber}));
    ASSERT_TRUE(store->author(key, d, now).ok());
  }
  bool held(const Hash256& c) { return store->blob(c)->has_value(); }
  bool erased(const RecordKey& m) { return (*store->record(m))->erased_size() == 1; }
  std::uint64_t erased_metric() { return metrics.counter("conect_personal_data_retention_erased_total", "").value(); }
};

TEST(RetentionSweeper, ErasesOnlyOnceTheDeadlinePassedAndOnlyOnce) {
  Node n;
  auto ended = n.add_mobility("Aino", kDay2026);
  auto later = n.add_mobility("Eero", kDay2026 + 100);
  auto open = n.add_mobility("Liisa", std::nullopt);
  auto sweeper = n.sweeper(30);

  n.now = ms_of_day(kDay2026 + 1 + 30) - 1;  // one millisecond early
  EXPECT_EQ(*sweeper.sweep(), 0u);
  EXPECT_TRUE(n.held(ended.commitment));

  n.now += 1;
  EXPECT_EQ(*sweeper.sweep(), 1u);
  EXPECT_FALSE(n.held(ended.commitment));
  EXPECT_TRUE(n.erased(ended.key));         // a signed Erase, as `conect-node erase` writes
  EXPECT_TRUE(*n.store->compaction_due());  // and the compactor takes it off the disk
  EXPECT_TRUE(n.held(later.commitment));
  EXPECT_TRUE(n.held(open.commitment));
  EXPECT_EQ(n.erased_metric(), 1u);
  // Erased once: the next sweep finds nothing more to do.
  EXPECT_EQ(*sweeper.sweep(), 0u);
  EXPECT_EQ(n.erased_metric(), 1u);

  // Years later, the open-ended one is still kept: nothing says it ended.
  n.now = ms_of_day(kDay2026 + 3650);
  EXPECT_EQ(*sweeper.sweep(), 1u);
  EXPECT_FALSE(n.held(later.commitment));
  EXPECT_TRUE(n.held(open.commitment));
}

TEST(RetentionSweeper, ACancelledMobilityIsErasedThatLongAfterItsCancellation) {
  Node n;
  auto m = n.add_mobility("Aino", kDay2026 + 200);  // planned far ahead
  n.now = ms_of_day(kDay2026 + 5);
  n.cancel(m.key);
  auto sweeper = n.sweeper(7);
  n.now = ms_of_day(kDay2026 + 12) - 1;
  EXPECT_EQ(*sweeper.sweep(), 0u);
  n.now += 1;
  EXPECT_EQ(*sweeper.sweep(), 1u);
  EXPECT_FALSE(n.held(m.commitment));
}

TEST(RetentionSweeper, OffByDefaultAndWaitsWhileTheNodeMayNotAuthor) {
  Node n;
  auto m = n.add_mobility("Aino", kDay2026 - 1000);
  n.now = ms_of_day(kDay2026 + 10'000);
  EXPECT_EQ(*n.sweeper(0).sweep(), 0u);  // 0 = off
  EXPECT_TRUE(n.held(m.commitment));
  // A store restored from a backup authors nothing until it caught up: the
  // sweeper erases nothing then, and does at a later sweep.
  auto refused = [](DeltaDraft) -> Result<VerifiedDelta> {
    return Error(Errc::not_authorised, "this store is fenced (restored from a backup)");
  };
  EXPECT_EQ(*n.sweeper(30, refused).sweep(), 0u);
  EXPECT_TRUE(n.held(m.commitment));
  EXPECT_EQ(*n.sweeper(30).sweep(), 1u);
  EXPECT_FALSE(n.held(m.commitment));
}

}  // namespace
}  // namespace conect::node
