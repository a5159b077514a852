#include "conect/net/noise.h"

#include <sodium.h>

#include <cstring>
#include <limits>

#include "sodium_bytes.h"

namespace conect::net {
namespace {

static_assert(crypto_aead_chacha20poly1305_ietf_KEYBYTES == kNoiseKeyLen);
static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12);
static_assert(crypto_aead_chacha20poly1305_ietf_ABYTES == kNoiseTagLen);
static_assert(crypto_hash_sha256_BYTES == kNoiseHashLen);
static_assert(crypto_auth_hmacsha256_BYTES == 32 && crypto_auth_hmacsha256_KEYBYTES == 32);
static_assert(crypto_scalarmult_curve25519_BYTES == kNoiseDhLen);

constexpr std::uint64_t kMaxNonce = std::numeric_limits<std::uint64_t>::max();

std::string_view view(const std::uint8_t* p, std::size_t n) {
  return {reinterpret_cast<const char*>(p), n};
}

// ChaChaPoly's 96-bit nonce: 32 zero bits, then n little-endian (spec §12.3).
std::array<unsigned char, 12> ietf_nonce(std::uint64_t n) {
  std::array<unsigned char, 12> out{};
  for (int i = 0; i < 8; ++i) out[4 + i] = static_cast<unsigned char>(n >> (8 * i));
  return out;
}

Error crypto_failure(std::string what) { return Error(Errc::crypto_error, std::move(what)); }

}  // namespace

// ---- DH ----------------------------------------------------------------

DhKeyPair::~DhKeyPair() { sodium_memzero(private_.data(), private_.size()); }

Result<DhKeyPair> DhKeyPair::generate() {
  DhKeyPair k;
  if (crypto_box_keypair(k.public_.data(), k.private_.data()) != 0)
    return crypto_failure("crypto_box_keypair failed");
  return k;
}

Result<DhKeyPair> DhKeyPair::from_private(const std::array<std::uint8_t, 32>& private_key) {
  DhKeyPair k;
  k.private_ = private_key;
  if (crypto_scalarmult_curve25519_base(k.public_.data(), k.private_.data()) != 0)
    return crypto_failure("cannot derive an X25519 public key from this private key");
  return k;
}

Result<SymmetricKey> dh(const DhKeyPair& local, const X25519PublicKey& remote) {
  SymmetricKey out{};
  // libsodium returns -1 exactly when the shared point is all zero.
  if (crypto_scalarmult_curve25519(out.data(), local.private_key().data(), remote.data()) != 0) {
    sodium_memzero(out.data(), out.size());
    return crypto_failure("X25519 produced an all-zero shared secret (small-order public key " +
                          remote.hex() + ")");
  }
  return out;
}

// ---- HMAC / HKDF ---------------------------------------------------------

Result<std::array<std::uint8_t, 32>> hmac_sha256(const std::array<std::uint8_t, 32>& key,
                                                 std::string_view data) {
  std::array<std::uint8_t, 32> out{};
  if (crypto_auth_hmacsha256(out.data(), u8(data), data.size(), key.data()) != 0)
    return crypto_failure("crypto_auth_hmacsha256 failed");
  return out;
}

Result<std::pair<SymmetricKey, SymmetricKey>> noise_hkdf2(const std::array<std::uint8_t, 32>& ck,
                                                          std::string_view ikm) {
  auto temp_key = hmac_sha256(ck, ikm);
  if (!temp_key) return temp_key.error();
  const std::uint8_t one = 0x01;
  auto out1 = hmac_sha256(*temp_key, view(&one, 1));
  if (!out1) return out1.error();
  std::string input(view(out1->data(), out1->size()));
  input.push_back('\x02');
  auto out2 = hmac_sha256(*temp_key, input);
  sodium_memzero(temp_key->data(), temp_key->size());
  sodium_memzero(input.data(), input.size());
  if (!out2) return out2.error();
  return std::pair<SymmetricKey, SymmetricKey>{*out1, *out2};
}

// ---- CipherState -----------------------------------------------------------

CipherState::CipherState(CipherState&& other) noexcept
    : k_(other.k_), has_key_(other.has_key_), n_(other.n_) {
  sodium_memzero(other.k_.data(), other.k_.size());
  other.has_key_ = false;
  other.n_ = 0;
}

