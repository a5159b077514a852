// conect's peer link on top of Noise XX (DESIGN §7; the wire format is in
// docs/handshake.md). Sans-IO: the WebSocket transport feeds received frames
// in and sends the frames that come out; one WebSocket message = one frame.
//
//   initiator (dials)                         responder (accepts)
//   driver.start()          -- msg 1 -->      driver.receive(msg 1)
//   driver.receive(msg 2)   <-- msg 2 --      (returns msg 2)
//     verifies the responder, returns msg 3 and its stream header
//                           -- msg 3, header -->  driver.receive(msg 3)
//   take_channel()                              verifies the initiator,
//                                               returns its stream header
//                           <-- header --       take_channel()
//   channel.seal()/open()   <== frames ==>      channel.seal()/open()
//
// A peer is accepted only when its binding signature holds for the static key
// Noise authenticated, the caller's roster predicate accepts its member id and,
// when dialling, the id is the one dialled. Any failure is final: the driver
// and the channel then refuse every later call, and the caller closes the
// connection (log the Error's message, count its errc_name).
//
// Timeouts are the transport's business: a handshake that stalls is simply
// dropped by the caller.
//
// Thread-safety: none; one driver/channel per connection, on one strand.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conect/crdt/error.h"
#include "conect/crdt/types.h"
#include "conect/net/noise.h"
#include "conect/net/peer_identity.h"

namespace conect::net {

inline constexpr std::uint32_t kPeerProtocolVersion = 1;
// HKDF info for the secretstream keys.
inline constexpr std::string_view kStreamKeyLabel = "conect/stream/v1";
// crypto_secretstream_xchacha20poly1305 sizes (checked in the .cc).
inline constexpr std::size_t kStreamHeaderBytes = 24;
inline constexpr std::size_t kStreamFrameOverhead = 17;
// Default cap on one post-handshake frame, overhead included. Both ends of a
// link must use the same value (it is part of the protocol's configuration).
inline constexpr std::size_t kDefaultMaxFrameBytes = std::size_t{1} << 20;
inline constexpr std::size_t kMinMaxFrameBytes = 64;

// RFC 5869 HKDF-SHA256 with a 32-byte salt (a shorter salt is the same key
// zero-padded to 32 bytes, as HMAC pads it anyway). length <= 255 * 32.
// Errors: invalid_argument, crypto_error.
Result<std::string> hkdf_sha256(const std::array<std::uint8_t, 32>& salt, std::string_view ikm,
                                std::string_view info, std::size_t length);

// The two secretstream keys:
//   OKM = HKDF-SHA256(salt = h, IKM = k1 || k2, info = "conect/stream/v1", L = 64)
//   initiator_to_responder = OKM[0..32), responder_to_initiator = OKM[32..64)
// with (k1, k2) = Noise Split() and h the final handshake hash.
struct StreamKeys {
  std::array<std::uint8_t, 32> initiator_to_responder{};
  std::array<std::uint8_t, 32> responder_to_initiator{};
  ~StreamKeys();
};
Result<StreamKeys> derive_stream_keys(const SplitKeys& split, const HandshakeHash& h);

enum class FrameKind {
  stream_header,  // the peer's first frame; no plaintext
  message,        // one application message
  final,          // the peer closed its stream cleanly (TAG_FINAL)
};

struct OpenedFrame {
  FrameKind kind = FrameKind::message;
  std::string plaintext;  // empty unless kind == message
};

// One established link: a secretstream per direction. Created only by a
// completed HandshakeDriver. Move-only (copying would reuse nonces).
class SecureChannel {
 public:
  SecureChannel(SecureChannel&&) noexcept;
  SecureChannel& operator=(SecureChannel&&) noexcept;
  SecureChannel(const SecureChannel&) = delete;
  SecureChannel& operator=(const SecureChannel&) = delete;
  ~SecureChannel();

  const NodeId& peer() const { return peer_; }
  // Identifies this session (Noise's h); equal on both ends.
  const HandshakeHash& handshake_hash() const { return h_; }
  std::size_t max_frame_bytes() const { return max_frame_; }

  // One message frame (TAG_MESSAGE). Errors: limit_exceeded when the frame
  // would exceed max_frame_bytes (not fatal: nothing was sent; split the
  // message), protocol_error after close() or after a failure.
  Result<std::string> seal(std::string_view plaintext);
  // The closing frame (TAG_FINAL, empty). seal() refuses afterwards.
  Result<std::string> close();
  // Authenticates and decrypts one received frame. The first must be the
  // peer's 24-byte stream header. Any error is fatal (the channel refuses
  // everything afterwards): limit_exceeded for a frame over max_frame_bytes
  // (checked before decrypting), protocol_error for a frame that does not
  // authenticate (altered, truncated, replayed, reordered, a second header),
  // an unknown tag, or a frame after the peer's final frame.
  Result<OpenedFrame> open(std::string_view frame);

