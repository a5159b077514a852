#include "conect/crdt/envelope.h"

#include <sodium.h>

#include <algorithm>

namespace conect {

namespace {

using namespace envelope;

static_assert(crypto_aead_xchacha20poly1305_ietf_KEYBYTES == 32);
static_assert(crypto_aead_xchacha20poly1305_ietf_NPUBBYTES == kNonceBytes);
static_assert(crypto_aead_xchacha20poly1305_ietf_ABYTES == kTagBytes);
static_assert(crypto_box_SEALBYTES + 32 == kSealedKeyBytes);

EnvelopeError fault(EnvelopeFault f, std::string detail) { return EnvelopeError{f, std::move(detail)}; }

std::string header_of(const Hash256& commitment, const NodeId& owner) {
  return std::string(kMagic) + commitment.raw() + owner.raw();
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out.push_back(static_cast<char>((v >> s) & 0xff));
}

// Reads fixed-size fields off the front of the bytes.
class Reader {
 public:
  explicit Reader(std::string_view b) : b_(b) {}
  bool take(std::size_t n, std::string_view* out) {
    if (b_.size() < n) return false;
    *out = b_.substr(0, n);
    b_.remove_prefix(n);
    return true;
  }
  std::size_t left() const { return b_.size(); }

 private:
  std::string_view b_;
};

}  // namespace

const char* envelope_fault_name(EnvelopeFault f) {
  switch (f) {
    case EnvelopeFault::malformed:
      return "malformed";
    case EnvelopeFault::not_addressed:
      return "not_addressed";
    case EnvelopeFault::wrong_seal_key:
      return "wrong_seal_key";
    case EnvelopeFault::tampered:
      return "tampered";
    case EnvelopeFault::commitment_mismatch:
      return "commitment_mismatch";
    case EnvelopeFault::wrong_record:
      return "wrong_record";
  }
  return "unknown";
}

Result<std::string> seal_envelope(std::string_view plaintext, const Hash256& commitment, const NodeId& owner,
                                  std::span<const SealTarget> audience) {
  if (plaintext.empty() || plaintext.size() > kMaxPlaintext)
    return Error(Errc::invalid_argument, "personal data to seal must be 1 to 65536 bytes");
  if (audience.empty() || audience.size() > kMaxSlots)
    return Error(Errc::invalid_argument, "an envelope is sealed to 1 to 255 members");
  std::array<std::uint8_t, 32> key{};
  crypto_aead_xchacha20poly1305_ietf_keygen(key.data());
  Envelope e;
  e.commitment = commitment;
  e.owner = owner;
  randombytes_buf(e.nonce.data(), e.nonce.size());
  const std::string_view key_bytes(reinterpret_cast<const char*>(key.data()), key.size());
  for (const auto& t : audience) e.slots.push_back({t.member, seal_to(t.seal_key, key_bytes)});
  std::sort(e.slots.begin(), e.slots.end(), [](const auto& a, const auto& b) { return a.member < b.member; });
  e.slots.erase(
      std::unique(e.slots.begin(), e.slots.end(), [](const auto& a, const auto& b) { return a.member == b.member; }),
      e.slots.end());
  const std::string ad = header_of(commitment, owner);
  e.ciphertext.assign(plaintext.size() + kTagBytes, '\0');
  unsigned long long clen = 0;
  crypto_aead_xchacha20poly1305_ietf_encrypt(reinterpret_cast<unsigned char*>(e.ciphertext.data()), &clen,
                                             reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(),
                                             reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), nullptr,
                                             e.nonce.data(), key.data());
  sodium_memzero(key.data(), key.size());
  return serialize_envelope(e);
}

std::string serialize_envelope(const Envelope& e) {
  std::string out = header_of(e.commitment, e.owner);
  out.append(reinterpret_cast<const char*>(e.nonce.data()), e.nonce.size());
  out.push_back(static_cast<char>(e.slots.size()));
  for (const auto& s : e.slots) out += s.member.raw() + s.sealed_key;
  put_u32(out, static_cast<std::uint32_t>(e.ciphertext.size()));
  out += e.ciphertext;
  return out;
}