CipherState& CipherState::operator=(CipherState&& other) noexcept {
  if (this != &other) {
    k_ = other.k_;
    has_key_ = other.has_key_;
    n_ = other.n_;
    sodium_memzero(other.k_.data(), other.k_.size());
    other.has_key_ = false;
    other.n_ = 0;
  }
  return *this;
}

CipherState::~CipherState() { sodium_memzero(k_.data(), k_.size()); }

void CipherState::initialize_key(const SymmetricKey& k) {
  k_ = k;
  has_key_ = true;
  n_ = 0;
}

Result<std::string> CipherState::encrypt_with_ad(std::string_view ad, std::string_view plaintext) {
  if (!has_key_) return std::string(plaintext);
  if (n_ == kMaxNonce)
    return Error(Errc::limit_exceeded, "Noise nonce exhausted (2^64-1 messages); rekey or reconnect");
  std::string out(plaintext.size() + kNoiseTagLen, '\0');
  auto nonce = ietf_nonce(n_);
  unsigned long long out_len = 0;
  if (crypto_aead_chacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(out.data()), &out_len,
                                                u8(plaintext), plaintext.size(), u8(ad), ad.size(),
                                                nullptr, nonce.data(), k_.data()) != 0 ||
      out_len != out.size())
    return crypto_failure("ChaChaPoly encryption failed");
  ++n_;
  return out;
}

Result<std::string> CipherState::decrypt_with_ad(std::string_view ad, std::string_view ciphertext) {
  if (!has_key_) return std::string(ciphertext);
  if (n_ == kMaxNonce)
    return Error(Errc::limit_exceeded, "Noise nonce exhausted (2^64-1 messages); rekey or reconnect");
  if (ciphertext.size() < kNoiseTagLen)
    return crypto_failure("ciphertext of " + std::to_string(ciphertext.size()) +
                          " bytes is shorter than its 16-byte tag");
  std::string out(ciphertext.size() - kNoiseTagLen, '\0');
  auto nonce = ietf_nonce(n_);
  unsigned long long out_len = 0;
  if (crypto_aead_chacha20poly1305_ietf_decrypt(reinterpret_cast<unsigned char*>(out.data()), &out_len,
                                                nullptr, u8(ciphertext), ciphertext.size(), u8(ad),
                                                ad.size(), nonce.data(), k_.data()) != 0 ||
      out_len != out.size())
    return crypto_failure("ChaChaPoly authentication failed");
  ++n_;
  return out;
}

Status CipherState::rekey() {
  if (!has_key_) return Error(Errc::protocol_error, "rekey without a key");
  std::array<unsigned char, 32> zeros{};
  std::array<unsigned char, 32 + kNoiseTagLen> out{};
  auto nonce = ietf_nonce(kMaxNonce);
  unsigned long long out_len = 0;
  if (crypto_aead_chacha20poly1305_ietf_encrypt(out.data(), &out_len, zeros.data(), zeros.size(),
                                                nullptr, 0, nullptr, nonce.data(), k_.data()) != 0)
    return crypto_failure("ChaChaPoly encryption failed during rekey");
  std::memcpy(k_.data(), out.data(), k_.size());
  sodium_memzero(out.data(), out.size());
  return {};
}

// ---- SymmetricState -------------------------------------------------------

SplitKeys::~SplitKeys() {
  sodium_memzero(initiator_to_responder.data(), initiator_to_responder.size());
  sodium_memzero(responder_to_initiator.data(), responder_to_initiator.size());
}

SymmetricState::~SymmetricState() { sodium_memzero(ck_.data(), ck_.size()); }

Result<SymmetricState> SymmetricState::initialize(std::string_view protocol_name) {
  SymmetricState s;
  if (protocol_name.size() <= kNoiseHashLen) {
    std::memcpy(s.h_.data(), protocol_name.data(), protocol_name.size());
  } else if (crypto_hash_sha256(s.h_.data(), u8(protocol_name), protocol_name.size()) != 0) {
    return crypto_failure("crypto_hash_sha256 failed");
  }
  std::memcpy(s.ck_.data(), s.h_.data(), kNoiseHashLen);
  return s;
}

