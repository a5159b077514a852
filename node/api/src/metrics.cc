#include "conect/api/metrics.h"

#include <algorithm>
#include <cstdio>
#include <stdexcept>

namespace conect::api {
namespace {

bool valid_name(const std::string& s, bool allow_colon) {
  if (s.empty()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
                 (allow_colon && c == ':');
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

std::string escape(const std::string& v, bool quote) {
  std::string out;
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (quote && c == '"') out += "\\\"";
    else out += c;
  }
  return out;
}

// `{a="x",b="y"}` in the caller's label order, or "" without labels.
std::string render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  for (const auto& [k, v] : labels) {
    if (!valid_name(k, false)) throw std::invalid_argument("bad metric label name: " + k);
    if (out.size() > 1) out += ',';
    out += k + "=\"" + escape(v, true) + "\"";
  }
  return out + "}";
}

// A bucket bound as Prometheus writes it: shortest form, no exponent noise.
std::string format_bound(double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", b);
  return buf;
}

// Labels of a histogram series plus le="...", inside one pair of braces.
std::string with_le(const std::string& labels, const std::string& le) {
  std::string pair = "le=\"" + le + "\"";
  if (labels.empty()) return "{" + pair + "}";
  return labels.substr(0, labels.size() - 1) + "," + pair + "}";
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), buckets_(new std::atomic<std::uint64_t>[bounds_.size() + 1]) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i) buckets_[i].store(0, std::memory_order_relaxed);
}

void Histogram::observe(double v) {
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  if (v > 0) sum_micro_.fetch_add(static_cast<std::uint64_t>(v * 1e6 + 0.5), std::memory_order_relaxed);
}

std::vector<std::uint64_t> Histogram::cumulative() const {
  std::vector<std::uint64_t> out;
  std::uint64_t acc = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) out.push_back(acc += buckets_[i].load(std::memory_order_relaxed));
  return out;
}

double Histogram::sum() const { return static_cast<double>(sum_micro_.load(std::memory_order_relaxed)) / 1e6; }

Metrics::Family& Metrics::family(const std::string& name, const std::string& help, Kind kind) {
  if (!valid_name(name, true)) throw std::invalid_argument("bad metric name: " + name);
  auto [it, inserted] = families_.try_emplace(name);
  if (inserted) {
    it->second.kind = kind;
    it->second.help = help;
  } else if (it->second.kind != kind) {
    throw std::invalid_argument("metric " + name + " registered with another type");
  }
  return it->second;
}

Counter& Metrics::counter(const std::string& name, const std::string& help, const Labels& labels) {
  std::string key = render_labels(labels);
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, Kind::counter).counters[key];
  if (!slot) slot = std::make_unique<Counter>();
  return *slot;
}

Gauge& Metrics::gauge(const std::string& name, const std::string& help, const Labels& labels) {
  std::string key = render_labels(labels);
  std::lock_guard lock(mu_);
  auto& slot = family(name, help, Kind::gauge).gauges[key];
  if (!slot) slot = std::make_unique<Gauge>();
  return *slot;
}

Histogram& Metrics::histogram(const std::string& name, const std::string& help, const std::vector<double>& bounds,
                              const Labels& labels) {
  if (!std::is_sorted(bounds.begin(), bounds.end()))
    throw std::invalid_argument("histogram bounds must ascend: " + name);
  std::string key = render_labels(labels);
  std::lock_guard lock(mu_);
  Family& f = family(name, help, Kind::histogram);
  if (f.bounds.empty()) f.bounds = bounds;
  auto& slot = f.histograms[key];
  if (!slot) slot = std::make_unique<Histogram>(f.bounds);
  return *slot;
}

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + escape(f.help, false) + "\n";
    const char* type = f.kind == Kind::counter ? " counter\n" : f.kind == Kind::gauge ? " gauge\n" : " histogram\n";
    out += "# TYPE " + name + type;
    for (const auto& [labels, c] : f.counters)
      out += name + labels + " " + std::to_string(c->value()) + "\n";
    for (const auto& [labels, g] : f.gauges)
      out += name + labels + " " + std::to_string(g->value()) + "\n";
    for (const auto& [labels, h] : f.histograms) {
      auto counts = h->cumulative();
      for (std::size_t i = 0; i < h->bounds().size(); ++i)
        out +=
            name + "_bucket" + with_le(labels, format_bound(h->bounds()[i])) + " " + std::to_string(counts[i]) + "\n";
      out += name + "_bucket" + with_le(labels, "+Inf") + " " + std::to_string(counts.back()) + "\n";
      char sum[48];
      std::snprintf(sum, sizeof sum, "%.6f", h->sum());
      out += name + "_sum" + labels + " " + sum + "\n";
      out += name + "_count" + labels + " " + std::to_string(counts.back()) + "\n";
    }
  }
  return out;
}

}  // namespace conect::api
