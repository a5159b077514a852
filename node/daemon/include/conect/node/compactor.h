// Erasure reaches the disk (DESIGN §5, docs/privacy.md "Erasure"): the
// daemon compacts its store after an erasure, within a bounded time.
//
// LMDB keeps freed pages as they were, so an erased participant's name stays
// in data.mdb until the page happens to be reused. Every commit that
// tombstones a blob this node held marks the store as due
// (Store::compaction_due, kept across restarts); a thread of its own checks
// the mark every `check_every` and then runs Store::compact, which swaps in
// a compacting copy while this process's transactions wait. At most one
// compaction per `min_interval`, so a burst of erasures (a retention sweep,
// a peer's catch-up) costs one copy, not one per erasure.
//
// Bound: an erasure committed at time t has left the live data.mdb by
// t + max(check_every, what is left of min_interval) + the copy's duration
// (docs/performance.md), provided no other process keeps the store open
// (a CLI command such as `audit export`: then it retries every check).
//
// Growth (docs/performance.md "Compaction in key order"): deltas from several
// origins land inside the trees keyed by origin or owner, where LMDB splits
// pages in half, so a store that a catch-up or a busy federation filled
// holds about a quarter more pages than its entries need; a copy in key
// order fills them again. So the compactor also runs once data.mdb has grown
// by `growth_factor` (and by at least `min_growth_bytes`) since the node
// opened it or last compacted it, but only after no commit for `quiet_for`:
// the copy holds every transaction of this process, and a catch-up or a
// burst of writes should not wait on it.
//
// Metrics: conect_store_compactions_total, conect_store_compaction_due
// (1 while erased plaintext may remain in data.mdb),
// conect_store_compaction_busy_total (postponed: another process had the
// store open), conect_store_compaction_last_ms. Log: store_compacted,
// store_compaction_postponed, store_compaction_failed.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "conect/storage/store.h"

namespace conect::api {
class Metrics;
class Counter;
class Gauge;
}  // namespace conect::api

namespace conect::node {

// When a store has grown enough to be worth compacting, and its writes have
// stopped (see above). Pure: the compactor feeds it what it reads each check.
class GrowthTrigger {
 public:
  using Clock = std::chrono::steady_clock;
  GrowthTrigger(double factor, std::uint64_t min_growth_bytes, std::chrono::milliseconds quiet_for);
  // The store as compacted (or as opened): growth counts from here.
  void reset(std::uint64_t used_bytes, std::uint64_t commit_id, Clock::time_point now);
  bool due(std::uint64_t used_bytes, std::uint64_t commit_id, Clock::time_point now);

 private:
  double factor_;
  std::uint64_t min_growth_bytes_;
  std::chrono::milliseconds quiet_for_;
  std::uint64_t baseline_bytes_ = 0;
  std::uint64_t commit_id_ = 0;
  Clock::time_point last_commit_seen_{};
};

class Compactor {
 public:
  struct Options {
    std::chrono::milliseconds check_every{1000};
    std::chrono::milliseconds min_interval{10'000};
    double growth_factor = 1.5;
    std::uint64_t min_growth_bytes = std::uint64_t{64} << 20;
    std::chrono::milliseconds quiet_for{10'000};
  };
  Compactor(storage::Store& store, api::Metrics& metrics, Options options);
  // Stops the thread (waiting for a compaction in progress).
  ~Compactor();
  Compactor(const Compactor&) = delete;
  Compactor& operator=(const Compactor&) = delete;

  // Starts checking (the first check runs at once: a mark left by a run that
  // stopped before compacting is served first).
  void start();

 private:
  void loop();
  void check();

  storage::Store& store_;
  Options options_;
  api::Counter& compactions_;
  api::Counter& busy_;
  api::Gauge& due_;
  api::Gauge& last_ms_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  bool postponed_ = false;  // logged once per episode, not every second
  std::chrono::steady_clock::time_point last_{};
  bool compacted_once_ = false;
  GrowthTrigger growth_;
  std::thread thread_;
};

}  // namespace conect::node
