// Record keys, the fold's order, operation targets, the state digest,
// availability and confirmations. The fold itself is in fold.cc.
#include "conect/crdt/merge.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>
#include <google/protobuf/unknown_field_set.h>
#include <sodium.h>

#include <algorithm>
#include <charconv>
#include <tuple>

namespace conect {
namespace {

bool valid_type(int t) { return t >= v1::ORGANISATION && t <= v1::CONTACT; }

void append_be(std::string& out, std::uint64_t v, int bytes) {
  for (int shift = 8 * (bytes - 1); shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

Result<RecordKey> key_of(int type, const v1::RecordId& id, const char* what) {
  if (!valid_type(type))
    return Error(Errc::unknown_record_type, std::string(what) + " names record type " + std::to_string(type));
  auto key = RecordKey::from_proto(static_cast<v1::RecordType>(type), id);
  if (!key) return Error(Errc::malformed_body, std::string(what) + ": record owner is not a 32-byte member id");
  return *key;
}

v1::RecordType write_type(const v1::FieldWrite& w) {
  switch (w.group_case()) {
    case v1::FieldWrite::kOrganisation:
      return v1::ORGANISATION;
    case v1::FieldWrite::kPlacement:
      return v1::PLACEMENT;
    case v1::FieldWrite::kReservation:
      return v1::RESERVATION;
    case v1::FieldWrite::kMobilityCreate:
    case v1::FieldWrite::kMobilitySending:
    case v1::FieldWrite::kMobilityHost:
      return v1::MOBILITY;
    case v1::FieldWrite::kContact:
      return v1::CONTACT;
    case v1::FieldWrite::GROUP_NOT_SET:
      break;
  }
  return v1::RECORD_TYPE_UNSPECIFIED;
}

}  // namespace

// ------------------------------------------------------------------ RecordKey

std::string RecordKey::encode() const {
  std::string out;
  out.reserve(41);
  out.push_back(static_cast<char>(type));
  out.append(reinterpret_cast<const char*>(owner.data()), owner.size());
  append_be(out, serial, 8);
  return out;
}

std::optional<RecordKey> RecordKey::decode(std::string_view key) {
  if (key.size() != 41) return std::nullopt;
  int type = static_cast<unsigned char>(key[0]);
  if (!valid_type(type)) return std::nullopt;
  RecordKey k;
  k.type = static_cast<v1::RecordType>(type);
  k.owner = *NodeId::from_raw(key.substr(1, 32));
  for (char c : key.substr(33)) k.serial = (k.serial << 8) | static_cast<unsigned char>(c);
  return k;
}

std::string RecordKey::text() const { return owner.hex() + "-" + std::to_string(serial); }

std::optional<RecordKey> RecordKey::parse(v1::RecordType type, std::string_view text) {
  if (!valid_type(type) || text.size() < 66 || text[64] != '-') return std::nullopt;
  auto owner = NodeId::from_hex(text.substr(0, 64));
  if (!owner) return std::nullopt;
  std::string_view digits = text.substr(65);
  if (digits.empty() || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  RecordKey k{type, *owner, 0};
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), k.serial);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return k;
}

v1::RecordId RecordKey::to_proto() const {
  v1::RecordId id;
  id.set_owner(owner.raw());
  id.set_serial(serial);
  return id;
}

std::optional<RecordKey> RecordKey::from_proto(v1::RecordType type, const v1::RecordId& id) {
  if (!valid_type(type)) return std::nullopt;
  auto owner = NodeId::from_raw(id.owner());
  if (!owner) return std::nullopt;
  return RecordKey{type, *owner, id.serial()};
}

RecordKey RecordKey::mint(v1::RecordType type, const NodeId& owner, Seq seq, std::uint32_t index) {
  return RecordKey{type, owner, (seq.value << 16) | (index & 0xffff)};
}

// --------------------------------------------------------------- groups, sets

v1::RecordType group_record_type(std::uint32_t group) {
  switch (group) {
    case kGroupOrganisation:
      return v1::ORGANISATION;
    case kGroupPlacement:
      return v1::PLACEMENT;
    case kGroupReservation:
      return v1::RESERVATION;
    case kGroupMobilityCreate:
    case kGroupMobilitySending:
    case kGroupMobilityHost:
      return v1::MOBILITY;
    case kGroupContact:
      return v1::CONTACT;
    default:
      return v1::RECORD_TYPE_UNSPECIFIED;
  }
}

bool is_set_field(std::uint32_t group, std::uint32_t field) {
  switch (group) {
    case kGroupOrganisation:
      return field == v1::Organisation::kTradesFieldNumber;
    case kGroupPlacement:
      return field == v1::Placement::kLanguagesFieldNumber;
    case kGroupMobilitySending:
      return field == v1::MobilitySending::kLanguagesFieldNumber;
    case kGroupContact:
      return field == v1::Contact::kRolesFieldNumber || field == v1::Contact::kLanguagesFieldNumber;
    default:
      return false;
  }
}

std::string set_tag(const NodeId& origin, Seq seq, std::uint32_t index) {
  std::string tag = origin.raw();
  append_be(tag, seq.value, 8);
  append_be(tag, index, 4);
  return tag;
}

// ------------------------------------------------------------ PositionedOp

bool PositionedOp::operator<(const PositionedOp& o) const {
  return std::tie(hlc, origin, seq, index) < std::tie(o.hlc, o.origin, o.seq, o.index);
}

v1::OpPosition PositionedOp::position() const {
  v1::OpPosition p;
  p.set_origin(origin.raw());
  p.set_seq(seq.value);
  p.set_index(index);
  p.set_delta_id(delta_id.raw());
  p.set_hlc(hlc.value);
  return p;
}

Result<RecordKey> op_target(const v1::Operation& op) {
  switch (op.op_case()) {
    case v1::Operation::kWrite: {
      v1::RecordType t = write_type(op.write());
      if (t == v1::RECORD_TYPE_UNSPECIFIED && !op.write().GetReflection()->GetUnknownFields(op.write()).empty())
        return Error(Errc::unknown_operation,
                     "field write of a group this version does not know (a newer conect's); it has no effect here");
      if (t == v1::RECORD_TYPE_UNSPECIFIED) return Error(Errc::unknown_record_type, "field write sets no field group");
      return key_of(t, op.write().id(), "field write");
    }
    case v1::Operation::kSet:
      return key_of(op.set().type(), op.set().id(), "set change");
    case v1::Operation::kDecide:
      return key_of(v1::RESERVATION, op.decide().reservation(), "reservation decision");
    case v1::Operation::kCancel:
      return key_of(v1::RESERVATION, op.cancel().reservation(), "reservation cancel");
    case v1::Operation::kConfirm:
      return key_of(v1::MOBILITY, op.confirm().mobility(), "mobility confirmation");
    case v1::Operation::kErase:
      return key_of(op.erase().type(), op.erase().record(), "erase");
    case v1::Operation::kFound:
    case v1::Operation::kAdmit:
    case v1::Operation::kRemove:
    case v1::Operation::kLeave:
    case v1::Operation::kRotate:
    case v1::Operation::kRekey:
    case v1::Operation::kCardUpdate:
      // Callers skip these (is_membership_op): the roster derivation reads them.
      return Error(Errc::invalid_argument, "a membership operation changes the roster, not a record");
    case v1::Operation::kSealKey:
      // About the origin itself, not a record: the store keeps the latest
      // one per origin (Store::seal_key) and no record's fold sees it.
      return Error(Errc::invalid_argument, "a seal-key announcement names no record");
    case v1::Operation::kEnvelopeAck:
      // About its origin (it holds the data), not a change of the record:
      // the store keeps it beside the record (Store::envelope_acknowledged).
      return Error(Errc::invalid_argument, "an envelope acknowledgement changes no record");
    case v1::Operation::OP_NOT_SET:
      break;
  }
  // A oneof case this version does not know parses as an unknown field.
  if (!op.GetReflection()->GetUnknownFields(op).empty())
    return Error(Errc::unknown_operation,
                 "operation of a kind this version does not know (a newer conect's); it has no effect here");
  return Error(Errc::malformed_body, "operation carries no operation");
}

// ----------------------------------------------------------- state, digest

std::string serialize_state(const v1::RecordState& state) {
  // Sized first and written into place: a growing string output stream
  // reallocates and copies the bytes on the way.
  std::string out(state.ByteSizeLong(), '\0');
  {
    google::protobuf::io::ArrayOutputStream raw(out.data(), static_cast<int>(out.size()));
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    state.SerializeWithCachedSizes(&coded);
  }
  return out;
}

Hash256 record_hash(const RecordKey& key, std::string_view state_bytes) {
  // BLAKE2b-256(key || state bytes), streamed: no concatenated copy.
  unsigned char k[41];
  k[0] = static_cast<unsigned char>(key.type);
  std::copy(key.owner.bytes.begin(), key.owner.bytes.end(), k + 1);
  for (int i = 0; i < 8; ++i) k[33 + i] = static_cast<unsigned char>(key.serial >> (56 - 8 * i));
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, Hash256::size());
  crypto_generichash_update(&st, k, sizeof k);
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(state_bytes.data()), state_bytes.size());
  Hash256 h;
  crypto_generichash_final(&st, h.data(), h.size());
  return h;
}

