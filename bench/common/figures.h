// One bench's figures: a line on stderr as each is measured, then a table
// and, as the last line on stdout, the JSON bench/run.py reads:
//   {"bench": NAME, "figures": [{"name", "value", "unit", "note"}, ...]}
#pragma once

#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace conect::bench {

struct Figure {
  std::string name, unit;
  double value = 0;
  std::string note;
};

class Figures {
 public:
  explicit Figures(std::string bench) : bench_(std::move(bench)) {}

  void add(std::string name, double value, std::string unit, std::string note = "") {
    all_.push_back({std::move(name), std::move(unit), value, std::move(note)});
    std::fprintf(stderr, "  %-44s %14.1f %s\n", all_.back().name.c_str(), value, all_.back().unit.c_str());
  }
  const std::vector<Figure>& all() const { return all_; }

  void print_table() const {
    std::printf("%-44s %14s  %-9s %s\n", "figure", "value", "unit", "note");
    for (const auto& f : all_)
      std::printf("%-44s %14.1f  %-9s %s\n", f.name.c_str(), f.value, f.unit.c_str(), f.note.c_str());
  }
  // Names, units and notes are the benches' own ASCII text: nothing to escape.
  void print_json() const {
    std::printf("{\"bench\":\"%s\",\"figures\":[", bench_.c_str());
    for (std::size_t i = 0; i < all_.size(); ++i) {
      const auto& f = all_[i];
      std::printf("%s{\"name\":\"%s\",\"value\":%.3f,\"unit\":\"%s\",\"note\":\"%s\"}", i ? "," : "",
                  f.name.c_str(), f.value, f.unit.c_str(), f.note.c_str());
    }
    std::printf("]}\n");
  }

 private:
  std::string bench_;
  std::vector<Figure> all_;
};

}  // namespace conect::bench
