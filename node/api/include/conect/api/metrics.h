// A small Prometheus registry for the whole node: counters, gauges and
// histograms with labels, rendered in the text exposition format (version 0.0.4) by
// GET /metrics.
//
//   Metrics m;
//   m.counter("conect_deltas_rejected_total", "Deltas refused, by reason",
//             {{"reason", "bad_signature"}}).inc();
//
// Thread-safety: every member is safe from any thread. counter()/gauge()
// take a lock to find or create the series; the returned reference stays
// valid for the registry's lifetime, so hot paths look a series up once and
// then only touch its atomic. A name is registered with one type and one
// help text; asking for it as the other type is a programmer error (throws).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace conect::api {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void inc(std::uint64_t n = 1) { v_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> v_{0};
};

class Gauge {
 public:
  void set(std::int64_t v) { v_.store(v, std::memory_order_relaxed); }
  void add(std::int64_t d) { v_.fetch_add(d, std::memory_order_relaxed); }
  std::int64_t value() const { return v_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> v_{0};
};

// Cumulative buckets with fixed upper bounds (seconds, bytes, ...), plus sum
// and count, as Prometheus histograms are. observe() is lock-free.
class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  const std::vector<double>& bounds() const { return bounds_; }
  // Observations <= bounds()[i] (cumulative), then the count of all.
  std::vector<std::uint64_t> cumulative() const;
  double sum() const;

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bound, not cumulative; +1 for +Inf
  std::atomic<std::uint64_t> sum_micro_{0};                // sum in millionths, so it stays an atomic add
};

class Metrics {
 public:
  // Metric names must match [a-zA-Z_:][a-zA-Z0-9_:]* and label names
  // [a-zA-Z_][a-zA-Z0-9_]*; anything else throws std::invalid_argument.
  Counter& counter(const std::string& name, const std::string& help, const Labels& labels = {});
  Gauge& gauge(const std::string& name, const std::string& help, const Labels& labels = {});
  // `bounds` (ascending) are used when the family is first registered.
  Histogram& histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                       const Labels& labels = {});

  // Text exposition format, families sorted by name, series by labels.
  std::string render() const;

 private:
  enum class Kind { counter, gauge, histogram };
  struct Family {
    Kind kind;
    std::string help;
    std::map<std::string, std::unique_ptr<Counter>> counters;  // by rendered labels
    std::map<std::string, std::unique_ptr<Gauge>> gauges;
    std::vector<double> bounds;
    std::map<std::string, std::unique_ptr<Histogram>> histograms;
  };
  Family& family(const std::string& name, const std::string& help, Kind kind);

  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace conect::api
