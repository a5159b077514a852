// A node's seal key (DESIGN §5, docs/privacy.md): the X25519 key pair that
// personal data meant for this node is sealed to with crypto_box_seal. It is
// its own key, never the Ed25519 identity key nor the Noise static key, so
// that each can be rotated and each secret serves one purpose.
//
// The public half is announced in a signed operation of the node's own log
// (SealKeyAnnounce, Operation field 7): every node learns it with the
// ordinary sync, nobody re-imports a card. The announcement carries an inner
// signature under SigningDomain::seal_key over federation || origin || key,
// so it can be checked on its own and is never valid as any other signature.
//
// Thread-safety: SealKey is immutable after creation; open() is safe from any
// thread.
#pragma once

#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

#include "conect/crdt/error.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/types.h"
#include "delta.pb.h"

namespace conect {

struct SealPublicKeyTag {};
// An X25519 public key that personal data is sealed to.
using SealPublicKey = FixedBytes<32, SealPublicKeyTag>;

class SealKey {
 public:
  static SealKey generate();
  // From a 32-byte seed (deterministic tests and simulations).
  static SealKey from_seed(const std::array<std::uint8_t, 32>& seed);

  const SealPublicKey& public_key() const { return public_; }

  // crypto_box_seal_open: the sealed bytes opened with this key, or nullopt
  // when they were sealed to another key or altered.
  std::optional<std::string> open(std::string_view sealed) const;

  // Seal key file: the 32-byte X25519 secret key, mode 0600, never
  // overwritten. load() refuses a file readable by group or others.
  Status save(const std::filesystem::path& path) const;
  static Result<SealKey> load(const std::filesystem::path& path);
  // load(), or generate() and save() when the file does not exist (init,
  // and data directories made before seal keys existed). `created` says which.
  static Result<SealKey> load_or_create(const std::filesystem::path& path, bool* created = nullptr);

  SealKey(const SealKey&) = default;
  SealKey& operator=(const SealKey&) = default;
  ~SealKey();

 private:
  SealKey() = default;
  SealPublicKey public_;
  std::array<std::uint8_t, 32> secret_{};
};

// crypto_box_seal of `message` to `to` (anonymous sender).
std::string seal_to(const SealPublicKey& to, std::string_view message);

// What the announcement's inner signature covers:
// federation (16) || origin (32) || seal key (32).
std::string seal_key_signing_message(const FederationId& federation, const NodeId& origin,
                                     const SealPublicKey& seal_key);

// The operation that announces `seal_key` in `identity`'s log.
v1::Operation seal_key_announcement(const KeyPair& identity, const FederationId& federation,
                                    const SealPublicKey& seal_key);

// The announced key when the announcement is well formed and signed by
// `origin` for `federation`; bad_signature or malformed_body otherwise.
Result<SealPublicKey> verify_seal_key_announcement(const v1::SealKeyAnnounce& announcement,
                                                   const FederationId& federation, const NodeId& origin);

}  // namespace conect
