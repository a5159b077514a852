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
// A node rotates its seal key with its identity key (`conect-node key
// rotate`: the new public half rides in the Rotate, membership.h). It keeps
// the secrets it rotated away from in a SealKeyring (DIR/seal.keyring) for
// kRetiredSealKeyKeepMs, so envelopes sealed to an old key before its owner
// learnt of the rotation still open; after that they are wiped
// (docs/privacy.md "Seal keys").
//
// Thread-safety: SealKey is immutable after creation; open() is safe from any
// thread. SealKeyring: every member from any thread (a shared mutex).
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

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
  friend class SealKeyring;
  SealKey() = default;
  // The public half derived from secret_; false when it cannot be.
  bool derive_public();
  SealPublicKey public_;
  std::array<std::uint8_t, 32> secret_{};
};

// A seal secret this node rotated away from, and when (its wall clock).
struct RetiredSealKey {
  SealKey key;
  std::uint64_t retired_ms = 0;
};

// How long a retired seal secret is kept. An envelope sealed to an old key is
// made only by an owner that has not yet received the member's Rotate (its
// courier re-seals at its next sweep once it has), or is still in flight
// from before; both are bounded by how long a member can be cut off from
// the federation and still catch up (weeks, DESIGN section 1). 30 days
// covers that and keeps a stolen disk's exposure to old envelopes bounded.
inline constexpr std::uint64_t kRetiredSealKeyKeepMs = 30ULL * 24 * 60 * 60 * 1000;
// At most this many retired keys (the oldest go first): a bound on the file
// and on the keys a delivery is tried with, whatever an operator does.
inline constexpr std::size_t kMaxRetiredSealKeys = 16;

// The seal secrets a node can open envelopes with: its current key
// (DIR/seal.key) and the retired ones (DIR/seal.keyring).
//
// Keyring file (mode 0600, like every key file; never in a backup: backups
// copy the store, not the key files): "cnK1" || n x (retired_ms u64
// big-endian || 32-byte X25519 secret), newest first, n <= kMaxRetiredSealKeys.
// Losing it costs nothing stored: only envelopes still sealed to a retired
// key are refused (wrong_seal_key) until their owners re-seal them.
class SealKeyring {
 public:
  explicit SealKeyring(const SealKey& current, std::vector<RetiredSealKey> retired = {});
  SealKeyring(const SealKeyring&) = delete;
  SealKeyring& operator=(const SealKeyring&) = delete;

  SealKey current() const;
  // Newest first.
  std::vector<RetiredSealKey> retired() const;

  // Opens with the current key, then with each retired one, newest first.
  std::optional<std::string> open(std::string_view sealed) const;

  // `next` becomes the current key; the current one is retired at now_ms. A
  // key already retired is not added twice (a rotation settled after a
  // crash); beyond kMaxRetiredSealKeys the oldest is wiped.
  void rotate(const SealKey& next, std::uint64_t now_ms);
  // Replaces the retired keys (with the keyring file's, at start).
  void restore_retired(std::vector<RetiredSealKey> retired);
  // Wipes the retired keys retired keep_ms or longer before now_ms; how many.
  std::size_t discard_expired(std::uint64_t now_ms, std::uint64_t keep_ms = kRetiredSealKeyKeepMs);

  // The keyring file: the retired keys, durably replaced (secret_file.h).
  Status save_retired(const std::filesystem::path& path) const;
  // Empty when the file does not exist; a file that is not a keyring, or is
  // readable by group or others, is an error naming the file.
  static Result<std::vector<RetiredSealKey>> load_retired(const std::filesystem::path& path);

 private:
  mutable std::shared_mutex mu_;
  SealKey current_;
  std::vector<RetiredSealKey> retired_;  // newest first
};

// The seal key a Rotate carries (new_seal_key), when it carries a well-formed
// one (32 bytes, not zero). It is the member's statement about itself, made
// under the key that signs its delta, and counts like a SealKeyAnnounce: of
// the two, the later in the member's log order (seq, then operation index)
// is its seal key, whatever order deltas arrive in.
std::optional<SealPublicKey> rotated_seal_key(const v1::Rotate& rotate);

// The seal key `body` (a delta of `origin`) states last, in operation order:
// a SealKeyAnnounce whose inner signature holds, or a Rotate's seal key.
// Applying this to an origin's deltas in chain order, keeping the last
// answer, gives the member's seal key (Store::seal_keys does exactly that).
std::optional<SealPublicKey> seal_key_stated(const v1::DeltaBody& body, const NodeId& origin,
                                             const FederationId& federation);

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
