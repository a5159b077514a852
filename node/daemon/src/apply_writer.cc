#include "apply_writer.h"

#include <boost/asio/post.hpp>

#include <malloc.h>

#include "conect/node/apply_batch.h"
#include "conect/node/log.h"
#include "conect/node/thread_name.h"

namespace conect::node {

ApplyWriter::ApplyWriter(DaemonCore& core) : core_(core), trim_timer_(core.strand) {
  asio::post(writer_, [] { name_this_thread("conect-writer"); });
}

namespace {

void count_outcome(DaemonCore& core, const storage::ApplyOutcome& outcome) {
  core.count("conect_deltas_applied_total", "Deltas received from peers and stored", {}, outcome.applied.size());
  core.count("conect_deltas_duplicate_total", "Deltas received that were already stored", {},
             outcome.duplicates.size());
  for (const auto& r : outcome.rejected) {
    core.count("conect_deltas_rejected_total", "Deltas refused, by reason",
               {{"reason", errc_name(static_cast<Errc>(r.reason.code.value()))}});
    log::warn("delta_rejected", {{"origin", short_id(r.delta.origin)},
                                 {"seq", std::to_string(r.delta.seq.value)},
                                 {"reason", r.reason.message()}});
  }
}

}  // namespace

void ApplyWriter::apply(sync::ApplyBatchAction a, std::function<void(const sync::ApplyResult&)> done) {
  ++in_flight_;
  enqueue({std::move(a), std::move(done), std::nullopt});
}

void ApplyWriter::store_evidence(sync::StoreEvidenceAction a) {
  log::warn("equivocation", {{"origin", short_id(a.origin)}, {"seq", std::to_string(a.seq.value)}});
  core_.count("conect_equivocations_total", "Equivocation evidence stored");
  enqueue({std::nullopt, nullptr, std::move(a)});
}

void ApplyWriter::enqueue(Queued q) {
  {
    std::lock_guard lock(queue_mu_);
    queue_.push_back(std::move(q));
    if (draining_) return;
    draining_ = true;
  }
  asio::post(writer_, [this, keep = core_.alive()] { drain(); });
}

void ApplyWriter::drain() {
  // At most what the store commits in one group (StoreOptions::
  // max_group_deltas), so that every batch's outcome goes back after the
  // commit that holds it, not after the last of several.
  constexpr std::size_t kDeltasPerCommit = 4096;
  for (;;) {
    std::vector<Queued> taken;
    {
      std::lock_guard lock(queue_mu_);
      if (queue_.empty()) {
        draining_ = false;
        return;
      }
      std::size_t deltas = 0;
      if (queue_.front().evidence) {
        taken.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } else {
        while (!queue_.empty() && queue_.front().apply &&
               (taken.empty() || deltas + queue_.front().apply->deltas.size() <= kDeltasPerCommit)) {
          deltas += queue_.front().apply->deltas.size();
          taken.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
    }
    if (taken.front().evidence) {
      const sync::StoreEvidenceAction& e = *taken.front().evidence;
      if (Status st = core_.store.add_equivocation(e.first, e.second); !st.ok())
        log::error("evidence_not_stored", {{"reason", st.error().message()}});
      continue;
    }
    auto t0 = Clock::now();
    std::size_t n = 0;
    std::vector<std::vector<VerifiedDelta>> batches;
    batches.reserve(taken.size());
    for (auto& q : taken) {
      n += q.apply->deltas.size();
      batches.push_back(std::move(q.apply->deltas));
    }
    std::vector<BatchOutcome> applied = apply_batches(core_.store, std::move(batches));
    auto secs = std::chrono::duration<double>(Clock::now() - t0).count();
    core_.write_seconds("apply").observe(secs);
    for (const auto& a : applied)
      if (a.outcome) count_outcome(core_, *a.outcome);
    if (n >= 256)
      log::debug("batch_applied",
                 {{"batches", std::to_string(taken.size())},
                  {"deltas", std::to_string(n)},
                  {"per_second", std::to_string(static_cast<std::uint64_t>(n / std::max(secs, 1e-6)))}});
    for (std::size_t i = 0; i < taken.size(); ++i) {
      sync::ApplyResult result{taken[i].apply->apply_id, applied[i].status};
      asio::post(core_.strand, [this, keep = core_.alive(), result, done = std::move(taken[i].done)] {
        --in_flight_;
        if (in_flight_ == 0) trim_memory();
        done(result);
      });
    }
  }
}

// Decoded deltas take several times their wire size; once a catch-up's
// batches are applied glibc keeps their pages, so hand them back (at most
// once a second) and an idle node's footprint reflects what it holds.
// A trim skipped by that limit is made up a second later, or the last
// batches of a fast catch-up would stay with the allocator.
void ApplyWriter::trim_memory() {
  auto t = Clock::now();
  if (t - last_trim_ < std::chrono::seconds(1)) {
    if (trim_pending_) return;
    trim_pending_ = true;
    trim_timer_.expires_at(last_trim_ + std::chrono::seconds(1));
    trim_timer_.async_wait([this, keep = core_.alive()](boost::system::error_code ec) {
      trim_pending_ = false;
      if (!ec && !core_.stopping && in_flight_ == 0) trim_memory();
    });
    return;
  }
  last_trim_ = t;
  malloc_trim(0);
}

void ApplyWriter::stop() { trim_timer_.cancel(); }
void ApplyWriter::join() { writer_.join(); }

}  // namespace conect::node
