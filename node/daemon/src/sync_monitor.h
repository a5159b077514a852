// Samples the sync engine every progress_interval_ms (node.toml [sync],
// default a second; on the node strand) and publishes
// what an operator watches:
//   - per peer: connected, lag in deltas and seconds, last successful sync
//     (PeerBoard, for GET /api/v1/status, and conect_peer_* gauges);
//   - the catch-up as a task on the ProgressBoard: done = deltas stored
//     since it began, total = done + what peers still claim we lack, so
//     done/total, rate and time left show in `status`, on the dashboard and
//     in /metrics (conect_progress_*{task="catch_up"});
//   - the data directory's free space (conect_data_dir_*_bytes);
// and logs every running task's progress every five seconds (one `progress`
// line), and once when it ends (`progress_done`).
//
// A catch-up begins when the engine is fetching from some peer and peers
// claim deltas we lack, and ends when nothing is lacking and no fetch runs;
// it "fails" when every peer went away first (the next link starts anew,
// from the stored head: nothing is fetched twice).
#pragma once

#include <boost/asio/steady_timer.hpp>

#include <cstdint>
#include <map>
#include <string>

#include "conect/api/progress.h"
#include "daemon_core.h"
#include "peer_board.h"
#include "sync_driver.h"

namespace conect::node {

class SyncMonitor {
 public:
  SyncMonitor(DaemonCore& core, PeerBoard& board, SyncDriver& sync);

  // `progress` may be null (no board: catch-up progress only in the logs).
  void start(api::ProgressBoard* progress);
  void stop();
  // One sample; start() runs it every progress_interval_ms.
  void sample();

 private:
  void schedule();
  void track_catch_up(const sync::SyncProgress& p);
  void publish_peers(std::uint64_t now_ms);
  void publish_disk();
  void log_progress(std::uint64_t now_ms);

  DaemonCore& core_;
  PeerBoard& board_;
  SyncDriver& sync_;
  api::ProgressBoard* progress_ = nullptr;
  asio::steady_timer timer_;
  // The running catch-up: deltas held when it began (sum of heads).
  bool catching_up_ = false;
  std::uint64_t baseline_held_ = 0;
  std::uint64_t last_log_ms_ = 0;
  std::map<std::string, std::uint64_t> logged_finish_;  // task -> finished_ms already logged
};

}  // namespace conect::node
