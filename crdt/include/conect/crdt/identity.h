// A node's identity: its Ed25519 key pair (libsodium), and the signing
// domains. Every use of a key signs "label || BLAKE2b-256(message)" with its
// own label, so a signature made for one purpose never verifies as another.
//
// Thread-safety: KeyPair is immutable after creation; sign() is safe from any
// thread. Call crypto_init() once before anything else (idempotent).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "conect/crdt/error.h"
#include "conect/crdt/types.h"

namespace conect {

// Initialises libsodium; returns false if it cannot (fatal at start-up).
bool crypto_init();

enum class SigningDomain {
  delta,         // "conect/delta/v1"
  member_card,   // "conect/card/v1"
  noise_static,  // "conect/noise-static/v1": binds a Noise static key to a node id
  confirmation,  // "conect/confirm/v1"
  rotation,      // "conect/rotate/v1"
  audit_header,  // "conect/audit-header/v1": an audit bundle's exporter-signed header
  seal_key,      // "conect/seal-key/v1": announces a node's X25519 seal key (DESIGN §5)
};
std::string_view domain_label(SigningDomain d);

using Signature = FixedBytes<64, struct SignatureTag>;

class KeyPair {
 public:
  static KeyPair generate();
  // From a 32-byte seed (deterministic tests and simulations).
  static KeyPair from_seed(const std::array<std::uint8_t, 32>& seed);

  const NodeId& public_key() const { return public_; }
  Signature sign(SigningDomain domain, std::string_view message) const;

  // Identity file: the 64-byte libsodium secret key, written with mode 0600.
  // load() refuses a file readable by group or others (insecure_permissions).
  Status save(const std::filesystem::path& path) const;
  static Result<KeyPair> load(const std::filesystem::path& path);

  KeyPair(const KeyPair&) = default;
  KeyPair& operator=(const KeyPair&) = default;
  ~KeyPair();

 private:
  KeyPair() = default;
  NodeId public_;
  std::array<std::uint8_t, 64> secret_{};
};

bool verify_signature(const NodeId& signer, SigningDomain domain, std::string_view message, std::string_view signature);

// BLAKE2b-256 of bytes.
Hash256 blake2b256(std::string_view data);

}  // namespace conect
