// The daemon's compactor (node/daemon compactor.h): when a store's growth
// makes it due (a pure rule, with an injected clock), and the compaction it
// then runs on a real store filled by interleaved origins.
#include "conect/node/compactor.h"

#include <gtest/gtest.h>

#include <thread>

#include "conect/api/metrics.h"
#include "history.h"

namespace conect::node {
namespace {

using namespace std::chrono_literals;
using Clock = GrowthTrigger::Clock;

TEST(GrowthTrigger, DueOnceGrownByTheFactorAndTheMinimumAndNoCommitForTheQuietTime) {
  GrowthTrigger g(1.5, 1'000, 10s);
  const Clock::time_point t0 = Clock::time_point{} + 1h;
  g.reset(10'000, 5, t0);
  EXPECT_FALSE(g.due(14'999, 6, t0 + 1s)) << "below the factor";
  EXPECT_FALSE(g.due(15'000, 7, t0 + 2s)) << "grown, but a commit was just seen";
  EXPECT_FALSE(g.due(15'000, 7, t0 + 11s)) << "9 s without a commit";
  EXPECT_TRUE(g.due(15'000, 7, t0 + 12s));
  EXPECT_FALSE(g.due(15'000, 8, t0 + 13s)) << "writes started again";
  EXPECT_TRUE(g.due(15'000, 8, t0 + 23s));

  // Compacted: growth counts from the compacted size.
  g.reset(12'000, 9, t0 + 24s);
  EXPECT_FALSE(g.due(17'999, 9, t0 + 1h));
  EXPECT_TRUE(g.due(18'000, 9, t0 + 1h));
}

TEST(GrowthTrigger, ASmallStoreIsNotCompactedForGrowingByAFewPages) {
  GrowthTrigger g(1.5, std::uint64_t{64} << 20, 10s);
  const Clock::time_point t0 = Clock::time_point{} + 1h;
  g.reset(100'000, 1, t0);
  EXPECT_FALSE(g.due(std::uint64_t{60} << 20, 1, t0 + 1h)) << "600x, but 60 MiB";
  EXPECT_TRUE(g.due((std::uint64_t{64} << 20) + 100'000, 1, t0 + 1h));
}

// Placements from 8 origins in turn half-fill the trees keyed by origin or
// owner; once the writes stop, the compactor swaps in a copy in key order
// and the store shrinks. Without the growth rule nothing marks this store
// due (no erasure, no upgrade) and it keeps its size.
TEST(Compactor, CompactsAStoreThatGrewOnceItsWritesStop) {
  storage::testing::TempDir dir;
  auto store = storage::testing::open_store(dir / "store");
  api::Metrics metrics;
  Compactor::Options options;
  options.check_every = 5ms;
  options.min_interval = 0ms;
  options.min_growth_bytes = std::uint64_t{1} << 20;
  options.quiet_for = 200ms;
  Compactor compactor(*store, metrics, options);
  compactor.start();

  const auto deltas = storage::testing::interleaved_placements(4000, 8);
  for (std::size_t i = 0; i < deltas.size(); i += 200) {
    std::vector<VerifiedDelta> batch(deltas.begin() + static_cast<long>(i),
                                     deltas.begin() + static_cast<long>(std::min(deltas.size(), i + 200)));
    auto r = store->apply(std::move(batch));
    ASSERT_TRUE(r.ok()) << r.error().message();
  }
  const std::uint64_t grown = store->used_bytes();
  const std::uint64_t last_commit = store->last_commit_id();

  // A compaction that started while the batches were still coming (a
  // stall longer than the quiet time on a loaded machine) may have run
  // already; the one that counts starts after the last of them.
  auto& compactions = metrics.counter("conect_store_compactions_total", "");
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  // The swap shrinks the store before the compactor counts it: wait for both.
  while ((store->used_bytes() >= grown * 3 / 4 || compactions.value() == 0) &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(5ms);
  EXPECT_LT(store->used_bytes(), grown * 3 / 4) << "grown to " << grown << " B and not compacted";
  EXPECT_GE(compactions.value(), 1u);
  EXPECT_GT(store->last_commit_id(), last_commit) << "the commit id keeps growing across the swap";
  EXPECT_EQ(store->counts()->at(v1::PLACEMENT), deltas.size());
}

}  // namespace
}  // namespace conect::node
