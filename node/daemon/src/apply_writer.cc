#include "apply_writer.h"

#include <boost/asio/post.hpp>

#include <malloc.h>

#include "conect/node/apply_batch.h"
#include "conect/node/log.h"

namespace conect::node {

ApplyWriter::ApplyWriter(DaemonCore& core) : core_(core), trim_timer_(core.strand) {}

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
  asio::post(writer_, [this, keep = core_.alive(), a = std::move(a), done = std::move(done)]() mutable {
    auto t0 = Clock::now();
    const std::size_t n = a.deltas.size();
    BatchOutcome applied = apply_batch(core_.store, std::move(a.deltas));
    auto secs = std::chrono::duration<double>(Clock::now() - t0).count();
    core_.write_seconds("apply").observe(secs);
    if (applied.outcome) {
      count_outcome(core_, *applied.outcome);
      if (n >= 256)
        log::debug("batch_applied",
                   {{"origin", short_id(a.origin)},
                    {"deltas", std::to_string(n)},
                    {"per_second", std::to_string(static_cast<std::uint64_t>(n / std::max(secs, 1e-6)))}});
    }
    sync::ApplyResult result{a.apply_id, applied.status};
    asio::post(core_.strand, [this, keep, result, done = std::move(done)] {
      --in_flight_;
      if (in_flight_ == 0) trim_memory();
      done(result);
    });
  });
}

void ApplyWriter::store_evidence(sync::StoreEvidenceAction a) {
  log::warn("equivocation", {{"origin", short_id(a.origin)}, {"seq", std::to_string(a.seq.value)}});
  core_.count("conect_equivocations_total", "Equivocation evidence stored");
  asio::post(writer_, [this, keep = core_.alive(), a = std::move(a)] {
    if (Status st = core_.store.add_equivocation(a.first, a.second); !st.ok())
      log::error("evidence_not_stored", {{"reason", st.error().message()}});
  });
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
