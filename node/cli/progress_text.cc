#include "progress_text.h"

#include <cstdio>
#include <iostream>

#include "conect/node/wall_clock.h"

namespace conect::cli {
namespace {

// 12345 -> "12,345": figures people read at a glance.
std::string grouped(std::uint64_t n) {
  std::string digits = std::to_string(n), out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string duration(std::int64_t s) {
  if (s < 90) return std::to_string(s) + " s";
  if (s < 90 * 60) return std::to_string((s + 30) / 60) + " min";
  return std::to_string(s / 3600) + " h " + std::to_string((s % 3600 + 30) / 60) + " min";
}

std::string rate(double r) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", r);
  std::string s = buf;
  auto dot = s.find('.');
  return grouped(static_cast<std::uint64_t>(r)) + s.substr(dot);
}

}  // namespace

std::string progress_line(const nlohmann::json& t) {
  const std::string task = t.value("task", "");
  const std::string unit = t.value("unit", "");
  const std::string state = t.value("state", "");
  const std::uint64_t done = t.value("done", std::uint64_t{0});
  const std::uint64_t total = t.value("total", std::uint64_t{0});
  const double per_second = t.value("per_second", 0.0);
  std::string phase = t.value("phase", "");
  std::string line = task + (phase.empty() ? "" : " (" + phase + ")") + "  ";
  if (state != "running") {
    std::int64_t secs = 0;
    // started/finished are ISO times; the rate and count give the duration.
    if (per_second > 0) secs = static_cast<std::int64_t>(static_cast<double>(done) / per_second + 0.5);
    return line + state + ": " + grouped(done) + " " + unit + (per_second > 0 ? " in " + duration(secs) : "") +
           (per_second > 0 ? " (" + rate(per_second) + "/s)" : "");
  }
  line += grouped(done) + " / " + grouped(total) + " " + unit;
  if (total > 0) {
    char pct[16];
    std::snprintf(pct, sizeof pct, " (%.1f%%)", 100.0 * static_cast<double>(done) / static_cast<double>(total));
    line += pct;
  }
  line += "  " + rate(per_second) + "/s";
  if (t.contains("eta_s") && t["eta_s"].is_number())
    line += "  about " + duration(t["eta_s"].get<std::int64_t>()) + " left";
  return line;
}

StderrProgress::StderrProgress(std::string task, std::string unit) : task_(std::move(task)), board_(nullptr, wall_ms) {
  board_.begin(task_, unit, 0);
}

bool StderrProgress::operator()(std::string_view phase, std::uint64_t done, std::uint64_t total) {
  board_.update(task_, done, total, phase);
  const std::uint64_t now = wall_ms();
  if (last_print_ms_ == 0) {  // the first two seconds stay quiet: short work prints nothing
    last_print_ms_ = now;
  } else if (now - last_print_ms_ >= 2000) {
    std::cerr << progress_line(api::ProgressBoard::to_json(*board_.get(task_))) << "\n";
    printed_ = true;
    last_print_ms_ = now;
  }
  return true;
}

void StderrProgress::finish(bool ok) {
  board_.finish(task_, ok);
  if (printed_) std::cerr << progress_line(api::ProgressBoard::to_json(*board_.get(task_))) << "\n";
}

}  // namespace conect::cli
