#include "conect/crdt/seal.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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

Status SealKey::save(const std::filesystem::path& path) const {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return Error(Errc::already_exists, path.string() + " exists; refusing to overwrite a seal key");
    return Error(Errc::io_error, "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  ::fchmod(fd, 0600);
  ssize_t written = ::write(fd, secret_.data(), secret_.size());
  bool ok = written == static_cast<ssize_t>(secret_.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Error(Errc::io_error, "cannot write " + path.string());
  return {};
}

Result<SealKey> SealKey::load(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error(errno == ENOENT ? Errc::not_found : Errc::io_error,
                 "cannot open seal key " + path.string() + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return Error(Errc::insecure_permissions,
                 path.string() + " is readable by group or others; run `chmod 600 " + path.string() + "`");
  }
  SealKey k;
  ssize_t n = ::read(fd, k.secret_.data(), k.secret_.size());
  char extra = 0;
  ssize_t more = ::read(fd, &extra, 1);
  ::close(fd);
  if (n != static_cast<ssize_t>(k.secret_.size()) || more != 0)
    return Error(Errc::malformed_body, path.string() + " is not a 32-byte X25519 secret key");
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
