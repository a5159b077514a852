#include "conect/crdt/identity.h"

#include <sodium.h>

#include "secret_file.h"

namespace conect {

bool crypto_init() { return sodium_init() >= 0; }

std::string_view domain_label(SigningDomain d) {
  switch (d) {
    case SigningDomain::delta:
      return "conect/delta/v1";
    case SigningDomain::member_card:
      return "conect/card/v1";
    case SigningDomain::noise_static:
      return "conect/noise-static/v1";
    case SigningDomain::confirmation:
      return "conect/confirm/v1";
    case SigningDomain::rotation:
      return "conect/rotate/v1";
    case SigningDomain::audit_header:
      return "conect/audit-header/v1";
    case SigningDomain::seal_key:
      return "conect/seal-key/v1";
  }
  return "conect/invalid";
}

Hash256 blake2b256(std::string_view data) {
  Hash256 h;
  crypto_generichash(h.data(), h.size(), reinterpret_cast<const unsigned char*>(data.data()), data.size(), nullptr, 0);
  return h;
}

namespace {

// label || BLAKE2b-256(message): fixed-size input to Ed25519 whatever the
// message size, and the label keeps the domains apart.
std::string signing_input(SigningDomain domain, std::string_view message) {
  std::string input(domain_label(domain));
  Hash256 h = blake2b256(message);
  input.append(reinterpret_cast<const char*>(h.data()), h.size());
  return input;
}

}  // namespace

KeyPair KeyPair::generate() {
  KeyPair k;
  crypto_sign_keypair(k.public_.data(), k.secret_.data());
  return k;
}

KeyPair KeyPair::from_seed(const std::array<std::uint8_t, 32>& seed) {
  KeyPair k;
  crypto_sign_seed_keypair(k.public_.data(), k.secret_.data(), seed.data());
  return k;
}

KeyPair::~KeyPair() { sodium_memzero(secret_.data(), secret_.size()); }

Signature KeyPair::sign(SigningDomain domain, std::string_view message) const {
  std::string input = signing_input(domain, message);
  Signature sig;
  crypto_sign_detached(sig.data(), nullptr, reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                       secret_.data());
  return sig;
}

bool verify_signature(const NodeId& signer, SigningDomain domain, std::string_view message,
                      std::string_view signature) {
  if (signature.size() != crypto_sign_BYTES) return false;
  std::string input = signing_input(domain, message);
  return crypto_sign_verify_detached(reinterpret_cast<const unsigned char*>(signature.data()),
                                     reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                                     signer.data()) == 0;
}

namespace {
const secret_file::Kind kIdentityKeyFile{"identity key", "an", "a 64-byte Ed25519 secret key",
                                         " (run `conect-node init` first)"};
}  // namespace

Status KeyPair::save(const std::filesystem::path& path) const {
  return secret_file::write(path, secret_.data(), secret_.size(), kIdentityKeyFile);
}

Result<KeyPair> KeyPair::load(const std::filesystem::path& path) {
  KeyPair k;
  if (auto st = secret_file::read(path, k.secret_.data(), k.secret_.size(), kIdentityKeyFile); !st) return st.error();
  // A libsodium secret key is seed || public key: re-derive from the seed so a
  // flipped bit anywhere is caught here rather than as bad signatures later.
  std::array<std::uint8_t, 64> rederived{};
  if (crypto_sign_seed_keypair(k.public_.data(), rederived.data(), k.secret_.data()) != 0)
    return Error(Errc::crypto_error, "cannot derive public key from " + path.string());
  bool same = sodium_memcmp(rederived.data(), k.secret_.data(), 64) == 0;
  sodium_memzero(rederived.data(), rederived.size());
  if (!same) return Error(Errc::malformed_body, path.string() + " is corrupt (public half does not match)");
  return k;
}

}  // namespace conect
