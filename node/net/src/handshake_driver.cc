// The handshake half: Noise XX messages 1-3 with conect's identity payloads.
#include "conect/net/secure_channel.h"
#include "handshake.pb.h"

namespace conect::net {
namespace {

std::string serialise_payload(const PeerCredentials& self) {
  v1::HandshakePayload p;
  p.set_version(kPeerProtocolVersion);
  p.set_node_id(self.node_id().raw());
  p.set_static_binding(self.binding().raw());
  for (const auto& r : self.rotations()) p.add_rotations(r);
  return p.SerializeAsString();
}

std::string who(NoiseRole role) { return role == NoiseRole::initiator ? "responder" : "initiator"; }

}  // namespace

HandshakeDriver::HandshakeDriver(const PeerCredentials& self, HandshakeOptions options, NoiseXX noise)
    : federation_(self.federation()),
      own_payload_(serialise_payload(self)),
      options_(std::move(options)),
      noise_(std::move(noise)) {}

Result<HandshakeDriver> HandshakeDriver::create(const PeerCredentials& self, HandshakeOptions options) {
  if (!options.is_member)
    return Error(Errc::invalid_argument, "a handshake needs a roster predicate (is_member)");
  if (options.role == NoiseRole::initiator && !options.expected_peer)
    return Error(Errc::invalid_argument,
                 "a dial without an expected member id is refused; give the peer's id "
                 "(`conect-node peer add --id ID`) or add its member card");
  if (options.max_frame_bytes < kMinMaxFrameBytes)
    return Error(Errc::invalid_argument, "max_frame_bytes must be at least " + std::to_string(kMinMaxFrameBytes));
  auto noise = NoiseXX::create(options.role, handshake_prologue(self.federation()),
                               self.noise_static().keypair(), options.fixed_ephemeral);
  if (!noise) return noise.error();
  options.fixed_ephemeral.reset();
  return HandshakeDriver(self, std::move(options), std::move(*noise));
}

Error HandshakeDriver::fail(Error e) {
  if (!failed_) failed_ = e;
  return e;
}

Result<std::vector<std::string>> HandshakeDriver::start() {
  if (failed_) return Error(Errc::protocol_error, "handshake already failed: " + failed_->message());
  if (started_) return fail(Error(Errc::protocol_error, "handshake started twice"));
  started_ = true;
  if (options_.role == NoiseRole::responder) return std::vector<std::string>{};
  auto msg1 = noise_.write_message({});  // message 1 carries no payload
  if (!msg1) return fail(msg1.error());
  return std::vector<std::string>{std::move(*msg1)};
}

Result<std::vector<std::string>> HandshakeDriver::receive(std::string_view frame) {
  if (failed_) return Error(Errc::protocol_error, "handshake already failed: " + failed_->message());
  if (complete_)
    return fail(Error(Errc::protocol_error, "handshake frame after completion; frames now go to the channel"));
  if (options_.role == NoiseRole::initiator && !started_)
    return fail(Error(Errc::protocol_error, "a frame arrived before the initiator sent message 1"));
  started_ = true;
  switch (noise_.next_message()) {
    case 1: return on_message1(frame);
    case 2: return on_message2(frame);
    case 3: return on_message3(frame);
    default: return fail(Error(Errc::protocol_error, "unexpected handshake message"));
  }
}

namespace {

// A Noise read error, in conect's terms.
Error read_error(int message, NoiseRole self, const Error& e) {
  std::string prefix = "handshake message " + std::to_string(message) + " from the " + who(self) + ": ";
  if (e.is(Errc::crypto_error))  // only decryption fails this way
    return Error(Errc::wrong_federation,
                 prefix + "does not decrypt. The peer belongs to another federation or speaks another "
                          "protocol version (its prologue differs: check both nodes use the same "
                          "--federation), or the message was altered or replayed in transit");
  return Error(e.code, prefix + e.detail);
}

}  // namespace

Result<std::vector<std::string>> HandshakeDriver::on_message1(std::string_view frame) {
  if (options_.role != NoiseRole::responder)
    return fail(Error(Errc::protocol_error, "the initiator received handshake message 1"));
  auto payload = noise_.read_message(frame);
  if (!payload) return fail(read_error(1, options_.role, payload.error()));
  if (!payload->empty())
    return fail(Error(Errc::protocol_error, "handshake message 1 carries a " + std::to_string(payload->size()) +
                                                "-byte payload; it must be empty (" +
                                                std::to_string(frame.size()) + " bytes, expected 32)"));
  auto msg2 = noise_.write_message(own_payload_);
  if (!msg2) return fail(msg2.error());
  return std::vector<std::string>{std::move(*msg2)};
}

Result<std::vector<std::string>> HandshakeDriver::on_message2(std::string_view frame) {
  if (options_.role != NoiseRole::initiator)
    return fail(Error(Errc::protocol_error, "the responder received handshake message 2"));
  auto payload = noise_.read_message(frame);
  if (!payload) return fail(read_error(2, options_.role, payload.error()));
  if (auto st = verify_peer(2, *payload); !st) return fail(st.error());
  auto msg3 = noise_.write_message(own_payload_);
  if (!msg3) return fail(msg3.error());
  auto header = establish();
  if (!header) return fail(header.error());
  return std::vector<std::string>{std::move(*msg3), std::move(*header)};
}

Result<std::vector<std::string>> HandshakeDriver::on_message3(std::string_view frame) {
  if (options_.role != NoiseRole::responder)
    return fail(Error(Errc::protocol_error, "the initiator received handshake message 3"));
  auto payload = noise_.read_message(frame);
  if (!payload) return fail(read_error(3, options_.role, payload.error()));
  if (auto st = verify_peer(3, *payload); !st) return fail(st.error());
  auto header = establish();
  if (!header) return fail(header.error());
  return std::vector<std::string>{std::move(*header)};
}

Status HandshakeDriver::verify_peer(int message, std::string_view payload) {
  const std::string where = "handshake message " + std::to_string(message) + " from the " + who(options_.role);
  v1::HandshakePayload p;
  if (!p.ParseFromArray(payload.data(), static_cast<int>(payload.size())))
    return Error(Errc::protocol_error, where + ": payload is not a HandshakePayload");
  if (p.version() != kPeerProtocolVersion)
    return Error(Errc::protocol_error, where + ": peer protocol version " + std::to_string(p.version()) +
                                           "; this node speaks " + std::to_string(kPeerProtocolVersion));
  auto node_id = NodeId::from_raw(p.node_id());
  if (!node_id) return Error(Errc::protocol_error, where + ": node_id is not 32 bytes");
  if (p.static_binding().size() != Signature::size())
    return Error(Errc::protocol_error, where + ": static_binding is not a 64-byte signature");
  // Noise has proved the peer holds rs; the binding must name that very key.
  const auto& rs = noise_.remote_static();
  if (!rs) return Error(Errc::protocol_error, where + ": no remote static key");
  NodeId signer = options_.identity_key ? options_.identity_key(*node_id) : *node_id;
  bool bound = verify_static_binding(signer, *rs, federation_, p.static_binding());
  if (!bound && p.rotations_size() > 0) {
    // Rotated while this node was away: its Rotates come with the binding.
    std::vector<std::string_view> rotations(p.rotations().begin(), p.rotations().end());
    if (auto rotated = key_after_rotations(federation_, *node_id, signer, rotations)) {
      signer = *rotated;
      bound = verify_static_binding(signer, *rs, federation_, p.static_binding());
    }
  }
  if (!bound) {
    // Signed by the member's first key after a Rotate or Rekey: a stolen or
    // retired key, or a stale copy of the data directory. Say so.
    if (signer != *node_id && verify_static_binding(*node_id, *rs, federation_, p.static_binding()))
      return Error(Errc::bad_signature, where + ": member " + node_id->hex() +
                                            " signed its Noise binding with its first key, which it rotated "
                                            "away from or which its federation replaced (a retired key, or a stale "
                                            "copy of its data directory): only its current key " +
                                            signer.hex().substr(0, 16) + " is accepted");
    return Error(Errc::bad_signature,
                 where + ": the binding signature of " + node_id->hex() +
                     " does not cover the Noise static key " + rs->hex() +
                     " this handshake authenticated (a man in the middle, or a peer whose keys do not match)");
  }
  if (options_.expected_peer && *options_.expected_peer != *node_id)
    return Error(Errc::unknown_origin, where + ": expected member " + options_.expected_peer->hex() +
                                           " but reached " + node_id->hex() +
                                           "; check the peer's address and the id given to `peer add`");
  // Asked once: the roster may change between two calls.
  const bool member = options_.is_member(*node_id);
  if (!member && options_.role == NoiseRole::responder && options_.accepts_joiners && options_.accepts_joiners(*node_id)) {
    joiner_ = true;  // only the join exchange may follow (the caller's duty)
  } else if (!member && options_.role == NoiseRole::responder && options_.is_removed && options_.is_removed(*node_id)) {
    removed_peer_ = true;
    return Error(Errc::unknown_origin, where + ": member " + node_id->hex() +
                                           " was removed from the federation (or left it): it comes back only "
                                           "under a new identity");
  } else if (!member)
    return Error(Errc::unknown_origin, where + ": member " + node_id->hex() +
                                           " is not on the roster; add its card with `conect-node member add`");
  peer_ = *node_id;
  return {};
}

Result<std::string> HandshakeDriver::establish() {
  auto split = noise_.split_keys();
  if (!split) return split.error();
  auto keys = derive_stream_keys(*split, noise_.handshake_hash());
  if (!keys) return keys.error();
  std::string header;
  auto channel = SecureChannel::establish(options_.role, *keys, *peer_, noise_.handshake_hash(),
                                          options_.max_frame_bytes, header);
  if (!channel) return channel.error();
  channel_.emplace(std::move(*channel));
  complete_ = true;
  return header;
}

Result<SecureChannel> HandshakeDriver::take_channel() {
  if (failed_) return Error(Errc::protocol_error, "handshake failed: " + failed_->message());
  if (!complete_) return Error(Errc::protocol_error, "handshake not complete");
  if (!channel_) return Error(Errc::protocol_error, "channel already taken");
  SecureChannel c = std::move(*channel_);
  channel_.reset();
  return c;
}

}  // namespace conect::net
