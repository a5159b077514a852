// Progress of long work as the CLI shows it: one line per task from the
// API's JSON (docs/api.md, GET /api/v1/progress), and a stderr reporter for
// the commands that do long work themselves (audit export and verify).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "conect/api/progress.h"

namespace conect::cli {

// "catch_up  12,345 / 50,000 deltas (24.7%)  1,234.5/s  about 30 s left"
// or "catch_up  done: 50,000 deltas in 41 s (1,219.5/s)".
std::string progress_line(const nlohmann::json& task);

// Prints the task's progress line to stderr at most every two seconds while
// it runs, and once when it ends (only if it ran long enough to have printed
// before). Rate and time left as the node computes them (ProgressBoard).
class StderrProgress {
 public:
  StderrProgress(std::string task, std::string unit);
  // An audit::Progress: always returns true (never cancels).
  bool operator()(std::string_view phase, std::uint64_t done, std::uint64_t total);
  void finish(bool ok);

 private:
  std::string task_;
  api::ProgressBoard board_;
  std::uint64_t last_print_ms_ = 0;
  bool printed_ = false;
};

}  // namespace conect::cli
