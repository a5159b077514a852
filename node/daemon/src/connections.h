// The links to peers (the CConnman half of Bitcoin Core's split): dials the
// configured peers and redials lost links with backoff, accepts connections
// (through Admission: an accepted link holds a ticket until it authenticates
// or closes), runs the Noise handshake and the roster check, keeps one link
// per pair, and seals and opens frames. It knows nothing of sync:
// established peers and their decrypted messages go up through PeerEvents.
//
// One session per WebSocket link:
//
//   accept (Admission) / dial --> handshake (deadline) --> established --> closed
//                                    |                        |
//                                    +-- refused: reason      +-- duplicate link (tie-break),
//                                        logged and counted       removed from the roster,
//                                                                 Disconnect from sync, ...
//
// Tie-break: when two nodes dial each other, both keep the link dialled by
// the smaller node id, so exactly one link per pair survives.
//
// Thread-safety: every method but accept() on the node strand.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <string_view>

#include "admission.h"
#include "conect/net/secure_channel.h"
#include "conect/node/ws_link.h"
#include "daemon_core.h"
#include "peer_board.h"

namespace conect::node {

// What the protocol side (SyncDriver) hears about peers.
class PeerEvents {
 public:
  virtual ~PeerEvents() = default;
  virtual void on_peer_up(const NodeId& peer, bool dialled) = 0;
  virtual void on_peer_message(const NodeId& peer, std::string_view plaintext) = 0;
  virtual void on_peer_down(const NodeId& peer) = 0;
};

class Connections {
 public:
  Connections(DaemonCore& core, PeerBoard& board, const net::NoiseStaticKey& noise, std::uint64_t seed);
  void set_events(PeerEvents* events) { events_ = events; }

  // Trusted members; links to members no longer on it are closed.
  void set_roster(const std::set<NodeId>& roster);
  // Members the federation cut off (final): configured peers among them are
  // not dialled any more (a handshake would be refused anyway).
  void set_cut_off(const std::set<NodeId>& cut_off);
  // Pending members (admitted by fewer than the quorum; DESIGN §2): their
  // handshakes are taken, so that they catch up receive-only. Their own
  // deltas are held back like any untrusted origin's (the sync skips them).
  void set_receive_only(const std::set<NodeId>& pending);
  // The join exchange (docs/handshake.md section 8). While a handler is set
  // (this node has unused invites), a connection from an id not on the
  // roster completes the handshake, stays unauthenticated (it keeps its
  // Admission ticket and its handshake deadline) and may send one
  // JoinRequest; the handler's JoinResponse is sent and the link closed. The
  // handler gets the request bytes, the session's handshake hash and the
  // joiner's id; it runs on the node strand.
  using JoinHandler =
      std::function<std::string(std::string_view request, std::string_view handshake_hash, const NodeId& joiner)>;
  // `open` is asked at each handshake (an invite written a moment ago by
  // another process counts at once).
  void set_join_handler(JoinHandler handler, std::function<bool()> open) {
    join_handler_ = std::move(handler);
    join_open_ = std::move(open);
  }
  // The current identity key of a member (after a rotation): what its Noise
  // binding is checked against.
  void set_identity_keys(std::function<NodeId(const NodeId&)> keys) { identity_keys_ = std::move(keys); }
  // After a rotation: later handshakes carry a binding signed by `key`.
  void set_signer(const KeyPair& key) {
    credentials_ = net::PeerCredentials(
        credentials_.node_id(), credentials_.noise_static(), credentials_.federation(),
        net::sign_static_binding(key, credentials_.noise_static().public_key(), credentials_.federation()));
    load_rotations();
  }
  // After a rotation that carried a new Noise static key: later handshakes
  // use `noise` with a binding signed by `key`; established links keep theirs.
  void set_noise_static(const net::NoiseStaticKey& noise, const KeyPair& key) {
    credentials_ = net::PeerCredentials(credentials_.node_id(), noise, credentials_.federation(),
                                        net::sign_static_binding(key, noise.public_key(), credentials_.federation()));
    load_rotations();
  }
  // Dials configured peers not dialled yet; drops the removed ones.
  void reload_peers();
  // An accepted TCP connection. Any thread.
  void accept(asio::ip::tcp::socket socket);
  // Seals and queues one message to an established peer; false if not linked.
  bool send(const NodeId& peer, const std::string& plaintext);
  bool linked(const NodeId& peer) const;
  void disconnect(const NodeId& peer, const std::string& reason);
  // Closes every link (TAG_FINAL on established ones) and stops dialling.
  void stop();

