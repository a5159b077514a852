// Noise_XX_25519_ChaChaPoly_SHA256 (Noise Protocol Framework, revision 34),
// built only from libsodium: crypto_scalarmult_curve25519 (DH),
// crypto_aead_chacha20poly1305_ietf (cipher), crypto_hash_sha256 and
// crypto_auth_hmacsha256 (hash, HMAC, HKDF). No sockets: bytes in, bytes out.
//
//   XX:
//     -> e
//     <- e, ee, s, es
//     -> s, se
//
// Checked against the cacophony test vectors (tests/noise/vectors/).
//
// Failure rule: any error (a message that does not decrypt, a low-order
// public key, a message out of turn) leaves the handshake failed for good;
// every later call returns an error. Noise forbids retrying a handshake
// message after a failure, and a half-used state is never worth saving.
//
// Thread-safety: none; one object per connection, used from one strand.
// Copying is disabled wherever a copy could reuse a nonce.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "conect/crdt/error.h"
#include "conect/crdt/types.h"

namespace conect::net {

inline constexpr std::string_view kNoiseProtocolName = "Noise_XX_25519_ChaChaPoly_SHA256";
// Noise's limit for any handshake or transport message (spec §3).
inline constexpr std::size_t kNoiseMaxMessage = 65535;
inline constexpr std::size_t kNoiseDhLen = 32;
inline constexpr std::size_t kNoiseHashLen = 32;
inline constexpr std::size_t kNoiseKeyLen = 32;
inline constexpr std::size_t kNoiseTagLen = 16;

using X25519PublicKey = FixedBytes<32, struct X25519PublicKeyTag>;
using SymmetricKey = std::array<std::uint8_t, kNoiseKeyLen>;
using HandshakeHash = FixedBytes<kNoiseHashLen, struct HandshakeHashTag>;

// An X25519 key pair. The private half is wiped on destruction.
class DhKeyPair {
 public:
  // A fresh random pair (crypto_box_keypair). Errors: crypto_error.
  static Result<DhKeyPair> generate();
  // From a given private key (test vectors, the stored Noise static key).
  // Errors: crypto_error when the public key cannot be derived.
  static Result<DhKeyPair> from_private(const std::array<std::uint8_t, 32>& private_key);

  const X25519PublicKey& public_key() const { return public_; }
  const std::array<std::uint8_t, 32>& private_key() const { return private_; }

  DhKeyPair(const DhKeyPair&) = default;
  DhKeyPair& operator=(const DhKeyPair&) = default;
  ~DhKeyPair();

 private:
  DhKeyPair() = default;
  X25519PublicKey public_;
  std::array<std::uint8_t, 32> private_{};
};

// X25519(private, public). Fails (crypto_error) when the result is all
// zero, i.e. the public key has small order: a contributory-behaviour check
// that keeps a peer from forcing a known shared secret.
Result<SymmetricKey> dh(const DhKeyPair& local, const X25519PublicKey& remote);

// Noise CipherState: a key (or none) and a 64-bit nonce. Nonces are never
// reused: encrypt/decrypt fail once n reaches 2^64-1 (reserved by the spec).
// A failed decryption leaves n unchanged. Move-only, because a copy would
// encrypt two messages under the same (key, nonce).
class CipherState {
 public:
  CipherState() = default;
  explicit CipherState(const SymmetricKey& k) { initialize_key(k); }
  CipherState(CipherState&& other) noexcept;
  CipherState& operator=(CipherState&& other) noexcept;
  CipherState(const CipherState&) = delete;
  CipherState& operator=(const CipherState&) = delete;
  ~CipherState();

  void initialize_key(const SymmetricKey& k);
  bool has_key() const { return has_key_; }
  void set_nonce(std::uint64_t n) { n_ = n; }
  std::uint64_t nonce() const { return n_; }

  // Without a key both return their input unchanged (spec §5.1).
  // Errors: limit_exceeded (nonce exhausted), crypto_error (decryption
  // failed: wrong key, altered bytes, wrong associated data).
  Result<std::string> encrypt_with_ad(std::string_view ad, std::string_view plaintext);
  Result<std::string> decrypt_with_ad(std::string_view ad, std::string_view ciphertext);

  // REKEY(k) = first 32 bytes of ENCRYPT(k, 2^64-1, "", 32 zero bytes).
  Status rekey();

 private:
  SymmetricKey k_{};
  bool has_key_ = false;
  std::uint64_t n_ = 0;
};

// The two keys Split() derives: k1 protects initiator -> responder, k2 the
// other direction. Exposed so that conect can derive its secretstream keys
// from them; never use these keys AND CipherStates made from them.
struct SplitKeys {
  SymmetricKey initiator_to_responder{};
  SymmetricKey responder_to_initiator{};
  ~SplitKeys();
};

// Noise SymmetricState (spec §5.2) with SHA-256.
class SymmetricState {
 public:
  // InitializeSymmetric(protocol_name).
  static Result<SymmetricState> initialize(std::string_view protocol_name);

