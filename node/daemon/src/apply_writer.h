// The store's writer for the sync engine. Commits block on fsync, so the
// ApplyBatches run on a thread of their own, in the order given, and each
// outcome is posted back to the node strand. What queued up while a commit
// was flushing goes into the next one together (Store::apply_each: one
// transaction, an outcome per batch): in a catch-up every commit rewrites
// the index and branch pages its batches touched, so fewer, larger commits
// write less. Equivocation evidence is stored through the same queue.
// After a catch-up it hands the freed heap back to the OS.
//
// Thread-safety: apply(), store_evidence() and in_flight() on the node
// strand; `done` callbacks run there too.
#pragma once

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <deque>
#include <functional>
#include <mutex>
#include <optional>

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
  struct Queued {
    std::optional<sync::ApplyBatchAction> apply;
    std::function<void(const sync::ApplyResult&)> done;
    std::optional<sync::StoreEvidenceAction> evidence;
  };
  void enqueue(Queued q);
  void drain();  // on the writer thread, until the queue is empty
  void trim_memory();

  DaemonCore& core_;
  std::mutex queue_mu_;
  std::deque<Queued> queue_;  // guarded by queue_mu_
  bool draining_ = false;     // guarded by queue_mu_: a drain() is posted or running
  asio::thread_pool writer_{1};
  asio::steady_timer trim_timer_;
  std::size_t in_flight_ = 0;
  Clock::time_point last_trim_{};
  bool trim_pending_ = false;
};

}  // namespace conect::node
