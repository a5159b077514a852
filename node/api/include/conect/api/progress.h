// Progress of the node's long work, for `conect-node status`, the dashboard,
// the logs and /metrics: catch-up (deltas), imports (rows), audit export and
// verification (deltas). One entry per task kind, the latest run of it; a
// finished run stays visible (state "done" or "failed") until the next one
// of its kind begins.
//
//   ProgressBoard board(&metrics, wall_ms);
//   board.begin("import", "rows", 1200);
//   board.update("import", 300, 1200, "validate");
//   board.finish("import", true);
//
// Rate and time left come from the last ten seconds of updates (or the whole
// run when it is younger), so a stall shows as a falling rate rather than an
// average that hides it. Totals may move: a catch-up learns of more deltas
// while it runs, and a peer that disconnects takes its claims with it.
//
// Thread-safety: every member is safe from any thread (one mutex).
// With a Metrics registry, every change also sets the gauges
// conect_progress_done{task}, conect_progress_total{task} and
// conect_progress_running{task}.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace conect::api {

class Metrics;

struct TaskProgress {
  std::string task;               // catch_up | import | audit_export | audit_verify
  std::string unit;               // deltas | rows
  std::string phase;              // what the task is doing now ("" when it has one phase)
  std::string state = "running";  // running | done | failed
  std::uint64_t done = 0;
  std::uint64_t total = 0;
  std::uint64_t started_ms = 0;
  std::uint64_t updated_ms = 0;
  std::uint64_t finished_ms = 0;  // 0 while running
  double per_second = 0;          // recent rate, in units per second
  std::optional<double> eta_s;    // seconds left at that rate; none while unknown

  bool running() const { return state == "running"; }
};

class ProgressBoard {
 public:
  ProgressBoard(Metrics* metrics, std::function<std::uint64_t()> now_ms);

  // Starts (or restarts) the task of that kind.
  void begin(const std::string& task, const std::string& unit, std::uint64_t total, std::string_view phase = {});
  // Ignored for a task that is not running. `done` is capped at `total`.
  void update(const std::string& task, std::uint64_t done, std::uint64_t total, std::string_view phase = {});
  // done = total when ok.
  void finish(const std::string& task, bool ok);

  std::optional<TaskProgress> get(const std::string& task) const;
  std::vector<TaskProgress> snapshot() const;  // by task name
  bool any_running() const;

  // {"task", "unit", "phase", "state", "done", "total", "per_second",
  //  "eta_s", "started", "updated", "finished"} (docs/api.md).
  static nlohmann::json to_json(const TaskProgress& t);

 private:
  struct Entry {
    TaskProgress t;
    std::deque<std::pair<std::uint64_t, std::uint64_t>> samples;  // (ms, done), last ten seconds
  };
  void publish(const Entry& e);
  static void rate(Entry& e);

  Metrics* metrics_;
  std::function<std::uint64_t()> now_ms_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> tasks_;
};

}  // namespace conect::api
