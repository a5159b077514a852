#include "conect/crdt/identity.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

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

Status KeyPair::save(const std::filesystem::path& path) const {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return Error(Errc::already_exists, path.string() + " exists; refusing to overwrite an identity key");
    return Error(Errc::io_error, "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  // The umask cannot widen 0600, but fchmod makes the mode explicit anyway.
  ::fchmod(fd, 0600);
  ssize_t written = ::write(fd, secret_.data(), secret_.size());
  bool ok = written == static_cast<ssize_t>(secret_.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Error(Errc::io_error, "cannot write " + path.string());
  return {};
}

Result<KeyPair> KeyPair::load(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error(
        errno == ENOENT ? Errc::not_found : Errc::io_error,
        "cannot open identity key " + path.string() + ": " + std::strerror(errno) + " (run `conect-node init` first)");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return Error(Errc::insecure_permissions,
                 path.string() + " is readable by group or others; run `chmod 600 " + path.string() + "`");
  }
  KeyPair k;
  ssize_t n = ::read(fd, k.secret_.data(), k.secret_.size());
  char extra = 0;
  ssize_t more = ::read(fd, &extra, 1);
  ::close(fd);
  if (n != static_cast<ssize_t>(k.secret_.size()) || more != 0)
    return Error(Errc::malformed_body, path.string() + " is not a 64-byte Ed25519 secret key");
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
