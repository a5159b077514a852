#include <gtest/gtest.h>

#include <thread>
#include <vector>

#include "conect/api/metrics.h"

namespace conect::api {
namespace {

TEST(Metrics, RendersPrometheusTextFormat) {
  Metrics m;
  m.counter("conect_deltas_rejected_total", "Deltas refused, by reason", {{"reason", "bad_signature"}}).inc(2);
  m.counter("conect_deltas_rejected_total", "Deltas refused, by reason", {{"reason", "broken_chain"}}).inc();
  m.gauge("conect_peers_connected", "Connected peers").set(-3);
  m.counter("conect_odd", "help with \\ and\nnewline", {{"v", "a\"b\\c\nd"}}).inc();
  EXPECT_EQ(m.render(),
            "# HELP conect_deltas_rejected_total Deltas refused, by reason\n"
            "# TYPE conect_deltas_rejected_total counter\n"
            "conect_deltas_rejected_total{reason=\"bad_signature\"} 2\n"
            "conect_deltas_rejected_total{reason=\"broken_chain\"} 1\n"
            "# HELP conect_odd help with \\\\ and\\nnewline\n"
            "# TYPE conect_odd counter\n"
            "conect_odd{v=\"a\\\"b\\\\c\\nd\"} 1\n"
            "# HELP conect_peers_connected Connected peers\n"
            "# TYPE conect_peers_connected gauge\n"
            "conect_peers_connected -3\n");
}

TEST(Metrics, SameSeriesIsTheSameObject) {
  Metrics m;
  auto& a = m.counter("x_total", "x", {{"k", "v"}});
  auto& b = m.counter("x_total", "x", {{"k", "v"}});
  EXPECT_EQ(&a, &b);
  EXPECT_NE(&a, &m.counter("x_total", "x", {{"k", "w"}}));
}

TEST(Metrics, RefusesBadNamesAndTypeClashes) {
  Metrics m;
  EXPECT_THROW(m.counter("1bad", "x"), std::invalid_argument);
  EXPECT_THROW(m.counter("ok", "x", {{"bad-label", "v"}}), std::invalid_argument);
  m.counter("both", "x");
  EXPECT_THROW(m.gauge("both", "x"), std::invalid_argument);
}

TEST(Metrics, ConcurrentIncrementsAreAllCounted) {
  Metrics m;
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < 10000; ++i)
        m.counter("c_total", "c", {{"shard", std::to_string(i % 4)}}).inc();
      m.gauge("g", "g").add(t);
    });
  }
  for (auto& th : threads) th.join();
  std::uint64_t sum = 0;
  for (int s = 0; s < 4; ++s) sum += m.counter("c_total", "c", {{"shard", std::to_string(s)}}).value();
  EXPECT_EQ(sum, 80000u);
  EXPECT_EQ(m.gauge("g", "g").value(), 28);
}

}  // namespace
}  // namespace conect::api
