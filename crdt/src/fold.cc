// fold_record(): the merge rules of DESIGN §3 (see merge.h for the list).
//
// The fold normalises its input (drops operations on other records and
// duplicates by (origin, seq, index)), sorts it into the total order and
// applies it in one pass. Two facts are settled before that pass because an
// operation's validity depends on them wherever it sits in the order: which
// write created a mobility (its fixed fields authorise host writes and
// confirmations); and, after the pass, which reservation decisions match the
// request. Everything is then written into the state in a canonical order so
// that equal sets of operations give equal bytes.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <tuple>

#include "conect/crdt/authority.h"
#include "conect/crdt/merge.h"

namespace conect {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

bool same_id(const v1::RecordId& a, const v1::RecordId& b) {
  return a.owner() == b.owner() && a.serial() == b.serial();
}

std::string short_id(const v1::RecordId& id) {
  return to_hex(id.owner()).substr(0, 16) + "-" + std::to_string(id.serial());
}

const char* group_name(std::uint32_t group) {
  switch (group) {
    case kGroupOrganisation:
      return "organisation";
    case kGroupPlacement:
      return "placement";
    case kGroupReservation:
      return "reservation request";
    case kGroupMobilityCreate:
      return "mobility fixed fields";
    case kGroupMobilitySending:
      return "mobility sending fields";
    case kGroupMobilityHost:
      return "mobility host fields";
    case kGroupContact:
      return "contact";
    default:
      return "unknown group";
  }
}

std::string deterministic_bytes(const Message& m) {
  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    m.SerializeToCodedStream(&coded);
  }
  return out;
}

// The bytes of a fixed-size id, without the std::string raw() allocates.
template <class Id>
std::string_view view(const Id& id) {
  return {reinterpret_cast<const char*>(id.data()), Id::size()};
}

// Whether `m` or any message inside it carries unknown fields. A walk over
// the message-typed fields only: much cheaper than DiscardUnknownFields,
// which lists every field and allocates an empty unknown-field set in every
// message it visits, and a decoded operation almost never has any.
bool has_unknown_fields(const Message& m) {
  const auto* refl = m.GetReflection();
  if (!refl->GetUnknownFields(m).empty()) return true;
  const auto* desc = m.GetDescriptor();
  for (int f = 0; f < desc->field_count(); ++f) {
    const FieldDescriptor* fd = desc->field(f);
    if (fd->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (fd->is_repeated()) {
      for (int i = 0, n = refl->FieldSize(m, fd); i < n; ++i)
        if (has_unknown_fields(refl->GetRepeatedMessage(m, fd, i))) return true;
    } else if (refl->HasField(m, fd) && has_unknown_fields(refl->GetMessage(m, fd))) {
      return true;
    }
  }
  return false;
}

// The same for the messages the common writes copy, with the generated
// accessors (no descriptor, no reflection). Each lists every message-typed
// field of its type; a type not listed takes the walk above. (The fold
// tests write every field of every group with unknown fields at every
// level, so a field added to one of these types without its line here fails
// them.)
bool unknown_in(const Message& m) { return has_unknown_fields(m); }
// This message's own unknown fields (proto3 messages have no unknown_fields() accessor).
bool own_unknown(const Message& m) { return !m.GetReflection()->GetUnknownFields(m).empty(); }
bool unknown_in(const v1::RecordId& m) { return own_unknown(m); }
bool unknown_in(const v1::Date& m) { return own_unknown(m); }
bool unknown_in(const v1::LocalisedText& m) { return own_unknown(m); }
bool unknown_in(const v1::PersonalRef& m) { return own_unknown(m); }
bool unknown_in(const v1::PlacementWindow& m) {
  return own_unknown(m) || (m.has_start() && unknown_in(m.start())) || (m.has_end() && unknown_in(m.end()));
}
bool unknown_in(const v1::Participant& m) { return own_unknown(m) || (m.has_personal() && unknown_in(m.personal())); }
bool unknown_in(const v1::MobilityFixed& m) {
  return own_unknown(m) || (m.has_sending_organisation() && unknown_in(m.sending_organisation())) ||
         (m.has_receiving_organisation() && unknown_in(m.receiving_organisation())) ||
         (m.has_participant() && unknown_in(m.participant()));
}

// Unknown fields never enter a state (a newer version's fields would make
// two versions' states differ in bytes): dropped from every copied message.
template <class M>
void drop_unknown(M* m) {
  if (unknown_in(*m)) m->DiscardUnknownFields();
}

const Message& group_in_write(const v1::FieldWrite& w) {
  switch (w.group_case()) {
    case v1::FieldWrite::kOrganisation:
      return w.organisation();
    case v1::FieldWrite::kPlacement:
      return w.placement();
    case v1::FieldWrite::kReservation:
      return w.reservation();
    case v1::FieldWrite::kMobilityCreate:
      return w.mobility_create();
    case v1::FieldWrite::kMobilitySending:
      return w.mobility_sending();
    case v1::FieldWrite::kMobilityHost:
      return w.mobility_host();
    default:
      return w.contact();
  }
}

// Strict UTF-8 (no overlongs, no surrogates, at most U+10FFFF): a mirrored
// string that protobuf would refuse to parse back must never reach a state.
bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    int extra = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xe ? 2 : (c >> 3) == 0x1e ? 3 : -1;
    if (extra < 0 || i + static_cast<std::size_t>(extra) >= s.size() + (extra == 0 ? 1 : 0)) return false;
    std::uint32_t cp = extra == 0 ? c : c & (0x3f >> extra);
    for (int k = 1; k <= extra; ++k) {
      auto cc = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[extra] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
    i += static_cast<std::size_t>(extra) + 1;
  }
  return true;
}