Status SymmetricState::mix_hash(std::string_view data) {
  std::string input(view(h_.data(), h_.size()));
  input.append(data);
  if (crypto_hash_sha256(h_.data(), u8(input), input.size()) != 0)
    return crypto_failure("crypto_hash_sha256 failed");
  return {};
}

Status SymmetricState::mix_key(std::string_view input_key_material) {
  auto keys = noise_hkdf2(ck_, input_key_material);
  if (!keys) return keys.error();
  ck_ = keys->first;
  cipher_.initialize_key(keys->second);  // HASHLEN == 32: no truncation
  sodium_memzero(keys->first.data(), keys->first.size());
  sodium_memzero(keys->second.data(), keys->second.size());
  return {};
}

Result<std::string> SymmetricState::encrypt_and_hash(std::string_view plaintext) {
  auto ciphertext = cipher_.encrypt_with_ad(view(h_.data(), h_.size()), plaintext);
  if (!ciphertext) return ciphertext;
  if (auto st = mix_hash(*ciphertext); !st) return st.error();
  return ciphertext;
}

Result<std::string> SymmetricState::decrypt_and_hash(std::string_view ciphertext) {
  auto plaintext = cipher_.decrypt_with_ad(view(h_.data(), h_.size()), ciphertext);
  if (!plaintext) return plaintext;
  if (auto st = mix_hash(ciphertext); !st) return st.error();
  return plaintext;
}

Result<SplitKeys> SymmetricState::split_keys() const {
  auto keys = noise_hkdf2(ck_, {});
  if (!keys) return keys.error();
  SplitKeys out;
  out.initiator_to_responder = keys->first;
  out.responder_to_initiator = keys->second;
  sodium_memzero(keys->first.data(), keys->first.size());
  sodium_memzero(keys->second.data(), keys->second.size());
  return out;
}

// ---- NoiseXX -----------------------------------------------------------------

NoiseXX::NoiseXX(NoiseRole role, SymmetricState symmetric, DhKeyPair static_key,
                 std::optional<DhKeyPair> fixed_ephemeral)
    : role_(role),
      symmetric_(std::move(symmetric)),
      s_(std::move(static_key)),
      fixed_e_(std::move(fixed_ephemeral)) {}

Result<NoiseXX> NoiseXX::create(NoiseRole role, std::string_view prologue, DhKeyPair static_key,
                                std::optional<DhKeyPair> fixed_ephemeral) {
  auto symmetric = SymmetricState::initialize(kNoiseProtocolName);
  if (!symmetric) return symmetric.error();
  if (auto st = symmetric->mix_hash(prologue); !st) return st.error();
  return NoiseXX(role, std::move(*symmetric), std::move(static_key), std::move(fixed_ephemeral));
}

bool NoiseXX::is_my_turn() const {
  if (failed_ || step_ >= 3) return false;
  // Messages 1 and 3 (steps 0 and 2) are the initiator's.
  return (step_ % 2 == 0) == (role_ == NoiseRole::initiator);
}

Error NoiseXX::fail(Error e) {
  failed_ = true;
  return e;
}

Status NoiseXX::mix_dh(const DhKeyPair& local, const std::optional<X25519PublicKey>& remote) {
  if (!remote) return Error(Errc::protocol_error, "Noise DH before the remote key is known");
  auto shared = dh(local, *remote);
  // The only way X25519 fails here is a small-order key sent by the peer.
  if (!shared) return Error(Errc::protocol_error, shared.error().detail);
  Status st = symmetric_.mix_key(view(shared->data(), shared->size()));
  sodium_memzero(shared->data(), shared->size());
  return st;
}

Status NoiseXX::write_e(std::string& out) {
  if (fixed_e_) {
    e_ = *fixed_e_;
  } else {
    auto e = DhKeyPair::generate();
    if (!e) return e.error();
    e_ = std::move(*e);
  }
  std::string_view pub = view(e_->public_key().data(), kNoiseDhLen);
  out.append(pub);
  return symmetric_.mix_hash(pub);
}