 private:
  // This node's Rotates from the store, shown in its handshakes
  // (HandshakePayload.rotations): a peer that was away when it rotated
  // could not check its binding otherwise, and the two would never link.
  void load_rotations();

  struct Session {
    std::uint64_t id = 0;
    std::shared_ptr<WsLink> link;
    std::optional<net::HandshakeDriver> driver;
    std::optional<net::SecureChannel> channel;
    std::optional<NodeId> peer;
    bool dialled = false;
    std::string url;  // dialled sessions
    bool established = false;
    bool closing = false;
    bool joining = false;  // accepted for the join exchange only
    bool join_answered = false;
    std::uint16_t close_code = 1000;  // kCloseRemoved when refusing a removed member
    std::uint64_t ticket = 0;  // Admission's, while an accepted link is unauthenticated
    std::unique_ptr<asio::steady_timer> handshake_timer;
  };
  struct Dialer {
    std::string url;
    NodeId expected;
    std::uint64_t backoff_ms = 0;
    std::uint64_t session = 0;  // 0: not connected or connecting
    std::unique_ptr<asio::steady_timer> timer;
    std::string last_error;
    bool removed = false;
    // The peer refused us as a member the federation removed: not redialled
    // (every redial would be refused the same way) until the node restarts.
    bool refuses_us = false;
  };

  void dial(Dialer& d);
  void schedule_redial(Dialer& d);
  void start_accepted(asio::ip::tcp::socket socket, const std::string& ip);
  net::HandshakeOptions handshake_options(net::NoiseRole role, std::optional<NodeId> expected);
  std::shared_ptr<Session> new_session(bool dialled);
  void arm_handshake_timeout(Session& s);
  WsLink::Handler link_handler(std::uint64_t id);
  void send_frames(Session& s, const std::vector<std::string>& frames);
  void on_frame(std::uint64_t id, const std::string& frame);
  void on_handshake_frame(Session& s, const std::string& frame);
  void establish(Session& s);
  void on_join_frame(Session& s, const net::OpenedFrame& frame);
  Dialer* dialer_for(std::uint64_t session_id);
  void close_session(Session& s, const std::string& reason);
  void on_link_closed(std::uint64_t id, const std::string& reason, CloseCause cause);
  Session* session_with_ticket(std::uint64_t ticket);

  DaemonCore& core_;
  PeerBoard& board_;
  PeerEvents* events_ = nullptr;
  JoinHandler join_handler_;
  std::function<bool()> join_open_;
  std::function<NodeId(const NodeId&)> identity_keys_;
  net::PeerCredentials credentials_;
  WsLimits limits_;
  Admission admission_;
  std::mt19937_64 rng_;
  api::Counter& bytes_sent_;
  api::Counter& bytes_received_;

  std::set<NodeId> roster_;
  std::set<NodeId> receive_only_;
  std::set<NodeId> cut_off_;
  bool linkable(const NodeId& id) const { return roster_.contains(id) || receive_only_.contains(id); }
  std::map<std::uint64_t, std::shared_ptr<Session>> sessions_;  // by id, in arrival order
  std::map<NodeId, std::uint64_t> active_;                      // established session per peer
  std::map<std::string, Dialer> dialers_;                       // by url
  std::uint64_t next_session_ = 1;
};

}  // namespace conect::node