std::optional<std::int32_t> canonical_varint(std::string_view s) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < s.size() && i < 5; ++i) {
    auto b = static_cast<unsigned char>(s[i]);
    v |= std::uint64_t{b & 0x7fu} << (7 * i);
    bool last = (b & 0x80) == 0;
    if (last != (i + 1 == s.size())) return std::nullopt;
    if (last) {
      if (b == 0 && i > 0) return std::nullopt;  // a longer encoding than needed
      if (v > 0x7fffffff) return std::nullopt;
      return static_cast<std::int32_t>(v);
    }
  }
  return std::nullopt;
}

bool canonical_element(const FieldDescriptor* fd, const std::string& e) {
  switch (fd->type()) {
    case FieldDescriptor::TYPE_STRING:
      return valid_utf8(e);
    case FieldDescriptor::TYPE_ENUM:
      return canonical_varint(e).has_value();
    case FieldDescriptor::TYPE_MESSAGE: {
      std::unique_ptr<Message> m(
          google::protobuf::MessageFactory::generated_factory()->GetPrototype(fd->message_type())->New());
      if (!m->ParseFromString(e)) return false;
      drop_unknown(m.get());
      return deterministic_bytes(*m) == e;
    }
    default:
      return false;
  }
}

// Copies one field of `source` over the same field of `target` (a repeated
// field whole; an unset singular field clears it). Unknown fields of copied
// sub-messages are dropped: they never enter a state.
void copy_field(Message& target, const Message& source, const FieldDescriptor* fd) {
  using FD = FieldDescriptor;
  const auto* tr = target.GetReflection();
  const auto* sr = source.GetReflection();
  tr->ClearField(&target, fd);
  if (fd->is_repeated()) {
    int n = sr->FieldSize(source, fd);
    for (int i = 0; i < n; ++i) {
      switch (fd->cpp_type()) {
        case FD::CPPTYPE_MESSAGE: {
          Message* m = tr->AddMessage(&target, fd);
          m->CopyFrom(sr->GetRepeatedMessage(source, fd, i));
          drop_unknown(m);
          break;
        }
        case FD::CPPTYPE_STRING:
          tr->AddString(&target, fd, sr->GetRepeatedString(source, fd, i));
          break;
        case FD::CPPTYPE_ENUM:
          tr->AddEnumValue(&target, fd, sr->GetRepeatedEnumValue(source, fd, i));
          break;
        case FD::CPPTYPE_UINT32:
          tr->AddUInt32(&target, fd, sr->GetRepeatedUInt32(source, fd, i));
          break;
        case FD::CPPTYPE_INT32:
          tr->AddInt32(&target, fd, sr->GetRepeatedInt32(source, fd, i));
          break;
        case FD::CPPTYPE_UINT64:
          tr->AddUInt64(&target, fd, sr->GetRepeatedUInt64(source, fd, i));
          break;
        case FD::CPPTYPE_INT64:
          tr->AddInt64(&target, fd, sr->GetRepeatedInt64(source, fd, i));
          break;
        case FD::CPPTYPE_BOOL:
          tr->AddBool(&target, fd, sr->GetRepeatedBool(source, fd, i));
          break;
        case FD::CPPTYPE_DOUBLE:
          tr->AddDouble(&target, fd, sr->GetRepeatedDouble(source, fd, i));
          break;
        case FD::CPPTYPE_FLOAT:
          tr->AddFloat(&target, fd, sr->GetRepeatedFloat(source, fd, i));
          break;
      }
    }
    return;
  }
  if (!sr->HasField(source, fd)) return;
  switch (fd->cpp_type()) {
    case FD::CPPTYPE_MESSAGE: {
      Message* m = tr->MutableMessage(&target, fd);
      m->CopyFrom(sr->GetMessage(source, fd));
      drop_unknown(m);
      break;
    }
    case FD::CPPTYPE_STRING:
      tr->SetString(&target, fd, sr->GetString(source, fd));
      break;
    case FD::CPPTYPE_ENUM:
      tr->SetEnumValue(&target, fd, sr->GetEnumValue(source, fd));
      break;
    case FD::CPPTYPE_UINT32:
      tr->SetUInt32(&target, fd, sr->GetUInt32(source, fd));
      break;
    case FD::CPPTYPE_INT32:
      tr->SetInt32(&target, fd, sr->GetInt32(source, fd));
      break;
    case FD::CPPTYPE_UINT64:
      tr->SetUInt64(&target, fd, sr->GetUInt64(source, fd));
      break;
    case FD::CPPTYPE_INT64:
      tr->SetInt64(&target, fd, sr->GetInt64(source, fd));
      break;
    case FD::CPPTYPE_BOOL:
      tr->SetBool(&target, fd, sr->GetBool(source, fd));
      break;
    case FD::CPPTYPE_DOUBLE:
      tr->SetDouble(&target, fd, sr->GetDouble(source, fd));
      break;
    case FD::CPPTYPE_FLOAT:
      tr->SetFloat(&target, fd, sr->GetFloat(source, fd));
      break;
  }
}

// copy_field() for the fields of the common groups, with the generated
// accessors instead of reflection (the same result: a scalar set or cleared,
// a sub-message copied or cleared, a repeated field replaced whole, unknown
// fields dropped). False for a field not listed here: copy_field() copies it.
#define CONECT_SCALAR(number, name) \
  case number:                      \
    t.set_##name(s.name());         \
    return true;
