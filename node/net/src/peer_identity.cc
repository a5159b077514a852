#include "conect/net/peer_identity.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "conect/crdt/delta.h"
#include "conect/crdt/membership.h"

namespace conect::net {

std::string handshake_prologue(const FederationId& federation) {
  std::string p(kProloguePrefix);
  p += federation.raw();
  return p;
}

Result<NoiseStaticKey> NoiseStaticKey::generate() {
  auto k = DhKeyPair::generate();
  if (!k) return k.error();
  return NoiseStaticKey(std::move(*k));
}

Result<NoiseStaticKey> NoiseStaticKey::from_private(const std::array<std::uint8_t, 32>& private_key) {
  auto k = DhKeyPair::from_private(private_key);
  if (!k) return k.error();
  return NoiseStaticKey(std::move(*k));
}

Status NoiseStaticKey::save(const std::filesystem::path& path) const {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (errno == EEXIST)
      return Error(Errc::already_exists, path.string() + " exists; refusing to overwrite a Noise static key");
    return Error(Errc::io_error, "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  // The umask cannot widen 0600; fchmod states the mode anyway.
  bool ok = ::fchmod(fd, 0600) == 0;
  const auto& priv = keypair_.private_key();
  ok = ok && ::write(fd, priv.data(), priv.size()) == static_cast<ssize_t>(priv.size());
  ok = ok && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Error(Errc::io_error, "cannot write " + path.string() + ": " + std::strerror(errno));
  return {};
}

Result<NoiseStaticKey> NoiseStaticKey::load(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return Error(errno == ENOENT ? Errc::not_found : Errc::io_error,
                 "cannot open Noise static key " + path.string() + ": " + std::strerror(errno) +
                     " (run `conect-node init` first)");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || (st.st_mode & 077) != 0) {
    ::close(fd);
    return Error(Errc::insecure_permissions,
                 path.string() + " is readable by group or others; run `chmod 600 " + path.string() + "`");
  }
  std::array<std::uint8_t, 32> priv{};
  ssize_t n = ::read(fd, priv.data(), priv.size());
  char extra = 0;
  ssize_t more = ::read(fd, &extra, 1);
  ::close(fd);
  if (n != static_cast<ssize_t>(priv.size()) || more != 0) {
    sodium_memzero(priv.data(), priv.size());
    return Error(Errc::malformed_body, path.string() + " is not a 32-byte X25519 private key");
  }
  auto k = from_private(priv);
  sodium_memzero(priv.data(), priv.size());
  return k;
}

std::string static_binding_message(const X25519PublicKey& noise_static, const FederationId& federation) {
  return noise_static.raw() + federation.raw();
}

Signature sign_static_binding(const KeyPair& identity, const X25519PublicKey& noise_static,
                              const FederationId& federation) {
  return identity.sign(SigningDomain::noise_static, static_binding_message(noise_static, federation));
}

bool verify_static_binding(const NodeId& signer, const X25519PublicKey& noise_static,
                           const FederationId& federation, std::string_view signature) {
  return verify_signature(signer, SigningDomain::noise_static,
                          static_binding_message(noise_static, federation), signature);
}

PeerCredentials::PeerCredentials(const KeyPair& identity, NoiseStaticKey noise_static,
                                 const FederationId& federation)
    : node_id_(identity.public_key()),
      federation_(federation),
      noise_static_(std::move(noise_static)),
      binding_(sign_static_binding(identity, noise_static_.public_key(), federation)) {}

PeerCredentials::PeerCredentials(const NodeId& node_id, NoiseStaticKey noise_static,
                                 const FederationId& federation, const Signature& binding)
    : node_id_(node_id), federation_(federation), noise_static_(std::move(noise_static)), binding_(binding) {}

std::optional<NodeId> key_after_rotations(const FederationId& federation, const NodeId& member, const NodeId& known,
                                          const std::vector<std::string_view>& rotations) {
  if (rotations.size() > kMaxHandshakeRotations) return std::nullopt;
  NodeId key = known;
  bool moved = false;
  for (std::string_view bytes : rotations) {
    auto d = decode_delta(federation, bytes);
    if (!d.ok() || d->origin != member) return std::nullopt;
    if (!verify_signature(key, SigningDomain::delta, d->signed_delta.body(), d->signed_delta.signature())) {
      if (moved) return std::nullopt;
      continue;  // signed by a key before the one this node holds
    }
    const v1::Rotate* rotate = nullptr;
    for (const auto& op : d->body.ops())
      if (op.has_rotate()) rotate = &op.rotate();
    auto next = rotate ? NodeId::from_raw(rotate->new_identity_key()) : std::nullopt;
    if (!next || !verify_signature(*next, SigningDomain::rotation, rotation_proof_message(member, *next),
                                   rotate->new_key_proof()))
      return std::nullopt;
    key = *next;
    moved = true;
  }
  if (!moved) return std::nullopt;
  return key;
}

}  // namespace conect::net
