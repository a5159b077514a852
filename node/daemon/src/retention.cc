#include "conect/node/retention.h"

#include <algorithm>

#include "conect/api/metrics.h"
#include "conect/crdt/ops.h"
#include "conect/node/log.h"
#include "conect/node/thread_name.h"

namespace conect::node {

std::optional<std::uint64_t> retention_deadline_ms(const v1::Mobility& m, std::optional<std::uint64_t> cancelled_ms,
                                                   std::uint32_t days) {
  if (days == 0) return std::nullopt;
  const std::uint64_t keep = std::uint64_t{days} * kDayMs;
  if (m.sending().status() == v1::MOBILITY_CANCELLED) {
    if (!cancelled_ms) return std::nullopt;  // not reached: a cancellation is a signed write
    return *cancelled_ms + keep;
  }
  // The end of the later day (UTC); a date before 1970 counts as 1970.
  std::optional<std::int64_t> last_day;
  if (m.sending().has_planned_end()) last_day = m.sending().planned_end().days();
  if (m.host().has_actual_departure())
    last_day = std::max(last_day.value_or(INT32_MIN), std::int64_t{m.host().actual_departure().days()});
  if (!last_day) return std::nullopt;
  return static_cast<std::uint64_t>(std::max<std::int64_t>(*last_day + 1, 0)) * kDayMs + keep;
}

Result<std::optional<std::uint64_t>> cancelled_at_ms(const storage::Store& store, const RecordKey& key) {
  auto h = store.history(key);
  if (!h.ok()) return h.error();
  std::optional<std::uint64_t> at;
  for (const auto& p : h->ops) {
    if (!p.op.has_write() || !p.op.write().has_mobility_sending()) continue;
    const auto& w = p.op.write();
    bool writes_status =
        std::find(w.fields().begin(), w.fields().end(),
                  static_cast<std::uint32_t>(v1::MobilitySending::kStatusFieldNumber)) != w.fields().end();
    if (writes_status && w.mobility_sending().status() == v1::MOBILITY_CANCELLED)
      at = std::max(at.value_or(0), p.hlc.millis());
  }
  return at;
}

RetentionSweeper::RetentionSweeper(storage::Store& store, NodeId self, api::Metrics& metrics, Author author,
                                   Clock clock, Options options)
    : store_(store),
      self_(self),
      author_(std::move(author)),
      clock_(std::move(clock)),
      options_(options),
      erased_(metrics.counter("conect_personal_data_retention_erased_total",
                              "Mobilities whose personal data this node erased by its retention rule")) {}

RetentionSweeper::~RetentionSweeper() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

Result<std::size_t> RetentionSweeper::sweep() {
  if (options_.days == 0) return std::size_t{0};
  // This node's own mobilities whose personal data is not erased yet.
  storage::Store::RecordPredicate keep = [this](const RecordKey& key, const v1::RecordState& s) {
    if (key.owner != self_ || !s.created()) return false;
    const std::string& c = s.mobility().fixed().participant().personal().commitment();
    return !c.empty() && std::find(s.erased().begin(), s.erased().end(), c) == s.erased().end();
  };
  std::size_t erased = 0;
  std::string cursor;
  do {
    auto page = store_.list(v1::MOBILITY, cursor, 200, keep);
    if (!page.ok()) return page.error();
    for (const auto& r : page->items) {
      const v1::Mobility& m = r.state.mobility();
      std::optional<std::uint64_t> cancelled;
      if (m.sending().status() == v1::MOBILITY_CANCELLED) {
        auto at = cancelled_at_ms(store_, r.key);
        if (!at.ok()) return at.error();
        cancelled = *at;
      }
      auto deadline = retention_deadline_ms(m, cancelled, options_.days);
      if (!deadline || clock_() < *deadline) continue;
      auto commitment = Hash256::from_raw(m.fixed().participant().personal().commitment());
      if (!commitment) continue;  // the merge accepts only 32-byte commitments
      DeltaDraft draft;
      draft.ops.push_back(ops::erase(r.key, *commitment));
      auto done = author_(std::move(draft));
      if (!done.ok()) {
        // An auditor or a fenced store: nothing is erased, and the next
        // sweep tries again.
        log::warn("personal_data_retention_waiting", {{"record", r.key.text()}, {"detail", done.error().message()}});
        return erased;
      }
      ++erased;
      erased_.inc();
      log::info("personal_data_retention_erased", {{"record", r.key.text()},
                                                   {"days", std::to_string(options_.days)},
                                                   {"reason", cancelled ? "cancelled" : "ended"}});
    }
    cursor = page->next_cursor;
  } while (!cursor.empty());
  return erased;
}

void RetentionSweeper::start() {
  if (options_.days == 0) return;
  thread_ = std::thread([this] {
    name_this_thread("conect-retain");
    std::unique_lock lock(mu_);
    while (!stopping_) {
      lock.unlock();
      if (auto r = sweep(); !r.ok()) log::warn("personal_data_retention_failed", {{"detail", r.error().message()}});
      lock.lock();
      cv_.wait_for(lock, options_.every, [&] { return stopping_; });
    }
  });
}

}  // namespace conect::node
