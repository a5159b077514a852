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
  void set_own_chain_caught_up(bool caught_up);

  bool own_chain_caught_up() const;
  bool any_connected() const;
  std::vector<api::PeerStatus> snapshot() const;

 private:
  struct Info {
    std::string address;
    bool connected = false;
    std::uint64_t last_seen_ms = 0;
  };
  mutable std::mutex mu_;
  std::map<NodeId, Info> peers_;
  bool caught_up_ = true;
};

}  // namespace conect::node
