#include "conect/crdt/seal.h"

#include <sodium.h>

#include "secret_file.h"

namespace conect {

static_assert(crypto_box_PUBLICKEYBYTES == 32 && crypto_box_SECRETKEYBYTES == 32);

SealKey SealKey::generate() {
  SealKey k;
  crypto_box_keypair(k.public_.data(), k.secret_.data());
  return k;
}

SealKey SealKey::from_seed(const std::array<std::uint8_t, 32>& seed) {
  SealKey k;
  crypto_box_seed_keypair(k.public_.data(), k.secret_.data(), seed.data());
  return k;
}

SealKey::~SealKey() { sodium_memzero(secret_.data(), secret_.size()); }

std::optional<std::string> SealKey::open(std::string_view sealed) const {
  if (sealed.size() < crypto_box_SEALBYTES) return std::nullopt;
  std::string out(sealed.size() - crypto_box_SEALBYTES, '\0');
  if (crypto_box_seal_open(reinterpret_cast<unsigned char*>(out.data()),
                           reinterpret_cast<const unsigned char*>(sealed.data()), sealed.size(), public_.data(),
                           secret_.data()) != 0)
    return std::nullopt;
  return out;
}

std::string seal_to(const SealPublicKey& to, std::string_view message) {
  std::string out(message.size() + crypto_box_SEALBYTES, '\0');
  crypto_box_seal(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(message.data()),
                  message.size(), to.data());
  return out;
}

namespace {
const secret_file::Kind kSealKeyFile{"seal key", "a", "a 32-byte X25519 secret key", ""};
}  // namespace

Status SealKey::save(const std::filesystem::path& path) const {
  return secret_file::write(path, secret_.data(), secret_.size(), kSealKeyFile);
}

Result<SealKey> SealKey::load(const std::filesystem::path& path) {
  SealKey k;
  if (auto st = secret_file::read(path, k.secret_.data(), k.secret_.size(), kSealKeyFile); !st) return st.error();
  if (crypto_scalarmult_base(k.public_.data(), k.secret_.data()) != 0)
    return Error(Errc::crypto_error, "cannot derive the public seal key from " + path.string());
  return k;
}

Result<SealKey> SealKey::load_or_create(const std::filesystem::path& path, bool* created) {
  if (created) *created = false;
  auto k = load(path);
  if (k.ok() || !k.error().is(Errc::not_found)) return k;
  SealKey fresh = generate();
  if (auto st = fresh.save(path); !st) return st.error();
  if (created) *created = true;
  return fresh;
}

std::string seal_key_signing_message(const FederationId& federation, const NodeId& origin,
                                     const SealPublicKey& seal_key) {
  return federation.raw() + origin.raw() + seal_key.raw();
}

v1::Operation seal_key_announcement(const KeyPair& identity, const FederationId& federation,
                                    const SealPublicKey& seal_key) {
  v1::Operation op;
  auto* a = op.mutable_seal_key();
  a->set_seal_key(seal_key.raw());
  Signature sig =
      identity.sign(SigningDomain::seal_key, seal_key_signing_message(federation, identity.public_key(), seal_key));
  a->set_signature(sig.raw());
  return op;
}

Result<SealPublicKey> verify_seal_key_announcement(const v1::SealKeyAnnounce& announcement,
                                                   const FederationId& federation, const NodeId& origin) {
  auto key = SealPublicKey::from_raw(announcement.seal_key());
  if (!key || key->is_zero()) return Error(Errc::malformed_body, "a seal-key announcement needs a 32-byte key");
  if (!verify_signature(origin, SigningDomain::seal_key, seal_key_signing_message(federation, origin, *key),
                        announcement.signature()))
    return Error(Errc::bad_signature, "the seal-key announcement of " + origin.hex().substr(0, 16) +
                                          " is not signed by its origin for this federation");
  return *key;
}

}  // namespace conect