void StateDigest::add(const Hash256& h) {
  unsigned carry = 0;
  for (int i = 31; i >= 0; --i) {
    unsigned s = unsigned{sum_.bytes[i]} + h.bytes[i] + carry;
    sum_.bytes[i] = static_cast<std::uint8_t>(s);
    carry = s >> 8;
  }
}

void StateDigest::subtract(const Hash256& h) {
  int borrow = 0;
  for (int i = 31; i >= 0; --i) {
    int d = int{sum_.bytes[i]} - h.bytes[i] - borrow;
    borrow = d < 0 ? 1 : 0;
    sum_.bytes[i] = static_cast<std::uint8_t>(d + (borrow << 8));
  }
}

// ------------------------------------------------------------- availability

std::vector<WindowAvailability> placement_availability(const v1::Placement& placement,
                                                       std::span<const v1::RecordState> reservations) {
  std::vector<const v1::RecordState*> refs;
  refs.reserve(reservations.size());
  for (const auto& r : reservations) refs.push_back(&r);
  return placement_availability(placement, refs);
}

std::vector<WindowAvailability> placement_availability(const v1::Placement& placement,
                                                       std::span<const v1::RecordState* const> reservations) {
  std::vector<WindowAvailability> out;
  out.reserve(static_cast<std::size_t>(placement.windows_size()));
  for (const auto& w : placement.windows()) {
    std::uint64_t confirmed = 0;
    std::uint64_t pending = 0;
    for (const v1::RecordState* st : reservations) {
      if (!st->created() || !st->has_reservation()) continue;
      const v1::Reservation& r = st->reservation();
      if (r.window_id() != w.window_id()) continue;
      if (r.decision() == v1::RESERVATION_CONFIRMED) confirmed += r.slots();
      if (r.decision() == v1::RESERVATION_PENDING) pending += r.slots();
    }
    auto clamp = [](std::uint64_t v) { return static_cast<std::uint32_t>(std::min<std::uint64_t>(v, UINT32_MAX)); };
    WindowAvailability a;
    a.window_id = w.window_id();
    a.capacity = w.capacity();
    a.confirmed = clamp(confirmed);
    a.pending = clamp(pending);
    a.available = confirmed >= w.capacity() ? 0 : clamp(w.capacity() - confirmed);
    a.overbooked_by = confirmed > w.capacity() ? clamp(confirmed - w.capacity()) : 0;
    out.push_back(a);
  }
  return out;
}

// ------------------------------------------------------------- confirmations

namespace {
std::string confirmation_message(const RecordKey& mobility, std::string_view agreed_delta) {
  std::string m = mobility.encode();
  m.append(agreed_delta);
  return m;
}
}  // namespace

v1::Confirmation make_confirmation(const KeyPair& key, const RecordKey& mobility, v1::ConfirmingParty party,
                                   const DeltaId& agreed_delta) {
  v1::Confirmation c;
  c.set_party(party);
  c.set_signer(key.public_key().raw());
  c.set_agreed_delta(agreed_delta.raw());
  c.set_signature(key.sign(SigningDomain::confirmation, confirmation_message(mobility, agreed_delta.raw())).raw());
  return c;
}

bool verify_confirmation(const RecordKey& mobility, const v1::Confirmation& c) {
  auto signer = NodeId::from_raw(c.signer());
  if (!signer || c.agreed_delta().size() != DeltaId::size()) return false;
  if (c.party() != v1::PARTY_SENDING && c.party() != v1::PARTY_HOST) return false;
  return verify_signature(*signer, SigningDomain::confirmation, confirmation_message(mobility, c.agreed_delta()),
                          c.signature());
}

}  // namespace conect
