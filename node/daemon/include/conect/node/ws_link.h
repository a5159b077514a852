// One WebSocket connection to a peer, dialled or accepted, carrying opaque
// binary frames. It knows nothing of Noise or sync: the PeerSession above it
// turns frames into handshake messages and sync messages.
//
// Limits are set at accept/dial, as in Beast's advanced server example:
//   - max_frame_bytes: larger messages close the link (Beast read_message_max);
//   - the send queue: one write is in flight at a time and the frames behind
//     it wait in a queue. Reads from the peer pause while the queue holds
//     send_queue_limit frames or half of send_queue_max_bytes (back-pressure
//     on a peer that asks faster than it reads); a queue past
//     send_queue_max_frames or send_queue_max_bytes closes the link at once
//     (CloseCause::send_queue_full): a peer that stops reading, or asks for
//     more than it reads, costs bounded memory (DESIGN §2);
//   - handshake_timeout: the TCP connect + WebSocket upgrade must finish in
//     time (the Noise handshake has its own deadline in PeerSession);
//   - idle_timeout: Beast's keep-alive pings; a silent peer is dropped.
//
// Thread-safety: all state lives on the link's strand. send() and close()
// may be called from any thread. close() posts onto the strand; send()
// dispatches: on an I/O thread of the link's io_context with the strand
// idle it runs (and starts the write) before returning, so on_close may run
// inside send() when the queue overflows; otherwise it is queued. Callbacks
// run on the strand.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "conect/crdt/error.h"

namespace conect::node {

struct WsUrl {
  std::string host;
  std::string port;
  std::string path;  // "/sync"
  std::string text() const { return "ws://" + host + ":" + port + path; }
};
// Parses ws://HOST:PORT/PATH. Errors: invalid_argument saying what is wrong.
Result<WsUrl> parse_ws_url(std::string_view url);

struct WsLimits {
  std::size_t max_frame_bytes = 4 * 1024 * 1024;
  std::size_t send_queue_limit = 64;
  std::size_t send_queue_max_frames = 16'384;
  std::size_t send_queue_max_bytes = 32u << 20;
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds idle_timeout{60'000};
};

// Why a link closed, where the caller counts it differently.
enum class CloseCause {
  closed,           // either side closed it, or the transport failed
  send_queue_full,  // the peer does not read what we send (limits above)
  frame_too_large,  // the peer sent a frame over max_frame_bytes
  removed,          // the peer closed with kCloseRemoved: it refuses us as removed
};

// The WebSocket close code a node closes a handshake with when it refuses
// the peer as a member the federation removed (docs/handshake.md section 6):
// the removed node stops redialling it. 4000-4999: private use (RFC 6455).
inline constexpr std::uint16_t kCloseRemoved = 4001;

class WsLink {
 public:
  struct Handler {
    // The WebSocket is open; frames may flow.
    std::function<void()> on_open;
    // One complete binary frame from the peer.
    std::function<void(std::string frame)> on_frame;
    // The link is closed (once), with why: "eof", "timeout", "frame too large", ...
    std::function<void(const std::string& reason, CloseCause cause)> on_close;
  };

  virtual ~WsLink() = default;
  // Queues a frame; nothing when the link is closed or closing. A frame that
  // takes the queue past its limits closes the link instead.
  virtual void send(std::string frame) = 0;
  // Sends `final_frame` (if not empty) then closes with the given reason;
  // with a `close_code` other than 1000 (normal) the WebSocket close frame
  // carries that code and the reason (cut to the 123 bytes a close frame has).
  virtual void close(std::string reason, std::string final_frame = {}, std::uint16_t close_code = 1000) = 0;
  virtual std::string remote_address() const = 0;  // "127.0.0.1"
};

// Upgrades an accepted TCP socket that asked for `path`; anything else is
// answered with HTTP 404 and closed.
std::shared_ptr<WsLink> accept_ws(boost::asio::ip::tcp::socket socket, const std::string& path, const WsLimits& limits,
                                  WsLink::Handler handler);

// Dials `url`. Connection failures arrive through on_close.
std::shared_ptr<WsLink> dial_ws(boost::asio::io_context& io, const WsUrl& url, const WsLimits& limits,
                                WsLink::Handler handler);

}  // namespace conect::node
