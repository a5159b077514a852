#include "conect/api/progress.h"

#include <algorithm>
#include <chrono>

#include "conect/api/metrics.h"
#include "conect/api/validate.h"

namespace conect::api {
namespace {
constexpr std::uint64_t kRateWindowMs = 10'000;
}

ProgressBoard::ProgressBoard(Metrics* metrics, std::function<std::uint64_t()> now_ms)
    : metrics_(metrics), now_ms_(std::move(now_ms)) {
  if (!now_ms_)
    now_ms_ = [] {
      return static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
              .count());
    };
}

void ProgressBoard::begin(const std::string& task, const std::string& unit, std::uint64_t total,
                          std::string_view phase) {
  const std::uint64_t now = now_ms_();
  std::lock_guard lock(mu_);
  Entry& e = tasks_[task];
  e = Entry{};
  e.t.task = task;
  e.t.unit = unit;
  e.t.phase = std::string(phase);
  e.t.total = total;
  e.t.started_ms = e.t.updated_ms = now;
  e.samples.emplace_back(now, 0);
  publish(e);
}

void ProgressBoard::update(const std::string& task, std::uint64_t done, std::uint64_t total, std::string_view phase) {
  const std::uint64_t now = now_ms_();
  std::lock_guard lock(mu_);
  auto it = tasks_.find(task);
  if (it == tasks_.end() || !it->second.t.running()) return;
  Entry& e = it->second;
  if (!phase.empty() && phase != e.t.phase) {
    // A new phase counts afresh: its rate says nothing of the last one's.
    e.t.phase = std::string(phase);
    e.samples.clear();
  }
  e.t.total = total;
  e.t.done = std::min(done, total);
  e.t.updated_ms = now;
  e.samples.emplace_back(now, e.t.done);
  while (e.samples.size() > 2 && now - e.samples[1].first >= kRateWindowMs) e.samples.pop_front();
  rate(e);
  publish(e);
}

void ProgressBoard::finish(const std::string& task, bool ok) {
  const std::uint64_t now = now_ms_();
  std::lock_guard lock(mu_);
  auto it = tasks_.find(task);
  if (it == tasks_.end() || !it->second.t.running()) return;
  Entry& e = it->second;
  e.t.state = ok ? "done" : "failed";
  if (ok) e.t.done = e.t.total;
  e.t.updated_ms = e.t.finished_ms = now;
  e.t.eta_s.reset();
  // The rate shown afterwards is the whole run's.
  const double secs = static_cast<double>(now - e.t.started_ms) / 1000.0;
  e.t.per_second = secs > 0 ? static_cast<double>(e.t.done) / secs : 0;
  publish(e);
}

void ProgressBoard::rate(Entry& e) {
  const auto& [t0, d0] = e.samples.front();
  const auto& [t1, d1] = e.samples.back();
  if (t1 <= t0 || d1 < d0) {
    e.t.eta_s.reset();
    return;
  }
  e.t.per_second = static_cast<double>(d1 - d0) * 1000.0 / static_cast<double>(t1 - t0);
  if (e.t.per_second > 0)
    e.t.eta_s = static_cast<double>(e.t.total - e.t.done) / e.t.per_second;
  else
    e.t.eta_s.reset();
}

void ProgressBoard::publish(const Entry& e) {
  if (!metrics_) return;
  const Labels labels{{"task", e.t.task}};
  metrics_->gauge("conect_progress_done", "Long work done so far (latest run of each task), in its unit", labels)
      .set(static_cast<std::int64_t>(e.t.done));
  metrics_->gauge("conect_progress_total", "Long work known in all (latest run of each task), in its unit", labels)
      .set(static_cast<std::int64_t>(e.t.total));
  metrics_->gauge("conect_progress_running", "1 while the task runs", labels).set(e.t.running() ? 1 : 0);
}

std::optional<TaskProgress> ProgressBoard::get(const std::string& task) const {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(task);
  if (it == tasks_.end()) return std::nullopt;
  return it->second.t;
}

std::vector<TaskProgress> ProgressBoard::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<TaskProgress> out;
  for (const auto& [name, e] : tasks_) out.push_back(e.t);
  return out;
}

bool ProgressBoard::any_running() const {
  std::lock_guard lock(mu_);
  return std::any_of(tasks_.begin(), tasks_.end(), [](const auto& kv) { return kv.second.t.running(); });
}

nlohmann::json ProgressBoard::to_json(const TaskProgress& t) {
  using nlohmann::json;
  auto when = [](std::uint64_t ms) { return ms ? json(format_iso8601_ms(ms)) : json(nullptr); };
  // Rates rounded to a tenth: the figure is for people and alerts.
  const double rate = static_cast<double>(static_cast<std::int64_t>(t.per_second * 10 + 0.5)) / 10;
  return {{"task", t.task},
          {"unit", t.unit},
          {"phase", t.phase},
          {"state", t.state},
          {"done", t.done},
          {"total", t.total},
          {"per_second", rate},
          {"eta_s", t.eta_s ? json(static_cast<std::int64_t>(*t.eta_s + 0.5)) : json(nullptr)},
          {"started", when(t.started_ms)},
          {"updated", when(t.updated_ms)},
          {"finished", when(t.finished_ms)}};
}

}  // namespace conect::api
