// What ties a Noise handshake to a conect member (DESIGN §2, §7).
//
// Each node has two keys: its Ed25519 identity (conect::KeyPair, the member
// id) and a Noise static X25519 key of its own (NoiseStaticKey). The node
// signs, once, a *binding*:
//
//   Ed25519(identity, "conect/noise-static/v1" || BLAKE2b-256(noise_static_public || federation_id))
//
// and sends it with its member id inside the handshake. The peer verifies it
// against the static key Noise authenticated, so a man in the middle that
// terminates Noise with its own static key cannot reuse the victim's binding.
//
// Thread-safety: all types here are immutable after creation.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conect/crdt/error.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/types.h"
#include "conect/net/noise.h"

namespace conect::net {

// The Noise prologue: "conect/noise/v1" (15 ASCII bytes) || federation id
// (16 bytes). Both sides must agree on it byte for byte, or message 2 does
// not decrypt.
inline constexpr std::string_view kProloguePrefix = "conect/noise/v1";
std::string handshake_prologue(const FederationId& federation);

// A node's Noise static key. Generated at `init`, kept next to the identity
// key (suggested name: DIR/noise.key), mode 0600.
class NoiseStaticKey {
 public:
  // Errors: crypto_error.
  static Result<NoiseStaticKey> generate();
  static Result<NoiseStaticKey> from_private(const std::array<std::uint8_t, 32>& private_key);

  const X25519PublicKey& public_key() const { return keypair_.public_key(); }
  const DhKeyPair& keypair() const { return keypair_; }

  // The file is the 32-byte X25519 private key, created with mode 0600;
  // save() never overwrites (already_exists). load() refuses a file readable
  // by group or others (insecure_permissions), a wrong size (malformed_body)
  // and a missing file (not_found).
  Status save(const std::filesystem::path& path) const;
  static Result<NoiseStaticKey> load(const std::filesystem::path& path);

 private:
  explicit NoiseStaticKey(const DhKeyPair& keypair) : keypair_(keypair) {}
  DhKeyPair keypair_;
};

// noise_static_public (32 bytes) || federation_id (16 bytes): the message
// signed in the noise_static signing domain.
std::string static_binding_message(const X25519PublicKey& noise_static, const FederationId& federation);
Signature sign_static_binding(const KeyPair& identity, const X25519PublicKey& noise_static,
                              const FederationId& federation);
bool verify_static_binding(const NodeId& signer, const X25519PublicKey& noise_static,
                           const FederationId& federation, std::string_view signature);

// Everything this node proves in a handshake: built once at start (the
// binding is signed once, not per connection) and shared by every handshake.
class PeerCredentials {
 public:
  PeerCredentials(const KeyPair& identity, NoiseStaticKey noise_static, const FederationId& federation);
  // From parts, trusting the caller that `binding` is what it claims: for a
  // binding signed elsewhere, and for tests that forge credentials.
  PeerCredentials(const NodeId& node_id, NoiseStaticKey noise_static, const FederationId& federation,
                  const Signature& binding);

  const NodeId& node_id() const { return node_id_; }
  const FederationId& federation() const { return federation_; }
  const NoiseStaticKey& noise_static() const { return noise_static_; }
  const Signature& binding() const { return binding_; }
  // This member's stored deltas that carry its Rotates, oldest first, as
  // signed (HandshakePayload.rotations): sent so that a peer whose roster
  // predates them can check a binding signed by the rotated key.
  const std::vector<std::string>& rotations() const { return rotations_; }
  void set_rotations(std::vector<std::string> rotations) { rotations_ = std::move(rotations); }

 private:
  NodeId node_id_;
  FederationId federation_;
  NoiseStaticKey noise_static_;
  Signature binding_;
  std::vector<std::string> rotations_;
};

// The most rotations a handshake carries (and takes).
inline constexpr std::size_t kMaxHandshakeRotations = 16;

// The key `member`'s binding is signed with after the Rotates in
// `rotations` (signed deltas of `member`, oldest first), followed from
// `known`, the key this node holds for it: a Rotate counts when its delta
// verifies under the key reached so far and names a new key that signed its
// proof. Rotates signed by keys before `known` (already held) are passed
// over. nullopt when none moves the key, or one after the first that does
// fails: the caller then refuses the binding as before.
std::optional<NodeId> key_after_rotations(const FederationId& federation, const NodeId& member, const NodeId& known,
                                          const std::vector<std::string_view>& rotations);

}  // namespace conect::net
