#include "peer_board.h"

#include "conect/node/wall_clock.h"

namespace conect::node {

void PeerBoard::listed(const NodeId& id, const std::string& url) {
  std::lock_guard lock(mu_);
  auto& info = peers_[id];
  if (info.address.empty()) info.address = url;
}

void PeerBoard::connected(const NodeId& id, const std::string& url) {
  std::lock_guard lock(mu_);
  auto& info = peers_[id];
  info.connected = true;
  info.refuses_us.clear();
  if (!url.empty()) info.address = url;
  info.last_seen_ms = wall_ms();
}

void PeerBoard::refuses_us(const NodeId& id, const std::string& why) {
  std::lock_guard lock(mu_);
  peers_[id].refuses_us = why;
}

void PeerBoard::disconnected(const NodeId& id) {
  std::lock_guard lock(mu_);
  auto& info = peers_[id];
  info.connected = false;
  // What it showed is no longer known (the engine drops its claims); the
  // age of the lag keeps counting from its last successful sync.
  info.lag_deltas = 0;
  info.sync_state.clear();
}

void PeerBoard::synced_sample(const NodeId& id, std::uint64_t behind, bool heard, const std::string& state,
                              std::uint64_t now_ms) {
  std::lock_guard lock(mu_);
  auto& info = peers_[id];
  info.lag_deltas = behind;
  info.sync_state = state;
  if (behind == 0 && heard) {
    info.last_sync_ms = now_ms;
    info.behind_since_ms = 0;
  } else if (info.behind_since_ms == 0) {
    info.behind_since_ms = now_ms;
  }
}

void PeerBoard::seen(const NodeId& id) {
  std::lock_guard lock(mu_);
  peers_[id].last_seen_ms = wall_ms();
}

void PeerBoard::set_own_chain_caught_up(bool caught_up) {
  std::lock_guard lock(mu_);
  caught_up_ = caught_up;
}

bool PeerBoard::own_chain_caught_up() const {
  std::lock_guard lock(mu_);
  return caught_up_;
}

bool PeerBoard::any_connected() const {
  std::lock_guard lock(mu_);
  for (const auto& [id, info] : peers_)
    if (info.connected) return true;
  return false;
}

std::vector<api::PeerStatus> PeerBoard::snapshot() const { return snapshot(wall_ms()); }

std::vector<api::PeerStatus> PeerBoard::snapshot(std::uint64_t now_ms) const {
  std::lock_guard lock(mu_);
  std::vector<api::PeerStatus> out;
  for (const auto& [id, info] : peers_) {
    api::PeerStatus p;
    p.id = id;
    p.address = info.address;
    p.connected = info.connected;
    p.last_seen_ms = info.last_seen_ms;
    p.last_sync_ms = info.last_sync_ms;
    p.lag_deltas = info.lag_deltas;
    p.sync_state = info.sync_state;
    p.refuses_us = info.refuses_us;
    if (info.behind_since_ms != 0 && now_ms > info.behind_since_ms) p.lag_ms = now_ms - info.behind_since_ms;
    out.push_back(p);
  }
  return out;
}

}  // namespace conect::node