  bool has_failed() const { return failed_.has_value(); }
  bool sent_final() const { return sent_final_; }
  bool received_final() const { return received_final_; }
  std::uint64_t frames_sent() const { return frames_sent_; }
  std::uint64_t frames_received() const { return frames_received_; }

 private:
  friend class HandshakeDriver;
  SecureChannel() = default;
  // Builds the channel and this side's header frame. Errors: crypto_error.
  static Result<SecureChannel> establish(NoiseRole role, const StreamKeys& keys, const NodeId& peer,
                                         const HandshakeHash& h, std::size_t max_frame,
                                         std::string& header_out);
  Error fail(Error e);
  Result<OpenedFrame> open_header(std::string_view frame);

  struct Streams;  // the two libsodium states, wiped on destruction
  std::unique_ptr<Streams> streams_;
  NodeId peer_;
  HandshakeHash h_;
  std::size_t max_frame_ = kDefaultMaxFrameBytes;
  bool header_received_ = false;
  bool sent_final_ = false;
  bool received_final_ = false;
  std::uint64_t frames_sent_ = 0;
  std::uint64_t frames_received_ = 0;
  std::optional<Error> failed_;
};

struct HandshakeOptions {
  NoiseRole role = NoiseRole::initiator;
  // The member id this side expects to reach. Required when dialling (a dial
  // without an expected id is refused); optional when accepting.
  std::optional<NodeId> expected_peer;
  // The roster check: true when the member may talk to us. Required.
  std::function<bool(const NodeId&)> is_member;
  // Responder only: when this returns true for an id that is not on the
  // roster, it is accepted for the join exchange alone (docs/handshake.md
  // section 8); the driver then reports joiner() and the caller must run
  // nothing but that exchange on the channel.
  std::function<bool(const NodeId&)> accepts_joiners;
  // Responder only: true for a member the federation removed (or that left).
  // It is refused like any id off the roster, but the driver says so
  // (removed_peer()) so that the caller can tell it why (docs/handshake.md
  // section 6, check 5).
  std::function<bool(const NodeId&)> is_removed;
  // The key a member's binding is signed with: its current identity key
  // after a Rotate or Rekey (crdt/membership.h). Unset: the member id.
  std::function<NodeId(const NodeId&)> identity_key;
  std::size_t max_frame_bytes = kDefaultMaxFrameBytes;
  // Tests only: a fixed ephemeral key instead of a fresh one.
  std::optional<DhKeyPair> fixed_ephemeral;
};

// Drives handshake messages 1-3 for one side and yields the SecureChannel.
class HandshakeDriver {
 public:
  // Errors: invalid_argument (no roster predicate; dialling without an
  // expected id; max_frame_bytes below kMinMaxFrameBytes), crypto_error.
  static Result<HandshakeDriver> create(const PeerCredentials& self, HandshakeOptions options);

  NoiseRole role() const { return options_.role; }
  // Frames to send first: message 1 for the initiator, none for the responder.
  Result<std::vector<std::string>> start();
  // Feeds one received handshake frame; returns the frames to send, in order.
  // When this completes the handshake the frames end with this side's stream
  // header. Errors (all final):
  //   wrong_federation  message 2/3 does not decrypt (another federation or
  //                     protocol version, or bytes altered or replayed)
  //   bad_signature     the binding does not cover the key Noise authenticated
  //   unknown_origin    the member is not on the roster, or is not the one dialled
  //   protocol_error    malformed payload, unexpected message, small-order key
  //   limit_exceeded    a handshake message over 65535 bytes
  Result<std::vector<std::string>> receive(std::string_view frame);

  bool is_complete() const { return complete_; }
  bool has_failed() const { return failed_.has_value(); }
  // The peer's member id, once its payload has been verified.
  const std::optional<NodeId>& peer() const { return peer_; }
  // True when the peer is not on the roster and was accepted only for the
  // join exchange (HandshakeOptions::accepts_joiners).
  bool joiner() const { return joiner_; }
  // True when the handshake failed because the peer is a member the
  // federation removed (HandshakeOptions::is_removed).
  bool removed_peer() const { return removed_peer_; }
  // The channel; once, after is_complete(). Errors: protocol_error.
  Result<SecureChannel> take_channel();

 private:
  HandshakeDriver(const PeerCredentials& self, HandshakeOptions options, NoiseXX noise);
  Error fail(Error e);
  Result<std::vector<std::string>> on_message1(std::string_view frame);
  Result<std::vector<std::string>> on_message2(std::string_view frame);
  Result<std::vector<std::string>> on_message3(std::string_view frame);
  // Checks the peer's payload against what Noise authenticated.
  Status verify_peer(int message, std::string_view payload);
  Result<std::string> establish();  // returns this side's header frame

  FederationId federation_;
  std::string own_payload_;  // serialised HandshakePayload, built once
  HandshakeOptions options_;
  NoiseXX noise_;
  bool started_ = false;
  bool complete_ = false;
  std::optional<NodeId> peer_;
  bool joiner_ = false;
  bool removed_peer_ = false;
  std::optional<SecureChannel> channel_;
  std::optional<Error> failed_;
};

}  // namespace conect::net
