#include "sync_monitor.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "conect/node/log.h"
#include "conect/node/wall_clock.h"

namespace conect::node {
namespace {

constexpr std::uint64_t kLogEveryMs = 5'000;
constexpr const char* kCatchUp = "catch_up";

std::string one_decimal(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace

SyncMonitor::SyncMonitor(DaemonCore& core, PeerBoard& board, SyncDriver& sync)
    : core_(core), board_(board), sync_(sync), timer_(core.strand) {}

void SyncMonitor::start(api::ProgressBoard* progress) {
  progress_ = progress;
  schedule();
}

void SyncMonitor::stop() { timer_.cancel(); }

void SyncMonitor::schedule() {
  if (core_.stopping) return;
  timer_.expires_after(std::chrono::milliseconds(core_.node.config.progress_interval_ms));
  timer_.async_wait([this, keep = core_.alive()](boost::system::error_code ec) {
    if (ec || core_.stopping) return;
    sample();
    schedule();
  });
}

void SyncMonitor::sample() {
  const std::uint64_t now = wall_ms();
  if (auto p = sync_.progress()) {
    for (const auto& peer : p->peers)
      board_.synced_sample(peer.peer, peer.behind, peer.heard, sync::peer_state_name(peer.state), now);
    core_.metrics.gauge("conect_sync_behind_deltas", "Deltas peers showed that this node does not hold yet")
        .set(static_cast<std::int64_t>(p->behind));
    core_.metrics.gauge("conect_sync_origins_behind", "Origins of which peers showed more than this node holds")
        .set(static_cast<std::int64_t>(p->origins_behind));
    core_.metrics.gauge("conect_sync_held_deltas", "Deltas this node holds (sum of the origins' heads)")
        .set(static_cast<std::int64_t>(p->held));
    track_catch_up(*p);
  }
  publish_peers(now);
  publish_disk();
  log_progress(now);
}

void SyncMonitor::track_catch_up(const sync::SyncProgress& p) {
  if (!catching_up_) {
    if (p.behind == 0 || !p.catching_up) return;
    catching_up_ = true;
    baseline_held_ = p.held;
    if (progress_) progress_->begin(kCatchUp, "deltas", p.behind);
    log::info("progress_started", {{"task", kCatchUp}, {"total", std::to_string(p.behind)}});
    return;
  }
  const std::uint64_t done = p.held > baseline_held_ ? p.held - baseline_held_ : 0;
  if (progress_) progress_->update(kCatchUp, done, done + p.behind);
  if (p.behind == 0 && !p.catching_up) {
    catching_up_ = false;
    if (progress_) progress_->finish(kCatchUp, true);
  } else if (p.peers.empty()) {
    catching_up_ = false;
    if (progress_) progress_->finish(kCatchUp, false);
  }
}

void SyncMonitor::publish_peers(std::uint64_t now_ms) {
  std::int64_t connected = 0;
  for (const auto& p : board_.snapshot(now_ms)) {
    const api::Labels labels{{"peer", short_id(p.id)}};
    connected += p.connected ? 1 : 0;
    core_.metrics.gauge("conect_peer_connected", "1 while an authenticated link to the peer is up", labels)
        .set(p.connected ? 1 : 0);
    core_.metrics.gauge("conect_peer_lag_deltas", "Deltas the peer showed that this node does not hold yet", labels)
        .set(static_cast<std::int64_t>(p.lag_deltas));
    core_.metrics
        .gauge("conect_peer_lag_seconds", "How long this node has lacked deltas the peer showed (0 when in sync)",
               labels)
        .set(static_cast<std::int64_t>(p.lag_ms / 1000));
    core_.metrics
        .gauge("conect_peer_last_sync_timestamp_seconds",
               "Unix time this node last held everything the peer showed (0: never since start)", labels)
        .set(static_cast<std::int64_t>(p.last_sync_ms / 1000));
  }
  core_.metrics.gauge("conect_peers_connected", "Peers with an authenticated link up").set(connected);
}

void SyncMonitor::publish_disk() {
  std::error_code ec;
  auto space = std::filesystem::space(core_.node.dir.store(), ec);
  if (ec) return;
  core_.metrics.gauge("conect_data_dir_available_bytes", "Free bytes (for this user) on the store's file system")
      .set(static_cast<std::int64_t>(space.available));
  core_.metrics.gauge("conect_data_dir_capacity_bytes", "Size of the store's file system")
      .set(static_cast<std::int64_t>(space.capacity));
}

void SyncMonitor::log_progress(std::uint64_t now_ms) {
  if (!progress_) return;
  const bool due = now_ms - last_log_ms_ >= kLogEveryMs;
  for (const auto& t : progress_->snapshot()) {
    if (t.running()) {
      if (!due) continue;
      log::info("progress", {{"task", t.task},
                             {"phase", t.phase},
                             {"done", std::to_string(t.done)},
                             {"total", std::to_string(t.total)},
                             {"unit", t.unit},
                             {"per_second", one_decimal(t.per_second)},
                             {"eta_s", t.eta_s ? std::to_string(std::llround(*t.eta_s)) : "unknown"}});
    } else if (logged_finish_[t.task] != t.finished_ms) {
      logged_finish_[t.task] = t.finished_ms;
      if (t.finished_ms + 60'000 < now_ms) continue;  // from before this node started logging
      log::info("progress_done", {{"task", t.task},
                                  {"state", t.state},
                                  {"done", std::to_string(t.done)},
                                  {"unit", t.unit},
                                  {"seconds", one_decimal(static_cast<double>(t.finished_ms - t.started_ms) / 1000)},
                                  {"per_second", one_decimal(t.per_second)}});
    }
  }
  if (due) last_log_ms_ = now_ms;
}

}  // namespace conect::node
