#include "conect/crdt/seal.h"

#include <sodium.h>

#include <algorithm>
#include <mutex>

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

bool SealKey::derive_public() { return crypto_scalarmult_base(public_.data(), secret_.data()) == 0; }

Result<SealKey> SealKey::load(const std::filesystem::path& path) {
  SealKey k;
  if (auto st = secret_file::read(path, k.secret_.data(), k.secret_.size(), kSealKeyFile); !st) return st.error();
  if (!k.derive_public()) return Error(Errc::crypto_error, "cannot derive the public seal key from " + path.string());
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

// ------------------------------------------------------------ keyring

namespace {

const secret_file::Kind kKeyringFile{"seal keyring", "a", "a seal keyring (\"cnK1\" and up to 16 entries of 40 bytes)",
                                     ""};
constexpr std::string_view kKeyringMagic = "cnK1";
constexpr std::size_t kKeyringEntryBytes = 8 + 32;

}  // namespace

SealKeyring::SealKeyring(const SealKey& current, std::vector<RetiredSealKey> retired)
    : current_(current), retired_(std::move(retired)) {
  if (retired_.size() > kMaxRetiredSealKeys) retired_.erase(retired_.begin() + kMaxRetiredSealKeys, retired_.end());
}

SealKey SealKeyring::current() const {
  std::shared_lock lock(mu_);
  return current_;
}

std::vector<RetiredSealKey> SealKeyring::retired() const {
  std::shared_lock lock(mu_);
  return retired_;
}

std::optional<std::string> SealKeyring::open(std::string_view sealed) const {
  std::shared_lock lock(mu_);
  if (auto out = current_.open(sealed)) return out;
  for (const auto& r : retired_)
    if (auto out = r.key.open(sealed)) return out;
  return std::nullopt;
}

void SealKeyring::rotate(const SealKey& next, std::uint64_t now_ms) {
  std::unique_lock lock(mu_);
  if (next.public_key() == current_.public_key()) return;
  auto known = [&](const SealPublicKey& k) {
    return std::any_of(retired_.begin(), retired_.end(), [&](const auto& r) { return r.key.public_key() == k; });
  };
  if (!known(current_.public_key())) retired_.insert(retired_.begin(), RetiredSealKey{current_, now_ms});
  // The new key may have been retired before (never by this code, but a
  // keyring is a file): it is current now, not retired.
  std::erase_if(retired_, [&](const auto& r) { return r.key.public_key() == next.public_key(); });
  if (retired_.size() > kMaxRetiredSealKeys) retired_.erase(retired_.begin() + kMaxRetiredSealKeys, retired_.end());
  current_ = next;
}

void SealKeyring::restore_retired(std::vector<RetiredSealKey> retired) {
  std::unique_lock lock(mu_);
  retired_ = std::move(retired);
  std::erase_if(retired_, [&](const auto& r) { return r.key.public_key() == current_.public_key(); });
  if (retired_.size() > kMaxRetiredSealKeys) retired_.erase(retired_.begin() + kMaxRetiredSealKeys, retired_.end());
}

std::size_t SealKeyring::discard_expired(std::uint64_t now_ms, std::uint64_t keep_ms) {
  std::unique_lock lock(mu_);
  return std::erase_if(retired_, [&](const auto& r) { return r.retired_ms + keep_ms <= now_ms; });
}

Status SealKeyring::save_retired(const std::filesystem::path& path) const {
  std::string bytes(kKeyringMagic);
  {
    std::shared_lock lock(mu_);
    for (const auto& r : retired_) {
      for (int shift = 56; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>(r.retired_ms >> shift));
      bytes.append(reinterpret_cast<const char*>(r.key.secret_.data()), r.key.secret_.size());
    }
  }
  Status st = secret_file::replace(path, bytes, kKeyringFile);
  sodium_memzero(bytes.data(), bytes.size());
  return st;
}

Result<std::vector<RetiredSealKey>> SealKeyring::load_retired(const std::filesystem::path& path) {
  auto bytes =
      secret_file::read_all(path, kKeyringMagic.size() + kMaxRetiredSealKeys * kKeyringEntryBytes, kKeyringFile);
  if (!bytes.ok()) {
    if (bytes.error().is(Errc::not_found)) return std::vector<RetiredSealKey>{};
    return bytes.error();
  }
  auto fail = [&](const std::string& why) {
    sodium_memzero(bytes->data(), bytes->size());
    return Error(Errc::malformed_body, path.string() + " is not a seal keyring: " + why +
                                           "; move it away to start without the retired seal keys (envelopes "
                                           "sealed to them are refused until their owners seal them again)");
  };
  std::string_view b = *bytes;
  if (!b.starts_with(kKeyringMagic)) return fail("it does not start with \"cnK1\"");
  b.remove_prefix(kKeyringMagic.size());
  if (b.size() % kKeyringEntryBytes != 0) return fail("its length is not 4 + a multiple of 40 bytes");
  std::vector<RetiredSealKey> out;
  for (; !b.empty(); b.remove_prefix(kKeyringEntryBytes)) {
    RetiredSealKey r{SealKey(), 0};
    for (int i = 0; i < 8; ++i) r.retired_ms = (r.retired_ms << 8) | static_cast<std::uint8_t>(b[i]);
    std::copy(b.begin() + 8, b.begin() + kKeyringEntryBytes, r.key.secret_.begin());
    if (!r.key.derive_public()) return fail("an entry's secret is not an X25519 key");
    out.push_back(std::move(r));
  }
  sodium_memzero(bytes->data(), bytes->size());
  return out;
}

// ------------------------------------------------------------ statements

std::optional<SealPublicKey> rotated_seal_key(const v1::Rotate& rotate) {
  auto key = SealPublicKey::from_raw(rotate.new_seal_key());
  if (!key || key->is_zero()) return std::nullopt;
  return key;
}

std::optional<SealPublicKey> seal_key_stated(const v1::DeltaBody& body, const NodeId& origin,
                                             const FederationId& federation) {
  std::optional<SealPublicKey> last;
  for (const auto& op : body.ops()) {
    if (op.has_seal_key()) {
      if (auto k = verify_seal_key_announcement(op.seal_key(), federation, origin); k.ok()) last = *k;
    } else if (op.has_rotate()) {
      if (auto k = rotated_seal_key(op.rotate())) last = k;
    }
  }
  return last;
}

}  // namespace conect
