// The post-handshake half: stream key derivation and secretstream framing.
#include "conect/net/secure_channel.h"

#include <sodium.h>

#include <cstring>

#include "sodium_bytes.h"

namespace conect::net {
namespace {

static_assert(crypto_secretstream_xchacha20poly1305_HEADERBYTES == kStreamHeaderBytes);
static_assert(crypto_secretstream_xchacha20poly1305_ABYTES == kStreamFrameOverhead);
static_assert(crypto_secretstream_xchacha20poly1305_KEYBYTES == 32);

}  // namespace

// ---- key derivation ----------------------------------------------------------

Result<std::string> hkdf_sha256(const std::array<std::uint8_t, 32>& salt, std::string_view ikm,
                                std::string_view info, std::size_t length) {
  if (length == 0 || length > 255 * 32)
    return Error(Errc::invalid_argument, "HKDF-SHA256 output length must be 1..8160 bytes");
  auto prk = hmac_sha256(salt, ikm);  // Extract
  if (!prk) return prk.error();
  std::string okm;
  std::string t;  // T(i-1)
  for (std::uint8_t i = 1; okm.size() < length; ++i) {  // Expand
    std::string input = t;
    input.append(info);
    input.push_back(static_cast<char>(i));
    auto block = hmac_sha256(*prk, input);
    sodium_memzero(input.data(), input.size());
    if (!block) {
      sodium_memzero(prk->data(), prk->size());
      return block.error();
    }
    t.assign(reinterpret_cast<const char*>(block->data()), block->size());
    okm.append(t);
  }
  sodium_memzero(prk->data(), prk->size());
  sodium_memzero(t.data(), t.size());
  okm.resize(length);
  return okm;
}

StreamKeys::~StreamKeys() {
  sodium_memzero(initiator_to_responder.data(), initiator_to_responder.size());
  sodium_memzero(responder_to_initiator.data(), responder_to_initiator.size());
}

Result<StreamKeys> derive_stream_keys(const SplitKeys& split, const HandshakeHash& h) {
  std::string ikm(reinterpret_cast<const char*>(split.initiator_to_responder.data()), 32);
  ikm.append(reinterpret_cast<const char*>(split.responder_to_initiator.data()), 32);
  auto okm = hkdf_sha256(h.bytes, ikm, kStreamKeyLabel, 64);
  sodium_memzero(ikm.data(), ikm.size());
  if (!okm) return okm.error();
  StreamKeys keys;
  std::memcpy(keys.initiator_to_responder.data(), okm->data(), 32);
  std::memcpy(keys.responder_to_initiator.data(), okm->data() + 32, 32);
  sodium_memzero(okm->data(), okm->size());
  return keys;
}

// ---- SecureChannel -------------------------------------------------------------

struct SecureChannel::Streams {
  crypto_secretstream_xchacha20poly1305_state push{};
  crypto_secretstream_xchacha20poly1305_state pull{};
  std::array<std::uint8_t, 32> pull_key{};  // kept until the peer's header arrives
  ~Streams() {
    sodium_memzero(&push, sizeof push);
    sodium_memzero(&pull, sizeof pull);
    sodium_memzero(pull_key.data(), pull_key.size());
  }
};

SecureChannel::SecureChannel(SecureChannel&&) noexcept = default;
SecureChannel& SecureChannel::operator=(SecureChannel&&) noexcept = default;
SecureChannel::~SecureChannel() = default;

Result<SecureChannel> SecureChannel::establish(NoiseRole role, const StreamKeys& keys, const NodeId& peer,
                                               const HandshakeHash& h, std::size_t max_frame,
                                               std::string& header_out) {
  SecureChannel c;
  c.streams_ = std::make_unique<Streams>();
  c.peer_ = peer;
  c.h_ = h;
  c.max_frame_ = max_frame;
  const bool initiator = role == NoiseRole::initiator;
  const auto& push_key = initiator ? keys.initiator_to_responder : keys.responder_to_initiator;
  c.streams_->pull_key = initiator ? keys.responder_to_initiator : keys.initiator_to_responder;
  header_out.assign(kStreamHeaderBytes, '\0');
  if (crypto_secretstream_xchacha20poly1305_init_push(&c.streams_->push, u8(header_out), push_key.data()) != 0)
    return Error(Errc::crypto_error, "crypto_secretstream_xchacha20poly1305_init_push failed");
  return c;
}

Error SecureChannel::fail(Error e) {
  if (!failed_) failed_ = e;
  return e;
}

Result<std::string> SecureChannel::seal(std::string_view plaintext) {
  if (failed_) return Error(Errc::protocol_error, "channel to " + peer_.hex() + " failed earlier (" +
                                                      failed_->message() + "); close the connection");
  if (sent_final_) return Error(Errc::protocol_error, "channel already closed by this side");
  if (plaintext.size() > max_frame_ - kStreamFrameOverhead)
    return Error(Errc::limit_exceeded, "message of " + std::to_string(plaintext.size()) +
                                           " bytes exceeds the frame limit of " + std::to_string(max_frame_) +
                                           " bytes (including 17 bytes of overhead); split it");
  std::string frame(plaintext.size() + kStreamFrameOverhead, '\0');
  unsigned long long len = 0;
  if (crypto_secretstream_xchacha20poly1305_push(&streams_->push, u8(frame), &len, u8(plaintext),
                                                 plaintext.size(), nullptr, 0,
                                                 crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) != 0 ||
      len != frame.size())
    return fail(Error(Errc::crypto_error, "crypto_secretstream_xchacha20poly1305_push failed"));
  ++frames_sent_;
  return frame;
}

Result<std::string> SecureChannel::close() {
  if (failed_) return Error(Errc::protocol_error, "channel failed earlier; close the connection");
  if (sent_final_) return Error(Errc::protocol_error, "channel already closed by this side");
  std::string frame(kStreamFrameOverhead, '\0');
  unsigned long long len = 0;
  if (crypto_secretstream_xchacha20poly1305_push(&streams_->push, u8(frame), &len, nullptr, 0, nullptr, 0,
                                                 crypto_secretstream_xchacha20poly1305_TAG_FINAL) != 0 ||
      len != frame.size())
    return fail(Error(Errc::crypto_error, "crypto_secretstream_xchacha20poly1305_push failed"));
  sent_final_ = true;
  ++frames_sent_;
  return frame;
}

Result<OpenedFrame> SecureChannel::open_header(std::string_view frame) {
  if (frame.size() != kStreamHeaderBytes)
    return fail(Error(Errc::protocol_error, "first frame from " + peer_.hex() + " is " +
                                                std::to_string(frame.size()) +
                                                " bytes; expected its 24-byte stream header"));
  int rc = crypto_secretstream_xchacha20poly1305_init_pull(&streams_->pull, u8(frame), streams_->pull_key.data());
  sodium_memzero(streams_->pull_key.data(), streams_->pull_key.size());
  if (rc != 0) return fail(Error(Errc::crypto_error, "crypto_secretstream_xchacha20poly1305_init_pull failed"));
  header_received_ = true;
  return OpenedFrame{FrameKind::stream_header, {}};
}

Result<OpenedFrame> SecureChannel::open(std::string_view frame) {
  if (failed_) return Error(Errc::protocol_error, "channel to " + peer_.hex() + " failed earlier (" +
                                                      failed_->message() + "); close the connection");
  // Before any work: a peer must not make us decrypt more than we allow.
  if (frame.size() > max_frame_)
    return fail(Error(Errc::limit_exceeded, "frame of " + std::to_string(frame.size()) + " bytes from " +
                                                peer_.hex() + " exceeds the limit of " +
                                                std::to_string(max_frame_)));
  if (!header_received_) return open_header(frame);
  if (received_final_)
    return fail(Error(Errc::protocol_error, "frame from " + peer_.hex() + " after its final frame"));
  const std::uint64_t index = frames_received_ + 1;
  if (frame.size() < kStreamFrameOverhead)
    return fail(Error(Errc::protocol_error, "frame " + std::to_string(index) + " from " + peer_.hex() +
                                                " is shorter than 17 bytes (truncated)"));
  OpenedFrame out;
  out.plaintext.resize(frame.size() - kStreamFrameOverhead);
  unsigned long long len = 0;
  unsigned char tag = 0;
  if (crypto_secretstream_xchacha20poly1305_pull(&streams_->pull, u8(out.plaintext), &len, &tag, u8(frame),
                                                 frame.size(), nullptr, 0) != 0 ||
      len != out.plaintext.size())
    return fail(Error(Errc::protocol_error,
                      "frame " + std::to_string(index) + " from " + peer_.hex() +
                          " does not authenticate (altered, truncated, replayed, reordered, or a second "
                          "stream header)"));
  if (tag == crypto_secretstream_xchacha20poly1305_TAG_MESSAGE) {
    out.kind = FrameKind::message;
  } else if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL && out.plaintext.empty()) {
    out.kind = FrameKind::final;
    received_final_ = true;
  } else {
    return fail(Error(Errc::protocol_error, "frame " + std::to_string(index) + " from " + peer_.hex() +
                                                " has tag " + std::to_string(tag) +
                                                "; only MESSAGE and an empty FINAL are allowed"));
  }
  ++frames_received_;
  return out;
}

}  // namespace conect::net
