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
  if (!url.empty()) info.address = url;
  info.last_seen_ms = wall_ms();
}

void PeerBoard::disconnected(const NodeId& id) {
  std::lock_guard lock(mu_);
  peers_[id].connected = false;
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

std::vector<api::PeerStatus> PeerBoard::snapshot() const {
  std::lock_guard lock(mu_);
  std::vector<api::PeerStatus> out;
  for (const auto& [id, info] : peers_) {
    api::PeerStatus p;
    p.id = id;
    p.address = info.address;
    p.connected = info.connected;
    p.last_seen_ms = info.last_seen_ms;
    out.push_back(p);
  }
  return out;
}

}  // namespace conect::node
