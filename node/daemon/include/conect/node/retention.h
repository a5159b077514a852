// Retention of mobility personal data (DESIGN §5, docs/privacy.md
// "Retention"): with `[privacy] retain_mobility_personal_data_days = N`
// (0, the default, is off), the node that owns a mobility erases its
// participant's personal data N days after the mobility ended, exactly as
// `conect-node erase` would (a signed Erase that every audience node
// applies), then the compactor takes it off the disk.
//
// "Ended" is the later of the planned end and the actual departure (the end
// of that day, UTC); for a cancelled mobility, the moment it was cancelled
// (the time of the signed write that set the status). A mobility with
// neither date that is not cancelled is kept: nothing says it ended.
//
// The sweeper checks at start and then every `every`; the clock is
// injectable so tests move time instead of waiting. It authors through the
// daemon's author function, so an auditor, or a store fenced after a
// restore, erases nothing (and says so in the log) until it may author.
// Log: personal_data_retention_erased (record, days); metric
// conect_personal_data_retention_erased_total.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

#include "conect/crdt/delta.h"
#include "conect/storage/store.h"

namespace conect::api {
class Metrics;
class Counter;
}  // namespace conect::api

namespace conect::node {

inline constexpr std::uint64_t kDayMs = 86'400'000;

// When the retention rule erases `m`'s personal data (ms since the epoch),
// or nullopt when it never does. `cancelled_ms`: when it was cancelled, for
// a cancelled mobility.
std::optional<std::uint64_t> retention_deadline_ms(const v1::Mobility& m, std::optional<std::uint64_t> cancelled_ms,
                                                   std::uint32_t days);

// The time of the newest signed write that set `key`'s status to
// CANCELLED (its HLC's physical part), from the record's history.
Result<std::optional<std::uint64_t>> cancelled_at_ms(const storage::Store& store, const RecordKey& key);

class RetentionSweeper {
 public:
  using Author = std::function<Result<VerifiedDelta>(DeltaDraft)>;
  using Clock = std::function<std::uint64_t()>;  // wall-clock ms since the epoch
  struct Options {
    std::uint32_t days = 0;  // 0: off
    std::chrono::milliseconds every{60'000};
  };
  RetentionSweeper(storage::Store& store, NodeId self, api::Metrics& metrics, Author author, Clock clock,
                   Options options);
  ~RetentionSweeper();
  RetentionSweeper(const RetentionSweeper&) = delete;
  RetentionSweeper& operator=(const RetentionSweeper&) = delete;

  // One pass over this node's own mobilities: erases every one that is due;
  // returns how many it erased.
  Result<std::size_t> sweep();
  // Sweeps now and then every `every`, on a thread of its own (not when off).
  void start();

 private:
  storage::Store& store_;
  NodeId self_;
  Author author_;
  Clock clock_;
  Options options_;
  api::Counter& erased_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace conect::node
