// The store's writer for the sync engine. Commits block on fsync, so each
// ApplyBatch runs on a thread of its own, in the order given, as one write
// transaction (apply_batch, shared with the simulator), and its outcome is
// posted back to the node strand. Equivocation evidence is stored the same
// way. After a catch-up it hands the freed heap back to the OS.
//
// Thread-safety: apply(), store_evidence() and in_flight() on the node
// strand; `done` callbacks run there too.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <functional>

#include "conect/sync/engine.h"
#include "daemon_core.h"

namespace conect::node {

class ApplyWriter {
 public:
  explicit ApplyWriter(DaemonCore& core);

  // Applies `a`; `done(result)` runs on the node strand afterwards.
  void apply(sync::ApplyBatchAction a, std::function<void(const sync::ApplyResult&)> done);
  void store_evidence(sync::StoreEvidenceAction a);
  // ApplyBatches handed over and not yet reported done.
  std::size_t in_flight() const { return in_flight_; }

  void stop();  // cancels the trim timer
  void join();  // waits for the writer thread (after stop, at destruction)

 private:
  void trim_memory();

  DaemonCore& core_;
  asio::thread_pool writer_{1};
  asio::steady_timer trim_timer_;
  std::size_t in_flight_ = 0;
  Clock::time_point last_trim_{};
  bool trim_pending_ = false;
};

}  // namespace conect::node