std::variant<Envelope, EnvelopeError> parse_envelope(std::string_view bytes) {
  Reader r(bytes);
  std::string_view magic, commitment, owner, nonce, count, len;
  if (!r.take(4, &magic) || magic != kMagic) return fault(EnvelopeFault::malformed, "not a version 1 envelope (magic)");
  if (!r.take(32, &commitment) || !r.take(32, &owner) || !r.take(kNonceBytes, &nonce) || !r.take(1, &count))
    return fault(EnvelopeFault::malformed, "envelope header truncated");
  Envelope e;
  e.commitment = *Hash256::from_raw(commitment);
  e.owner = *NodeId::from_raw(owner);
  std::copy(nonce.begin(), nonce.end(), e.nonce.begin());
  const auto n = static_cast<std::uint8_t>(count[0]);
  if (n == 0) return fault(EnvelopeFault::malformed, "envelope sealed to nobody");
  if (r.left() < n * kSlotBytes) return fault(EnvelopeFault::malformed, "envelope slots truncated");
  for (std::size_t i = 0; i < n; ++i) {
    std::string_view member, sealed;
    r.take(32, &member);
    r.take(kSealedKeyBytes, &sealed);
    EnvelopeSlot s{*NodeId::from_raw(member), std::string(sealed)};
    // Sorted and unique: one slot per member, one way to write an envelope.
    if (!e.slots.empty() && !(e.slots.back().member < s.member))
      return fault(EnvelopeFault::malformed, "envelope slots not in member order or repeated");
    e.slots.push_back(std::move(s));
  }
  if (!r.take(4, &len)) return fault(EnvelopeFault::malformed, "envelope ciphertext length truncated");
  std::uint32_t clen = 0;
  for (char c : len) clen = (clen << 8) | static_cast<std::uint8_t>(c);
  if (clen <= kTagBytes || clen > kMaxPlaintext + kTagBytes)
    return fault(EnvelopeFault::malformed, "envelope ciphertext length out of range");
  std::string_view ct;
  if (!r.take(clen, &ct)) return fault(EnvelopeFault::malformed, "envelope ciphertext truncated");
  if (r.left() != 0) return fault(EnvelopeFault::malformed, "bytes after the envelope");
  e.ciphertext = std::string(ct);
  return e;
}

namespace {

// open_slot: the slot's sealed content key opened, or nullopt.
template <typename OpenSlot>
std::variant<std::string, EnvelopeError> open_with(const Envelope& e, const NodeId& me, const OpenSlot& open_slot,
                                                   const Hash256& expected_commitment, const NodeId& expected_owner) {
  if (e.commitment != expected_commitment || e.owner != expected_owner)
    return fault(EnvelopeFault::wrong_record, "the envelope names another commitment or owner than its record");
  auto slot = std::find_if(e.slots.begin(), e.slots.end(), [&](const auto& s) { return s.member == me; });
  if (slot == e.slots.end()) return fault(EnvelopeFault::not_addressed, "the envelope has no slot for this node");
  auto content_key = open_slot(slot->sealed_key);
  if (!content_key || content_key->size() != 32)
    return fault(EnvelopeFault::wrong_seal_key, "this node's slot does not open with any seal key it holds");
  const std::string ad = header_of(e.commitment, e.owner);
  std::string plaintext(e.ciphertext.size() - kTagBytes, '\0');
  unsigned long long plen = 0;
  int rc = crypto_aead_xchacha20poly1305_ietf_decrypt(
      reinterpret_cast<unsigned char*>(plaintext.data()), &plen, nullptr,
      reinterpret_cast<const unsigned char*>(e.ciphertext.data()), e.ciphertext.size(),
      reinterpret_cast<const unsigned char*>(ad.data()), ad.size(), e.nonce.data(),
      reinterpret_cast<const unsigned char*>(content_key->data()));
  sodium_memzero(content_key->data(), content_key->size());
  if (rc != 0) return fault(EnvelopeFault::tampered, "the envelope's ciphertext or header was altered");
  // The check that makes a forged envelope useless (see the header).
  if (blake2b256(plaintext) != expected_commitment) {
    sodium_memzero(plaintext.data(), plaintext.size());
    return fault(EnvelopeFault::commitment_mismatch,
                 "the envelope opens to other data than its record commits to (tampering)");
  }
  return plaintext;
}

}  // namespace

std::variant<std::string, EnvelopeError> open_envelope(const Envelope& e, const NodeId& me, const SealKey& key,
                                                       const Hash256& expected_commitment,
                                                       const NodeId& expected_owner) {
  return open_with(
      e, me, [&](std::string_view sealed) { return key.open(sealed); }, expected_commitment, expected_owner);
}

std::variant<std::string, EnvelopeError> open_envelope(const Envelope& e, const NodeId& me, const SealKeyring& keys,
                                                       const Hash256& expected_commitment,
                                                       const NodeId& expected_owner) {
  return open_with(
      e, me, [&](std::string_view sealed) { return keys.open(sealed); }, expected_commitment, expected_owner);
}

v1::Operation envelope_ack_operation(const RecordKey& record, const Hash256& commitment) {
  v1::Operation op;
  auto* a = op.mutable_envelope_ack();
  *a->mutable_record() = record.to_proto();
  a->set_type(record.type);
  a->set_commitment(commitment.raw());
  return op;
}

Result<std::pair<RecordKey, Hash256>> parse_envelope_ack(const v1::EnvelopeAck& ack) {
  if (ack.type() != v1::MOBILITY && ack.type() != v1::CONTACT)
    return Error(Errc::malformed_body, "an envelope acknowledgement names no mobility or contact");
  auto key = RecordKey::from_proto(ack.type(), ack.record());
  if (!key) return Error(Errc::malformed_body, "an envelope acknowledgement's record owner is not a member id");
  auto c = Hash256::from_raw(ack.commitment());
  if (!c) return Error(Errc::malformed_body, "an envelope acknowledgement needs a 32-byte commitment");
  return std::pair{*key, *c};
}

}  // namespace conect