Status NoiseXX::write_s(std::string& out) {
  auto c = symmetric_.encrypt_and_hash(view(s_.public_key().data(), kNoiseDhLen));
  if (!c) return c.error();
  out.append(*c);
  return {};
}

Status NoiseXX::read_e(std::string_view& in) {
  if (in.size() < kNoiseDhLen)
    return Error(Errc::protocol_error, "handshake message too short for an ephemeral key");
  re_ = X25519PublicKey::from_raw(in.substr(0, kNoiseDhLen));
  in.remove_prefix(kNoiseDhLen);
  return symmetric_.mix_hash(view(re_->data(), kNoiseDhLen));
}

Status NoiseXX::read_s(std::string_view& in) {
  std::size_t len = kNoiseDhLen + (symmetric_.has_key() ? kNoiseTagLen : 0);
  if (in.size() < len)
    return Error(Errc::protocol_error, "handshake message too short for a static key");
  auto plain = symmetric_.decrypt_and_hash(in.substr(0, len));
  if (!plain) return plain.error();
  rs_ = X25519PublicKey::from_raw(*plain);
  in.remove_prefix(len);
  return {};
}

Result<std::string> NoiseXX::write_message(std::string_view payload) {
  if (failed_) return Error(Errc::protocol_error, "Noise handshake already failed");
  if (!is_my_turn())
    return fail(Error(Errc::protocol_error, "Noise handshake message " + std::to_string(step_ + 1) +
                                                " is not ours to write"));
  std::string out;
  Status st;
  if (step_ == 0) {  // -> e
    st = write_e(out);
  } else if (step_ == 1) {  // <- e, ee, s, es
    st = write_e(out);
    if (st) st = mix_dh(*e_, re_);
    if (st) st = write_s(out);
    if (st) st = mix_dh(s_, re_);
  } else {  // -> s, se
    st = write_s(out);
    if (st) st = mix_dh(s_, re_);
  }
  if (!st) return fail(st.error());
  auto c = symmetric_.encrypt_and_hash(payload);
  if (!c) return fail(c.error());
  out.append(*c);
  if (out.size() > kNoiseMaxMessage)
    return fail(Error(Errc::limit_exceeded, "Noise handshake message of " + std::to_string(out.size()) +
                                                " bytes exceeds 65535"));
  ++step_;
  return out;
}

Result<std::string> NoiseXX::read_message(std::string_view message) {
  if (failed_) return Error(Errc::protocol_error, "Noise handshake already failed");
  if (step_ >= 3 || is_my_turn())
    return fail(Error(Errc::protocol_error, step_ >= 3 ? "Noise handshake already complete"
                                                       : "unexpected Noise handshake message " +
                                                             std::to_string(step_ + 1)));
  if (message.size() > kNoiseMaxMessage)
    return fail(Error(Errc::limit_exceeded, "Noise handshake message of " +
                                                std::to_string(message.size()) + " bytes exceeds 65535"));
  std::string_view in = message;
  Status st;
  if (step_ == 0) {  // -> e
    st = read_e(in);
  } else if (step_ == 1) {  // <- e, ee, s, es
    st = read_e(in);
    if (st) st = mix_dh(*e_, re_);
    if (st) st = read_s(in);
    if (st) st = mix_dh(*e_, rs_);
  } else {  // -> s, se
    st = read_s(in);
    if (st) st = mix_dh(*e_, rs_);
  }
  if (!st) return fail(st.error());
  auto payload = symmetric_.decrypt_and_hash(in);
  if (!payload) return fail(payload.error());
  ++step_;
  return payload;
}

Result<SplitKeys> NoiseXX::split_keys() const {
  if (!is_complete()) return Error(Errc::protocol_error, "Noise split before the handshake completed");
  return symmetric_.split_keys();
}

Result<std::pair<CipherState, CipherState>> NoiseXX::split() const {
  auto keys = split_keys();
  if (!keys) return keys.error();
  CipherState c1(keys->initiator_to_responder);
  CipherState c2(keys->responder_to_initiator);
  if (role_ == NoiseRole::initiator) return std::pair<CipherState, CipherState>{std::move(c1), std::move(c2)};
  return std::pair<CipherState, CipherState>{std::move(c2), std::move(c1)};
}

}  // namespace conect::net
