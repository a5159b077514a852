// What the API shows about peers (GET /api/v1/status) and whether this node
// holds its own chain up to what its peers showed. Written on the node
// strand, read from API threads: the only peer-manager state behind a mutex.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "conect/api/server.h"
#include "conect/crdt/identity.h"

namespace conect::node {

class PeerBoard {
 public:
  // A configured peer, listed (as disconnected) before its first link.
  void listed(const NodeId& id, const std::string& url);
  // `url` is the dialled address, empty for a peer that dialled us.
  void connected(const NodeId& id, const std::string& url);
  void disconnected(const NodeId& id);
  void seen(const NodeId& id);
  // The peer refused this node, for `why` (e.g. removed from the federation).
  void refuses_us(const NodeId& id, const std::string& why);
  void set_own_chain_caught_up(bool caught_up);
  // The sync monitor's sample (sync_monitor.h): deltas this peer showed that
  // we lack, the engine's state for it, and whether the peer has told us
  // what it holds yet. A sample of a heard peer with nothing lacking is a
  // successful sync (last_sync); the lag's age counts from the first sample
  // that lacked something (or had not heard the peer yet).
  void synced_sample(const NodeId& id, std::uint64_t behind, bool heard, const std::string& state,
                     std::uint64_t now_ms);

  bool own_chain_caught_up() const;
  bool any_connected() const;
  // lag_ms is measured against `now_ms` (wall clock).
  std::vector<api::PeerStatus> snapshot(std::uint64_t now_ms) const;
  std::vector<api::PeerStatus> snapshot() const;

 private:
  struct Info {
    std::string address;
    bool connected = false;
    std::uint64_t last_seen_ms = 0;
    std::uint64_t lag_deltas = 0;
    std::uint64_t behind_since_ms = 0;  // 0 while nothing is lacking
    std::uint64_t last_sync_ms = 0;
    std::string sync_state;
    std::string refuses_us;
  };
  mutable std::mutex mu_;
  std::map<NodeId, Info> peers_;
  bool caught_up_ = true;
};

}  // namespace conect::node
