#include "conect/api/metrics.h"

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

}  // namespace

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

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  for (const auto& [name, f] : families_) {
    out += "# HELP " + name + " " + escape(f.help, false) + "\n";
    out += "# TYPE " + name + (f.kind == Kind::counter ? " counter\n" : " gauge\n");
    for (const auto& [labels, c] : f.counters)
      out += name + labels + " " + std::to_string(c->value()) + "\n";
    for (const auto& [labels, g] : f.gauges)
      out += name + labels + " " + std::to_string(g->value()) + "\n";
  }
  return out;
}

}  // namespace conect::api