  Status mix_hash(std::string_view data);
  Status mix_key(std::string_view input_key_material);
  Result<std::string> encrypt_and_hash(std::string_view plaintext);
  Result<std::string> decrypt_and_hash(std::string_view ciphertext);
  Result<SplitKeys> split_keys() const;

  const HandshakeHash& handshake_hash() const { return h_; }
  bool has_key() const { return cipher_.has_key(); }

  SymmetricState(SymmetricState&&) noexcept = default;
  SymmetricState& operator=(SymmetricState&&) noexcept = default;
  ~SymmetricState();

 private:
  SymmetricState() = default;
  std::array<std::uint8_t, kNoiseHashLen> ck_{};
  HandshakeHash h_;
  CipherState cipher_;
};

// HMAC-SHA256 with a 32-byte key (crypto_auth_hmacsha256), and Noise's
// HKDF(chaining_key, ikm) with two outputs (spec §4.3). Errors: crypto_error.
Result<std::array<std::uint8_t, 32>> hmac_sha256(const std::array<std::uint8_t, 32>& key,
                                                 std::string_view data);
Result<std::pair<SymmetricKey, SymmetricKey>> noise_hkdf2(const std::array<std::uint8_t, 32>& ck,
                                                          std::string_view ikm);

enum class NoiseRole { initiator, responder };

// The XX handshake for one side. Messages alternate: the initiator writes
// message 1, the responder message 2, the initiator message 3; is_complete()
// then holds on both sides and split() yields the transport ciphers.
class NoiseXX {
 public:
  // `fixed_ephemeral` is for test vectors only; production passes nullopt
  // and gets a fresh ephemeral key per handshake. Errors: crypto_error.
  static Result<NoiseXX> create(NoiseRole role, std::string_view prologue, DhKeyPair static_key,
                                std::optional<DhKeyPair> fixed_ephemeral = std::nullopt);
  NoiseXX(NoiseXX&&) noexcept = default;
  NoiseXX& operator=(NoiseXX&&) noexcept = default;

  NoiseRole role() const { return role_; }
  // True when the next message is ours to write (false once complete).
  bool is_my_turn() const;
  bool is_complete() const { return step_ == 3 && !failed_; }
  bool has_failed() const { return failed_; }
  // Index (1, 2, 3) of the next handshake message, or 4 once complete.
  int next_message() const { return step_ + 1; }

  // Errors: protocol_error (out of turn, already failed, the peer's key has
  // small order), limit_exceeded (output over 65535 bytes), crypto_error
  // (libsodium failure).
  Result<std::string> write_message(std::string_view payload);
  // Errors: as write_message, plus limit_exceeded (input over 65535 bytes),
  // protocol_error (too short), and crypto_error only when the message does
  // not decrypt: another prologue, altered or replayed bytes, or keys that
  // belong to another session.
  Result<std::string> read_message(std::string_view message);

  // h: valid at any point; after completion it identifies the session.
  const HandshakeHash& handshake_hash() const { return symmetric_.handshake_hash(); }
  // The remote static key, once the message carrying it has been read.
  const std::optional<X25519PublicKey>& remote_static() const { return rs_; }
  const X25519PublicKey& local_static() const { return s_.public_key(); }

  // (send, receive) CipherStates for this side. Errors: protocol_error
  // before completion.
  Result<std::pair<CipherState, CipherState>> split() const;
  // The raw Split() keys. Errors: protocol_error before completion.
  Result<SplitKeys> split_keys() const;

 private:
  Status write_e(std::string& out);
  Status write_s(std::string& out);
  Status read_e(std::string_view& in);
  Status read_s(std::string_view& in);
  // ee, es, se as seen from this side's role.
  Status mix_dh(const DhKeyPair& local, const std::optional<X25519PublicKey>& remote);
  Error fail(Error e);
  NoiseXX(NoiseRole role, SymmetricState symmetric, DhKeyPair static_key,
          std::optional<DhKeyPair> fixed_ephemeral);

  NoiseRole role_;
  SymmetricState symmetric_;
  DhKeyPair s_;
  std::optional<DhKeyPair> e_;
  std::optional<DhKeyPair> fixed_e_;
  std::optional<X25519PublicKey> re_;
  std::optional<X25519PublicKey> rs_;
  int step_ = 0;  // handshake messages processed so far
  bool failed_ = false;
};

}  // namespace conect::net
