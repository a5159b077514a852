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

TEST(Metrics, RendersHistogramsWithCumulativeBuckets) {
  Metrics m;
  auto& h = m.histogram("conect_store_write_seconds", "Write transactions", {0.001, 0.01, 0.1}, {{"kind", "apply"}});
  h.observe(0.0005);
  h.observe(0.001);  // on a bound: counted in that bucket (le = less or equal)
  h.observe(0.05);
  h.observe(3);  // beyond every bound: only +Inf
  EXPECT_EQ(m.render(),
            "# HELP conect_store_write_seconds Write transactions\n"
            "# TYPE conect_store_write_seconds histogram\n"
            "conect_store_write_seconds_bucket{kind=\"apply\",le=\"0.001\"} 2\n"
            "conect_store_write_seconds_bucket{kind=\"apply\",le=\"0.01\"} 2\n"
            "conect_store_write_seconds_bucket{kind=\"apply\",le=\"0.1\"} 3\n"
            "conect_store_write_seconds_bucket{kind=\"apply\",le=\"+Inf\"} 4\n"
            "conect_store_write_seconds_sum{kind=\"apply\"} 3.051500\n"
            "conect_store_write_seconds_count{kind=\"apply\"} 4\n");
  // The same family keeps its first bounds; a histogram is not a counter.
  EXPECT_EQ(m.histogram("conect_store_write_seconds", "x", {5}, {{"kind", "author"}}).bounds().size(), 3u);
  EXPECT_THROW(m.counter("conect_store_write_seconds", "x"), std::invalid_argument);
  EXPECT_THROW(m.histogram("h2", "x", {2, 1}), std::invalid_argument);
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
