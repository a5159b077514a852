#include <gtest/gtest.h>

#include "conect/api/metrics.h"
#include "conect/api/progress.h"

namespace conect::api {
namespace {

// A board on a clock the test moves.
struct Clocked {
  std::uint64_t now = 1'000'000;
  Metrics metrics;
  ProgressBoard board{&metrics, [this] { return now; }};
};

TEST(ProgressBoard, RateAndTimeLeftFollowTheRecentPace) {
  Clocked c;
  c.board.begin("catch_up", "deltas", 1000);
  EXPECT_FALSE(c.board.get("catch_up")->eta_s) << "no rate before the second sample";
  c.now += 2000;
  c.board.update("catch_up", 200, 1000);
  auto t = *c.board.get("catch_up");
  EXPECT_DOUBLE_EQ(t.per_second, 100);
  ASSERT_TRUE(t.eta_s);
  EXPECT_DOUBLE_EQ(*t.eta_s, 8);
  // Ten seconds later at a tenth of the pace: the rate reflects the recent
  // window, not the average since the start.
  for (int i = 0; i < 12; ++i) {
    c.now += 1000;
    c.board.update("catch_up", 200 + 10 * (i + 1), 1000);
  }
  t = *c.board.get("catch_up");
  EXPECT_NEAR(t.per_second, 10, 0.01);
  EXPECT_NEAR(*t.eta_s, (1000 - 320) / 10.0, 0.1);
  // A stall: no rate, no time left.
  c.now += 20'000;
  c.board.update("catch_up", 320, 1000);
  c.now += 1000;
  c.board.update("catch_up", 320, 1000);
  EXPECT_FALSE(c.board.get("catch_up")->eta_s);
}

TEST(ProgressBoard, TotalsMoveAndDoneNeverPassesThem) {
  Clocked c;
  c.board.begin("catch_up", "deltas", 100);
  c.now += 1000;
  c.board.update("catch_up", 50, 400);  // peers showed more
  EXPECT_EQ(c.board.get("catch_up")->total, 400u);
  c.board.update("catch_up", 900, 400);
  EXPECT_EQ(c.board.get("catch_up")->done, 400u);
}

TEST(ProgressBoard, FinishedTasksStayUntilTheNextRunAndPublishGauges) {
  Clocked c;
  c.board.begin("import", "rows", 10, "validate");
  c.now += 500;
  c.board.update("import", 4, 10);
  EXPECT_TRUE(c.board.any_running());
  EXPECT_EQ(c.metrics.gauge("conect_progress_done", "", {{"task", "import"}}).value(), 4);
  EXPECT_EQ(c.metrics.gauge("conect_progress_running", "", {{"task", "import"}}).value(), 1);
  c.now += 500;
  c.board.finish("import", true);
  auto t = *c.board.get("import");
  EXPECT_EQ(t.state, "done");
  EXPECT_EQ(t.done, 10u);
  EXPECT_DOUBLE_EQ(t.per_second, 10);  // the whole run's rate once it ended
  EXPECT_FALSE(c.board.any_running());
  EXPECT_EQ(c.metrics.gauge("conect_progress_running", "", {{"task", "import"}}).value(), 0);
  EXPECT_EQ(c.metrics.gauge("conect_progress_done", "", {{"task", "import"}}).value(), 10);
  c.board.update("import", 1, 10);  // ignored: not running
  EXPECT_EQ(c.board.get("import")->done, 10u);
  c.board.begin("import", "rows", 3);
  EXPECT_EQ(c.board.get("import")->state, "running");
  EXPECT_EQ(c.board.get("import")->done, 0u);
}

TEST(ProgressBoard, JsonCarriesTheDocumentedFields) {
  Clocked c;
  c.board.begin("audit_verify", "deltas", 0, "export");
  c.now += 1000;
  c.board.update("audit_verify", 50, 200, "check");  // a new phase counts afresh
  auto j = ProgressBoard::to_json(*c.board.get("audit_verify"));
  for (const char* k :
       {"task", "unit", "phase", "state", "done", "total", "per_second", "eta_s", "started", "updated", "finished"})
    EXPECT_TRUE(j.contains(k)) << k;
  EXPECT_EQ(j["phase"], "check");
  EXPECT_TRUE(j["eta_s"].is_null());
  EXPECT_TRUE(j["finished"].is_null());
  c.board.finish("audit_verify", false);
  EXPECT_EQ(ProgressBoard::to_json(*c.board.get("audit_verify"))["state"], "failed");
}

}  // namespace
}  // namespace conect::api
