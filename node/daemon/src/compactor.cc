#include "conect/node/compactor.h"

#include "conect/api/metrics.h"
#include "conect/node/log.h"
#include "conect/node/thread_name.h"

namespace conect::node {

GrowthTrigger::GrowthTrigger(double factor, std::uint64_t min_growth_bytes, std::chrono::milliseconds quiet_for)
    : factor_(factor), min_growth_bytes_(min_growth_bytes), quiet_for_(quiet_for) {}

void GrowthTrigger::reset(std::uint64_t used_bytes, std::uint64_t commit_id, Clock::time_point now) {
  baseline_bytes_ = used_bytes;
  commit_id_ = commit_id;
  last_commit_seen_ = now;
}

bool GrowthTrigger::due(std::uint64_t used_bytes, std::uint64_t commit_id, Clock::time_point now) {
  if (commit_id != commit_id_) {
    commit_id_ = commit_id;
    last_commit_seen_ = now;
  }
  const auto grown = static_cast<double>(used_bytes) >= factor_ * static_cast<double>(baseline_bytes_) &&
                     used_bytes >= baseline_bytes_ + min_growth_bytes_;
  return grown && now - last_commit_seen_ >= quiet_for_;
}

Compactor::Compactor(storage::Store& store, api::Metrics& metrics, Options options)
    : store_(store),
      options_(options),
      compactions_(metrics.counter(
          "conect_store_compactions_total",
          "Compactions of the store after an erasure (erased plaintext left data.mdb), a schema upgrade, "
          "or once it grew by half and its writes stopped")),
      busy_(metrics.counter("conect_store_compaction_busy_total",
                            "Compactions postponed because another process had the store open")),
      due_(metrics.gauge("conect_store_compaction_due",
                         "1 while erased personal data may remain in data.mdb's free pages")),
      last_ms_(metrics.gauge("conect_store_compaction_last_ms", "Duration of the last compaction, milliseconds")),
      growth_(options.growth_factor, options.min_growth_bytes, options.quiet_for) {
  growth_.reset(store_.used_bytes(), store_.last_commit_id(), std::chrono::steady_clock::now());
}

Compactor::~Compactor() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Compactor::start() {
  thread_ = std::thread([this] {
    name_this_thread("conect-compact");
    loop();
  });
}

void Compactor::loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    check();
    lock.lock();
    cv_.wait_for(lock, options_.check_every, [&] { return stopping_; });
  }
}

void Compactor::check() {
  auto due = store_.compaction_due();
  if (!due.ok()) {
    log::warn("store_compaction_failed", {{"detail", due.error().message()}});
    return;
  }
  due_.set(*due ? 1 : 0);
  const auto now = std::chrono::steady_clock::now();
  const bool grown = growth_.due(store_.used_bytes(), store_.last_commit_id(), now);
  if (!*due && !grown) return;
  if (compacted_once_ && now - last_ < options_.min_interval) return;
  auto done = store_.compact();
  if (!done.ok()) {
    // The mark stays: the next check tries again.
    log::warn("store_compaction_failed", {{"detail", done.error().message()}});
    return;
  }
  if (!done->compacted) {
    busy_.inc();
    if (!postponed_) log::info("store_compaction_postponed", {{"reason", done->busy}});
    postponed_ = true;
    return;
  }
  postponed_ = false;
  compacted_once_ = true;
  last_ = std::chrono::steady_clock::now();
  growth_.reset(store_.used_bytes(), store_.last_commit_id(), last_);
  compactions_.inc();
  due_.set(0);
  last_ms_.set(static_cast<std::int64_t>(done->ms));
  log::info("store_compacted", {{"reason", done->reason.empty() ? "growth" : done->reason},
                                {"bytes_before", std::to_string(done->bytes_before)},
                                {"bytes_after", std::to_string(done->bytes_after)},
                                {"ms", std::to_string(done->ms)}});
}

}  // namespace conect::node
