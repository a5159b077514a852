// Envelopes: personal data sealed to its audience (DESIGN §5,
// docs/privacy.md "Envelope" gives the layout byte by byte).
//
// The plaintext (salt || canonical content, the bytes whose BLAKE2b-256 is
// the commitment in the signed record) is encrypted once with
// XChaCha20-Poly1305-IETF under a fresh random 32-byte content key; the
// content key is sealed (crypto_box_seal) to the seal key of every audience
// member, one slot per member. The header (magic, commitment, owner) is the
// AEAD's associated data.
//
// Why the recipient must check the commitment itself: crypto_box_seal is
// anonymous, so anybody who knows a member's public seal key can build a
// well-formed envelope that opens. Only the commitment in the owner's signed
// record says which plaintext is the owner's; open_envelope() therefore takes
// the commitment the caller read from that record, never the one the
// envelope claims, and refuses any other plaintext as tampering.
//
// Pure functions, no I/O; safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "conect/crdt/error.h"
#include "conect/crdt/merge.h"
#include "conect/crdt/seal.h"
#include "conect/crdt/types.h"

namespace conect {

namespace envelope {
inline constexpr std::string_view kMagic = "cnE1";        // format version 1
inline constexpr std::size_t kHeaderBytes = 4 + 32 + 32;  // magic, commitment, owner: the AEAD's AD
inline constexpr std::size_t kNonceBytes = 24;
inline constexpr std::size_t kSealedKeyBytes = 32 + 48;  // crypto_box_seal of the content key
inline constexpr std::size_t kSlotBytes = 32 + kSealedKeyBytes;
inline constexpr std::size_t kMaxSlots = 255;
inline constexpr std::size_t kTagBytes = 16;
// Personal data is small (a name, an e-mail, a phone, notes): 64 KiB is far
// above any valid record and keeps a hostile envelope's cost bounded.
inline constexpr std::size_t kMaxPlaintext = 64 * 1024;
}  // namespace envelope

// One audience member: who, and the seal key it announced.
struct SealTarget {
  NodeId member;
  SealPublicKey seal_key;
};

struct EnvelopeSlot {
  NodeId member;
  std::string sealed_key;  // envelope::kSealedKeyBytes
};

struct Envelope {
  Hash256 commitment;  // what the envelope claims; checked against the record
  NodeId owner;        // the record's owner, who sealed it
  std::array<std::uint8_t, envelope::kNonceBytes> nonce{};
  std::vector<EnvelopeSlot> slots;  // sorted by member, no duplicates
  std::string ciphertext;           // plaintext size + kTagBytes
};

// Why an envelope was refused (stable names for logs and metrics).
enum class EnvelopeFault {
  malformed,            // the bytes are not an envelope (layout, sizes, order)
  not_addressed,        // no slot for this node: it is not in the audience
  wrong_seal_key,       // the slot does not open with this node's seal key
  tampered,             // the ciphertext or header fails authentication
  commitment_mismatch,  // it opens, but is not the plaintext the record commits to
  wrong_record,         // commitment or owner differ from the record named with it
};
const char* envelope_fault_name(EnvelopeFault f);

struct EnvelopeError {
  EnvelopeFault fault;
  std::string detail;  // never contains personal data
};

// Seals `plaintext` (salt || content) for `audience` (1..kMaxSlots members,
// each with its seal key). invalid_argument on an empty or oversized
// plaintext or audience.
Result<std::string> seal_envelope(std::string_view plaintext, const Hash256& commitment, const NodeId& owner,
                                  std::span<const SealTarget> audience);

// Parses the layout only (no key needed); an error says why.
// Refuses trailing bytes, unsorted or duplicate slots, sizes out of range.
std::variant<Envelope, EnvelopeError> parse_envelope(std::string_view bytes);
std::string serialize_envelope(const Envelope& e);

// Opens the slot of `me` with `key` and checks the plaintext against
// `expected_commitment` and `expected_owner` (read from the signed record).
std::variant<std::string, EnvelopeError> open_envelope(const Envelope& e, const NodeId& me, const SealKey& key,
                                                       const Hash256& expected_commitment,
                                                       const NodeId& expected_owner);
// The same with every key of the node's keyring (its current seal key, then
// the retired ones it still keeps): an envelope sealed to a key the node
// rotated away from opens while that secret is kept (seal.h).
std::variant<std::string, EnvelopeError> open_envelope(const Envelope& e, const NodeId& me, const SealKeyring& keys,
                                                       const Hash256& expected_commitment,
                                                       const NodeId& expected_owner);

// The acknowledgement an audience member authors in its own log once it
// holds the personal data (Operation.envelope_ack, docs/privacy.md "Carry").
v1::Operation envelope_ack_operation(const RecordKey& record, const Hash256& commitment);
// What an acknowledgement names, or why it is malformed (malformed_body:
// not a mobility or contact, a bad owner id, a commitment not 32 bytes).
Result<std::pair<RecordKey, Hash256>> parse_envelope_ack(const v1::EnvelopeAck& ack);

}  // namespace conect