#define CONECT_MESSAGE(number, name)    \
  case number:                          \
    if (s.has_##name()) {               \
      *t.mutable_##name() = s.name();   \
      drop_unknown(t.mutable_##name()); \
    } else {                            \
      t.clear_##name();                 \
    }                                   \
    return true;
#define CONECT_REPEATED(number, name) \
  case number:                        \
    *t.mutable_##name() = s.name();   \
    return true;
#define CONECT_REPEATED_MESSAGE(number, name)             \
  case number:                                            \
    *t.mutable_##name() = s.name();                       \
    for (auto& e : *t.mutable_##name()) drop_unknown(&e); \
    return true;

bool copy_placement_field(v1::Placement& t, const v1::Placement& s, int number) {
  switch (number) {
    CONECT_MESSAGE(v1::Placement::kHostOrganisationFieldNumber, host_organisation)
    CONECT_REPEATED_MESSAGE(v1::Placement::kTitleFieldNumber, title)
    CONECT_SCALAR(v1::Placement::kTradeFieldNumber, trade)
    CONECT_SCALAR(v1::Placement::kTradeCodeFieldNumber, trade_code)
    CONECT_SCALAR(v1::Placement::kTasksFieldNumber, tasks)
    CONECT_SCALAR(v1::Placement::kCityFieldNumber, city)
    CONECT_SCALAR(v1::Placement::kCountryFieldNumber, country)
    CONECT_REPEATED_MESSAGE(v1::Placement::kWindowsFieldNumber, windows)
    CONECT_SCALAR(v1::Placement::kMinDaysFieldNumber, min_days)
    CONECT_SCALAR(v1::Placement::kMaxDaysFieldNumber, max_days)
    CONECT_REPEATED(v1::Placement::kSafetyFieldNumber, safety)
    CONECT_SCALAR(v1::Placement::kMinimumAgeFieldNumber, minimum_age)
    CONECT_SCALAR(v1::Placement::kAccommodationFieldNumber, accommodation)
    CONECT_MESSAGE(v1::Placement::kMentorContactFieldNumber, mentor_contact)
    CONECT_SCALAR(v1::Placement::kStatusFieldNumber, status)
    default:
      return false;
  }
}

bool copy_sending_field(v1::MobilitySending& t, const v1::MobilitySending& s, int number) {
  switch (number) {
    CONECT_MESSAGE(v1::MobilitySending::kPlacementFieldNumber, placement)
    CONECT_SCALAR(v1::MobilitySending::kWindowIdFieldNumber, window_id)
    CONECT_MESSAGE(v1::MobilitySending::kPlannedStartFieldNumber, planned_start)
    CONECT_MESSAGE(v1::MobilitySending::kPlannedEndFieldNumber, planned_end)
    CONECT_SCALAR(v1::MobilitySending::kQualificationTitleFieldNumber, qualification_title)
    CONECT_SCALAR(v1::MobilitySending::kEqfLevelFieldNumber, eqf_level)
    CONECT_SCALAR(v1::MobilitySending::kStatusFieldNumber, status)
    CONECT_MESSAGE(v1::MobilitySending::kSafetyBriefingFieldNumber, safety_briefing)
    CONECT_SCALAR(v1::MobilitySending::kEuropassNumberFieldNumber, europass_number)
    default:
      return false;
  }
}

bool copy_host_field(v1::MobilityHost& t, const v1::MobilityHost& s, int number) {
  switch (number) {
    CONECT_SCALAR(v1::MobilityHost::kHostStatusFieldNumber, host_status)
    CONECT_MESSAGE(v1::MobilityHost::kMentorFieldNumber, mentor)
    CONECT_MESSAGE(v1::MobilityHost::kActualArrivalFieldNumber, actual_arrival)
    CONECT_MESSAGE(v1::MobilityHost::kActualDepartureFieldNumber, actual_departure)
    CONECT_SCALAR(v1::MobilityHost::kAttendanceConfirmedFieldNumber, attendance_confirmed)
    CONECT_SCALAR(v1::MobilityHost::kUnitsAchievedFieldNumber, units_achieved)
    CONECT_MESSAGE(v1::MobilityHost::kAssessmentDateFieldNumber, assessment_date)
    default:
      return false;
  }
}

bool copy_organisation_field(v1::Organisation& t, const v1::Organisation& s, int number) {
  switch (number) {
    CONECT_REPEATED_MESSAGE(v1::Organisation::kNamesFieldNumber, names)
    CONECT_SCALAR(v1::Organisation::kTypeFieldNumber, type)
    CONECT_SCALAR(v1::Organisation::kCountryFieldNumber, country)
    CONECT_SCALAR(v1::Organisation::kRegionFieldNumber, region)
    CONECT_SCALAR(v1::Organisation::kCityFieldNumber, city)
    CONECT_SCALAR(v1::Organisation::kAddressFieldNumber, address)
    CONECT_SCALAR(v1::Organisation::kWebsiteFieldNumber, website)
    CONECT_REPEATED_MESSAGE(v1::Organisation::kIdentifiersFieldNumber, identifiers)
    CONECT_SCALAR(v1::Organisation::kSpeakerFieldNumber, speaker)
    default:
      return false;
  }
}

bool copy_reservation_field(v1::Reservation& t, const v1::Reservation& s, int number) {
  switch (number) {
    CONECT_MESSAGE(v1::Reservation::kPlacementFieldNumber, placement)
    CONECT_SCALAR(v1::Reservation::kWindowIdFieldNumber, window_id)
    CONECT_SCALAR(v1::Reservation::kSlotsFieldNumber, slots)
    CONECT_MESSAGE(v1::Reservation::kMobilityFieldNumber, mobility)
    CONECT_SCALAR(v1::Reservation::kNoteFieldNumber, note)
    default:
      return false;
  }
}

bool copy_contact_field(v1::Contact& t, const v1::Contact& s, int number) {
  switch (number) {
    CONECT_MESSAGE(v1::Contact::kOrganisationFieldNumber, organisation)
    CONECT_SCALAR(v1::Contact::kDisplayNameFieldNumber, display_name)
    CONECT_MESSAGE(v1::Contact::kPersonalFieldNumber, personal)
    CONECT_MESSAGE(v1::Contact::kAudienceFieldNumber, audience)
    default:
      return false;
  }
}

#undef CONECT_SCALAR
#undef CONECT_MESSAGE
#undef CONECT_REPEATED
#undef CONECT_REPEATED_MESSAGE

bool copy_known_field(Message& target, const Message& source, std::uint32_t group, int number) {
  switch (group) {
    case kGroupPlacement:
      return copy_placement_field(static_cast<v1::Placement&>(target), static_cast<const v1::Placement&>(source),
                                  number);
    case kGroupMobilitySending:
      return copy_sending_field(static_cast<v1::MobilitySending&>(target),
                                static_cast<const v1::MobilitySending&>(source), number);
    case kGroupMobilityHost:
      return copy_host_field(static_cast<v1::MobilityHost&>(target), static_cast<const v1::MobilityHost&>(source),
                             number);
    case kGroupOrganisation:
      return copy_organisation_field(static_cast<v1::Organisation&>(target),
                                     static_cast<const v1::Organisation&>(source), number);
    case kGroupReservation:
      return copy_reservation_field(static_cast<v1::Reservation&>(target), static_cast<const v1::Reservation&>(source),
                                    number);
    case kGroupContact:
      return copy_contact_field(static_cast<v1::Contact&>(target), static_cast<const v1::Contact&>(source), number);
    default:
      return false;
  }
}

// Last writer wins per listed field: the fold applies writes in order.
void lww_write(Message& target, const Message& source, std::uint32_t group,
               const std::vector<const FieldDescriptor*>& fds) {
  for (const FieldDescriptor* fd : fds)
    if (!copy_known_field(target, source, group, fd->number())) copy_field(target, source, fd);
}

bool lists(const std::vector<const FieldDescriptor*>& fds, int number) {
  return std::any_of(fds.begin(), fds.end(), [&](const FieldDescriptor* fd) { return fd->number() == number; });
}

// The sending side's agreed fields (1-6), to see whether a write changed
// them. Equal exactly when their deterministic bytes are (a state holds no
// unknown fields; a present empty sub-message differs from an absent one).
struct Agreed {
  bool has_placement = false;
  std::string placement_owner;
  std::uint64_t placement_serial = 0;
  std::uint32_t window_id = 0;
  bool has_start = false, has_end = false;
  std::int32_t start = 0, end = 0;
  std::string qualification_title;
  std::uint32_t eqf_level = 0;
  bool operator==(const Agreed&) const = default;
};

Agreed agreed_fields(const v1::MobilitySending& s) {
  return Agreed{s.has_placement(),       s.placement().owner(), s.placement().serial(),   s.window_id(),
                s.has_planned_start(),   s.has_planned_end(),   s.planned_start().days(), s.planned_end().days(),
                s.qualification_title(), s.eqf_level()};
}

// Operations on `key` without duplicates, in the fold's total order. Among
// copies of one (origin, seq, index) the smallest delta id is kept, so even
// an equivocating origin cannot make the choice depend on arrival order.
// `targets`: whether the caller already knows every operation targets `key`.
std::vector<const PositionedOp*> normalise(const RecordKey& key, std::span<const PositionedOp* const> in,
                                           OpTargets targets) {
  std::vector<const PositionedOp*> ops;
  ops.reserve(in.size());
  for (const PositionedOp* p : in) {
    if (targets == OpTargets::known) {
      ops.push_back(p);
      continue;
    }
    auto target = op_target(p->op);
    if (target.ok() && *target == key) ops.push_back(p);
  }
  std::sort(ops.begin(), ops.end(), [](const PositionedOp* a, const PositionedOp* b) {
    return std::tie(a->origin, a->seq, a->index, a->delta_id) < std::tie(b->origin, b->seq, b->index, b->delta_id);
  });
  ops.erase(std::unique(ops.begin(), ops.end(),
                        [](const PositionedOp* a, const PositionedOp* b) {
                          return a->origin == b->origin && a->seq == b->seq && a->index == b->index;
                        }),
            ops.end());
  std::sort(ops.begin(), ops.end(), [](const PositionedOp* a, const PositionedOp* b) { return *a < *b; });
  return ops;
}

using SetKey = std::tuple<std::uint32_t, std::uint32_t, std::string>;

}  // namespace

namespace detail {

// The fold between operations: everything the rules need to go on. Each
// operation is applied in the total order (apply); the passes that look at
// the whole set (decisions against the request, OR-set mirroring, the
// canonical order of lists) run in state() on a copy, so more operations
// can still be appended after it.
class Folder {
 public:
  Folder(const RecordKey& key, const FoldContext& ctx, OpTargets targets = OpTargets::check);
  bool append(std::span<const PositionedOp* const> ops);
  v1::RecordState state() const;
  // The same as state(), for a folder that is done: moves instead of copying.
  v1::RecordState take_state() &&;

 private:
  struct Output {
    v1::RecordState st;
    std::vector<std::pair<std::size_t, v1::RejectedOp>> rejected;
    std::uint64_t updated = 0;
  };

  bool by_owner(std::size_t i) const { return ops_[i]->origin == key_.owner; }
  std::string owner_short() const { return key_.owner.hex().substr(0, 16); }
  v1::RejectedOp rejection(std::size_t i, Errc rule, std::string detail) const;
  void reject(std::size_t i, Errc rule, std::string detail) {
    rejected_.emplace_back(i, rejection(i, rule, std::move(detail)));
  }
  void effective(std::size_t i) { updated_ = std::max(updated_, ops_[i]->hlc.value); }
  static Message* group_in(v1::RecordState& st, std::uint32_t group);
  Message* group_in_state(std::uint32_t group) { return group_in(st_, group); }
  const v1::MobilityFixed* fixed() const {
    return creation_ ? &ops_[*creation_]->op.write().mobility_create() : nullptr;
  }

  std::optional<std::size_t> find_creation(const std::vector<const PositionedOp*>& ops) const;
  void apply(std::size_t i);
  void write(std::size_t i, const v1::FieldWrite& w);
  void mobility_create(std::size_t i, const v1::FieldWrite& w);
  std::optional<Errc> check_create(const v1::MobilityFixed& f, std::string* detail) const;
  bool authorise_write(std::size_t i, const v1::FieldWrite& w);
  std::optional<std::vector<const FieldDescriptor*>> listed_fields(std::size_t i, const v1::FieldWrite& w);
  bool check_values(std::size_t i, const v1::FieldWrite& w, const std::vector<const FieldDescriptor*>& fds);
  bool check_reference(std::size_t i, v1::RecordType type, const v1::RecordId& ref, const char* what);
  std::optional<Error> roster_refusal(const PositionedOp& p) const {
    return standing_refusal(ctx_.roster.standing(p.origin, p.seq));
  }
  bool cut_off(const PositionedOp& p) const { return ctx_.roster.standing(p.origin, p.seq).cut; }
  void set_change(std::size_t i, const v1::SetChange& c);
  void decide(std::size_t i, const v1::ReservationDecide& d);
  void cancel(std::size_t i);
  void confirm(std::size_t i, const v1::MobilityConfirm& c);
  void erase(std::size_t i, const v1::Erase& e);
  v1::RecordState finish(Output out) const;
  void settle_decisions(Output& out) const;
  void mirror_sets(Output& out) const;

  const RecordKey key_;
  const FoldContext ctx_;  // two references, to what the caller keeps alive
  const OpTargets targets_;
  std::vector<const PositionedOp*> ops_;
  v1::RecordState st_;
  std::vector<std::pair<std::size_t, v1::RejectedOp>> rejected_;
  std::map<SetKey, std::set<std::string>> adds_;
  std::map<SetKey, std::set<std::string>> removed_;
  std::set<std::string> erased_;
  std::set<std::string> confirmations_;
  std::vector<std::size_t> decisions_;   // by the placement owner, checked against the request at the end
  std::optional<std::size_t> creation_;  // mobility: the creating write
  bool held_ = false;                    // mobility: an operation waited for the creation
  std::map<NodeId, Seq> last_seq_;       // per origin, the newest delta folded
  bool cancelled_ = false;
  std::uint64_t updated_ = 0;
};

v1::RejectedOp Folder::rejection(std::size_t i, Errc rule, std::string detail) const {
  v1::RejectedOp r;
  *r.mutable_position() = ops_[i]->position();
  r.set_rule(errc_name(rule));
  r.set_detail(std::move(detail));
  return r;
}

Message* Folder::group_in(v1::RecordState& st, std::uint32_t group) {
  switch (group) {
    case kGroupOrganisation:
      return st.mutable_organisation();
    case kGroupPlacement:
      return st.mutable_placement();
    case kGroupReservation:
      return st.mutable_reservation();
    case kGroupMobilityCreate:
      return st.mutable_mobility()->mutable_fixed();
    case kGroupMobilitySending:
      return st.mutable_mobility()->mutable_sending();
    case kGroupMobilityHost:
      return st.mutable_mobility()->mutable_host();
    default:
      return st.mutable_contact();
  }
}

Folder::Folder(const RecordKey& key, const FoldContext& ctx, OpTargets targets)
    : key_(key), ctx_(ctx), targets_(targets) {
  st_.set_type(key_.type);
  st_.mutable_id()->set_owner(view(key_.owner).data(), NodeId::size());
  st_.mutable_id()->set_serial(key_.serial);
  switch (key_.type) {
    case v1::ORGANISATION:
      st_.mutable_organisation();
      break;
    case v1::PLACEMENT:
      st_.mutable_placement();
      break;
    case v1::RESERVATION:
      st_.mutable_reservation();
      break;
    case v1::MOBILITY:
      st_.mutable_mobility();
      break;
    default:
      st_.mutable_contact();
      break;
  }
}

bool Folder::append(std::span<const PositionedOp* const> in) {
  std::vector<const PositionedOp*> fresh = normalise(key_, in, targets_);
  if (fresh.empty()) return true;
  if (!ops_.empty() && !(*ops_.back() < *fresh.front())) return false;
  // Each origin's operations must come in later deltas than those folded:
  // a second operation at a folded (origin, seq, index) (an equivocation),
  // however it sorts, is settled by normalise() over the whole set.
  for (const PositionedOp* p : fresh) {
    auto it = last_seq_.find(p->origin);
    if (it != last_seq_.end() && p->seq <= it->second) return false;
  }
  for (const PositionedOp* p : fresh) last_seq_[p->origin] = std::max(last_seq_[p->origin], p->seq);
  std::size_t first = ops_.size();
  if (key_.type == v1::MOBILITY && !creation_) {
    // The first valid creation in the order fixes the fields that authorise
    // host writes and confirmations wherever they sit; ones already held
    // for want of it must be looked at again from the start.
    std::optional<std::size_t> c = find_creation(fresh);
    if (c && held_) return false;
    if (c) creation_ = first + *c;
  }
  ops_.insert(ops_.end(), fresh.begin(), fresh.end());
  for (std::size_t i = first; i < ops_.size(); ++i) apply(i);
  return true;
}

v1::RecordState Folder::state() const { return finish(Output{st_, rejected_, updated_}); }

v1::RecordState Folder::take_state() && { return finish(Output{std::move(st_), std::move(rejected_), updated_}); }

// The passes over the whole set, on `out` (which starts as st_, rejected_
// and updated_, copied or taken).
v1::RecordState Folder::finish(Output out) const {
  if (key_.type == v1::RESERVATION) settle_decisions(out);
  mirror_sets(out);
  std::sort(out.rejected.begin(), out.rejected.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [i, r] : out.rejected) *out.st.add_rejected() = std::move(r);
  for (const auto& c : erased_) out.st.add_erased(c);
  if (key_.type == v1::MOBILITY)
    for (const auto& c : confirmations_) out.st.mutable_mobility()->add_confirmations()->ParseFromString(c);
  out.st.set_updated_hlc(out.updated);
  return std::move(out.st);
}

std::optional<std::size_t> Folder::find_creation(const std::vector<const PositionedOp*>& ops) const {
  std::string ignored;
  for (std::size_t i = 0; i < ops.size(); ++i) {
    const v1::Operation& op = ops[i]->op;
    if (op.has_write() && op.write().has_mobility_create() && ops[i]->origin == key_.owner &&
        !check_create(op.write().mobility_create(), &ignored) && !roster_refusal(*ops[i]))
      return i;
  }
  return std::nullopt;
}

void Folder::apply(std::size_t i) {
  const v1::Operation& op = ops_[i]->op;
  // The roster first: an origin that may author nothing at this point (an
  // auditor, or one refused by the replicated roster) changes nothing. One
  // exception: a requester cut off after it cancelled its own reservation.
  // The host may have counted the freed slots already (its decision names
  // the cancel among its dependencies) and confirmed someone else; refusing
  // the cancel afterwards would overbook the window on every node. A cancel
  // only ever frees slots, so counting it gives a cut member no power.
  if (auto why = roster_refusal(*ops_[i]))
    if (!(op.op_case() == v1::Operation::kCancel && by_owner(i) && cut_off(*ops_[i])))
      return reject(i, static_cast<Errc>(why->code.value()), why->detail);
  switch (op.op_case()) {
    case v1::Operation::kWrite:
      return write(i, op.write());
    case v1::Operation::kSet:
      return set_change(i, op.set());
    case v1::Operation::kDecide:
      return decide(i, op.decide());
    case v1::Operation::kCancel:
      return cancel(i);
    case v1::Operation::kConfirm:
      return confirm(i, op.confirm());
    case v1::Operation::kErase:
      return erase(i, op.erase());
    case v1::Operation::kFound:
    case v1::Operation::kAdmit:
    case v1::Operation::kRemove:
    case v1::Operation::kLeave:
    case v1::Operation::kRotate:
    case v1::Operation::kRekey:
    case v1::Operation::kCardUpdate:
    case v1::Operation::kSealKey:      // op_target() routes none to a record
    case v1::Operation::kEnvelopeAck:  // nor these
    case v1::Operation::OP_NOT_SET:
      return;  // normalise() dropped these (membership operations target no record)
  }
}

// ------------------------------------------------------------------- writes

void Folder::write(std::size_t i, const v1::FieldWrite& w) {
  auto group = static_cast<std::uint32_t>(w.group_case());
  if (group == kGroupMobilityCreate) return mobility_create(i, w);
  if (!authorise_write(i, w)) return;
  auto fds = listed_fields(i, w);
  if (!fds || !check_values(i, w, *fds)) return;
  bool agreed = group == kGroupMobilitySending &&
                std::any_of(fds->begin(), fds->end(), [](const FieldDescriptor* fd) { return fd->number() <= 6; });
  std::optional<Agreed> before;
  if (agreed) before = agreed_fields(st_.mobility().sending());
  lww_write(*group_in_state(group), group_in_write(w), group, *fds);
  if (agreed && agreed_fields(st_.mobility().sending()) != *before)
    st_.mutable_mobility()->set_agreed_delta(ops_[i]->delta_id.raw());
  if (key_.type != v1::MOBILITY) st_.set_created(true);
  effective(i);
}

void Folder::mobility_create(std::size_t i, const v1::FieldWrite& w) {
  if (creation_ == i) {
    v1::Mobility* m = st_.mutable_mobility();
    *m->mutable_fixed() = w.mobility_create();
    drop_unknown(m->mutable_fixed());
    m->set_agreed_delta(ops_[i]->delta_id.raw());
    st_.set_created(true);
    effective(i);
    return;
  }
  if (!by_owner(i))
    return reject(i, Errc::not_authorised, "only the mobility's owner " + owner_short() + " creates it");
  std::string detail;
  if (auto rule = check_create(w.mobility_create(), &detail)) return reject(i, *rule, detail);
  reject(i, Errc::fixed_field,
         "the mobility was created by delta " + std::to_string(ops_[*creation_]->seq.value) +
             "; its fixed fields never change (a different participant is a new mobility)");
}

std::optional<Errc> Folder::check_create(const v1::MobilityFixed& f, std::string* detail) const {
  if (f.sending_organisation().owner() != view(key_.owner)) {
    *detail = "the sending organisation " + short_id(f.sending_organisation()) + " is not one the mobility's owner " +
              owner_short() + " speaks for";
    return Errc::not_authorised;
  }
  if (f.receiving_organisation().owner().size() != NodeId::size()) {
    *detail = "the receiving organisation does not name a 32-byte member id";
    return Errc::invalid_argument;
  }
  return std::nullopt;
}

bool Folder::authorise_write(std::size_t i, const v1::FieldWrite& w) {
  auto group = static_cast<std::uint32_t>(w.group_case());
  if (group != kGroupMobilityHost) {
    if (by_owner(i)) return true;
    reject(i, Errc::not_authorised,
           std::string("only the record's owner ") + owner_short() + " writes its " + group_name(group));
    return false;
  }
  const v1::MobilityFixed* f = fixed();
  if (!f) {  // held: nothing to check the authority against yet
    held_ = true;
    return false;
  }
  if (!w.has_authority() || !same_id(w.authority(), f->receiving_organisation())) {
    reject(i, Errc::not_authorised,
           "host fields must name the receiving organisation " + short_id(f->receiving_organisation()) +
               " as their authority");
    return false;
  }
  if (view(ops_[i]->origin) != f->receiving_organisation().owner()) {
    reject(i, Errc::not_authorised,
           "host fields are written by the receiving organisation's member " +
               to_hex(f->receiving_organisation().owner()).substr(0, 16));
    return false;
  }
  return true;
}

std::optional<std::vector<const FieldDescriptor*>> Folder::listed_fields(std::size_t i, const v1::FieldWrite& w) {
  auto group = static_cast<std::uint32_t>(w.group_case());
  const auto* desc = group_in_write(w).GetDescriptor();
  std::vector<const FieldDescriptor*> out;
  for (std::uint32_t number : w.fields()) {
    const FieldDescriptor* fd = number <= 0x1fffffff ? desc->FindFieldByNumber(static_cast<int>(number)) : nullptr;
    if (!fd) {
      reject(i, Errc::malformed_body,
             "field " + std::to_string(number) + " is not a field of the " + group_name(group));
      return std::nullopt;
    }
    if (is_set_field(group, number)) {
      reject(i, Errc::invalid_argument, "field " + fd->name() + " is an add-wins set; change it with SetChange");
      return std::nullopt;
    }
    if (std::find(out.begin(), out.end(), fd) == out.end()) out.push_back(fd);
  }
  return out;
}

bool Folder::check_values(std::size_t i, const v1::FieldWrite& w, const std::vector<const FieldDescriptor*>& fds) {
  switch (w.group_case()) {
    case v1::FieldWrite::kOrganisation: {
      const std::string& speaker = w.organisation().speaker();
      if (lists(fds, v1::Organisation::kSpeakerFieldNumber) && !speaker.empty() && speaker != view(key_.owner)) {
        reject(i, Errc::invalid_argument, "an organisation's speaker is its owner " + owner_short());
        return false;
      }
      return true;
    }
    case v1::FieldWrite::kPlacement: {
      const v1::Placement& p = w.placement();
      if (lists(fds, v1::Placement::kHostOrganisationFieldNumber) && p.has_host_organisation() &&
          !check_reference(i, v1::ORGANISATION, p.host_organisation(), "host_organisation"))
        return false;
      if (lists(fds, v1::Placement::kMentorContactFieldNumber) && p.has_mentor_contact() &&
          !check_reference(i, v1::CONTACT, p.mentor_contact(), "mentor_contact"))
        return false;
      if (!lists(fds, v1::Placement::kWindowsFieldNumber)) return true;
      std::set<std::uint32_t> ids;
      for (const auto& win : w.placement().windows()) {
        if (!ids.insert(win.window_id()).second) {
          reject(i, Errc::invalid_argument, "window id " + std::to_string(win.window_id()) + " appears twice");
          return false;
        }
      }
      return true;
    }
    case v1::FieldWrite::kReservation: {
      const v1::Reservation& req = w.reservation();
      if (lists(fds, v1::Reservation::kDecisionFieldNumber)) {
        reject(i, Errc::not_authorised,
               "a reservation's decision is made by the placement's owner (ReservationDecide)");
        return false;
      }
      const v1::Reservation& cur = st_.reservation();
      bool moved = (lists(fds, v1::Reservation::kPlacementFieldNumber) && !same_id(req.placement(), cur.placement())) ||
                   (lists(fds, v1::Reservation::kWindowIdFieldNumber) && req.window_id() != cur.window_id()) ||
                   (lists(fds, v1::Reservation::kSlotsFieldNumber) && req.slots() != cur.slots());
      if (st_.created() && moved) {
        reject(i, Errc::fixed_field,
               "placement, window and slots of a reservation are fixed by its request; cancel and request anew");
        return false;
      }
      return true;
    }
    case v1::FieldWrite::kContact:
      return !lists(fds, v1::Contact::kOrganisationFieldNumber) || !w.contact().has_organisation() ||
             check_reference(i, v1::ORGANISATION, w.contact().organisation(), "organisation");
    case v1::FieldWrite::kMobilitySending: {
      auto next = w.mobility_sending().status();
      auto now = st_.mobility().sending().status();
      if (lists(fds, v1::MobilitySending::kStatusFieldNumber) && next < now) {
        reject(i, Errc::invalid_argument,
               "mobility status moves forward only (" + v1::MobilityStatus_Name(now) + " -> " +
                   v1::MobilityStatus_Name(next) + " refused)");
        return false;
      }
      return true;
    }
    default:
      return true;
  }
}

// A placement's host organisation and mentor, a contact's organisation: the
// owner's own records, created no later than this write (authority.h).
bool Folder::check_reference(std::size_t i, v1::RecordType type, const v1::RecordId& ref, const char* what) {
  auto why = check_own_reference(ctx_.chains, key_.owner, ops_[i]->seq, type, ref, what);
  if (why) reject(i, static_cast<Errc>(why->code.value()), why->detail);
  return !why;
}

// ------------------------------------------------------ the other operations

void Folder::set_change(std::size_t i, const v1::SetChange& c) {
  if (group_record_type(c.group()) != key_.type || !is_set_field(c.group(), c.field())) {
    return reject(i, Errc::invalid_argument,
                  "field " + std::to_string(c.field()) + " of group " + std::to_string(c.group()) +
                      " is not an add-wins set of this record type");
  }
  if (!by_owner(i))
    return reject(i, Errc::not_authorised, "only the record's owner " + owner_short() + " changes its sets");
  const FieldDescriptor* fd =
      group_in_state(c.group())->GetDescriptor()->FindFieldByNumber(static_cast<int>(c.field()));
  if (!canonical_element(fd, c.element()))
    return reject(i, Errc::invalid_argument, "element is not a canonical encoding of a " + fd->name() + " value");
  SetKey k{c.group(), c.field(), c.element()};
  if (c.remove()) {
    removed_[k].insert(c.observed().begin(), c.observed().end());
  } else {
    adds_[k].insert(set_tag(ops_[i]->origin, ops_[i]->seq, ops_[i]->index));
  }
  effective(i);
}

void Folder::decide(std::size_t i, const v1::ReservationDecide& d) {
  if (d.placement().owner() != view(ops_[i]->origin))
    return reject(i, Errc::not_authorised,
                  "only the placement's owner decides; the decision names placement " + short_id(d.placement()));
  if (d.decision() != v1::RESERVATION_CONFIRMED && d.decision() != v1::RESERVATION_REJECTED)
    return reject(i, Errc::invalid_argument,
                  "a decision is CONFIRMED or REJECTED, not " + v1::ReservationDecision_Name(d.decision()));
  decisions_.push_back(i);
}

void Folder::cancel(std::size_t i) {
  if (!by_owner(i))
    return reject(i, Errc::not_authorised, "only the requester " + owner_short() + " cancels a reservation");
  cancelled_ = true;
  effective(i);
}

void Folder::confirm(std::size_t i, const v1::MobilityConfirm& c) {
  if (!c.has_confirmation()) return reject(i, Errc::invalid_argument, "mobility confirmation carries no confirmation");
  const v1::MobilityFixed* f = fixed();
  if (!f) {  // held until the mobility exists
    held_ = true;
    return;
  }
  const v1::Confirmation& conf = c.confirmation();
  const v1::RecordId* authority = nullptr;
  std::string signer;
  if (conf.party() == v1::PARTY_SENDING) {
    authority = &f->sending_organisation();
    signer = key_.owner.raw();
  } else if (conf.party() == v1::PARTY_HOST) {
    authority = &f->receiving_organisation();
    signer = f->receiving_organisation().owner();
  } else {
    return reject(i, Errc::invalid_argument, "a confirmation is by the sending or the host party");
  }
  if (!same_id(c.authority(), *authority))
    return reject(i, Errc::not_authorised,
                  "the confirmation must name the party's organisation " + short_id(*authority));
  if (conf.signer() != signer)
    return reject(i, Errc::not_authorised,
                  "this party confirms with member " + to_hex(signer).substr(0, 16) + "'s key");
  if (view(ops_[i]->origin) != signer)
    return reject(i, Errc::not_authorised, "a confirmation is published by its signer");
  if (!verify_confirmation(key_, conf))
    return reject(i, Errc::bad_signature, "the confirmation's signature does not verify");
  v1::Confirmation clean = conf;
  drop_unknown(&clean);
  confirmations_.insert(deterministic_bytes(clean));
  effective(i);
}

void Folder::erase(std::size_t i, const v1::Erase& e) {
  if (!by_owner(i))
    return reject(i, Errc::not_authorised, "only the record's owner " + owner_short() + " erases its personal data");
  if (e.commitment().size() != Hash256::size())
    return reject(i, Errc::invalid_argument, "an erased commitment is 32 bytes");
  erased_.insert(e.commitment());
  effective(i);
}

// ------------------------------------------------------------- final passes

void Folder::settle_decisions(Output& out) const {
  v1::Reservation* r = out.st.mutable_reservation();
  if (!out.st.created()) {  // decisions are held until the request is known
    r->set_decision(cancelled_ ? v1::RESERVATION_CANCELLED : v1::RESERVATION_DECISION_UNSPECIFIED);
    return;
  }
  std::optional<std::size_t> last;
  for (std::size_t i : decisions_) {
    const v1::ReservationDecide& d = ops_[i]->op.decide();
    if (!same_id(d.placement(), r->placement())) {
      out.rejected.emplace_back(i, rejection(i, Errc::not_authorised,
                                             "the decision names placement " + short_id(d.placement()) +
                                                 " but the request is for " + short_id(r->placement())));
    } else if (d.window_id() != r->window_id() || d.slots() != r->slots()) {
      out.rejected.emplace_back(i,
                                rejection(i, Errc::invalid_argument,
                                          "the decision is for window " + std::to_string(d.window_id()) + " and " +
                                              std::to_string(d.slots()) + " slots, the request for window " +
                                              std::to_string(r->window_id()) + " and " + std::to_string(r->slots())));
    } else {
      last = i;
      out.updated = std::max(out.updated, ops_[i]->hlc.value);
    }
  }
  r->set_decision(cancelled_ ? v1::RESERVATION_CANCELLED
                  : last     ? ops_[*last]->op.decide().decision()
                             : v1::RESERVATION_PENDING);
}

void Folder::mirror_sets(Output& out) const {
  for (std::uint32_t group : {kGroupOrganisation, kGroupPlacement, kGroupMobilitySending, kGroupContact}) {
    if (group_record_type(group) != key_.type) continue;
    Message* g = group_in(out.st, group);
    const auto* desc = g->GetDescriptor();
    for (int f = 0; f < desc->field_count(); ++f)
      if (is_set_field(group, static_cast<std::uint32_t>(desc->field(f)->number())))
        g->GetReflection()->ClearField(g, desc->field(f));
  }
  for (const auto& [k, tags] : adds_) {
    const auto& [group, field, element] = k;
    std::vector<std::string> live;
    auto gone = removed_.find(k);
    for (const auto& t : tags)
      if (gone == removed_.end() || !gone->second.count(t)) live.push_back(t);
    if (live.empty()) continue;
    Message* g = group_in(out.st, group);
    const auto* refl = g->GetReflection();
    const FieldDescriptor* fd = g->GetDescriptor()->FindFieldByNumber(static_cast<int>(field));
    switch (fd->type()) {
      case FieldDescriptor::TYPE_STRING:
        refl->AddString(g, fd, element);
        break;
      case FieldDescriptor::TYPE_ENUM:
        refl->AddEnumValue(g, fd, *canonical_varint(element));
        break;
      default:
        refl->AddMessage(g, fd)->ParseFromString(element);
        break;
    }
    v1::SetElement* se = out.st.add_sets();
    se->set_group(group);
    se->set_field(field);
    se->set_element(element);
    for (auto& t : live) se->add_tags(std::move(t));
  }
}

}  // namespace detail

v1::RecordState fold_record(const RecordKey& key, std::span<const PositionedOp* const> ops, const FoldContext& ctx,
                            OpTargets targets) {
  detail::Folder folder(key, ctx, targets);
  folder.append(ops);  // never refuses: nothing was folded before
  return std::move(folder).take_state();
}

RecordFolder::RecordFolder(const RecordKey& key, const FoldContext& ctx)
    : folder_(std::make_unique<detail::Folder>(key, ctx)) {}
RecordFolder::~RecordFolder() = default;
RecordFolder::RecordFolder(RecordFolder&&) noexcept = default;
RecordFolder& RecordFolder::operator=(RecordFolder&&) noexcept = default;
bool RecordFolder::append(std::span<const PositionedOp* const> ops) { return folder_->append(ops); }
v1::RecordState RecordFolder::state() const { return folder_->state(); }

// By value (the header's contract: callers hand their operations over).
v1::RecordState fold_record(const RecordKey& key,
                            std::vector<PositionedOp> ops,  // NOLINT(performance-unnecessary-value-param)
                            const FoldContext& ctx) {
  std::vector<const PositionedOp*> refs;
  refs.reserve(ops.size());
  for (const auto& p : ops) refs.push_back(&p);
  return fold_record(key, refs, ctx);
}

}  // namespace conect
