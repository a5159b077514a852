#include "conect/crdt/ops.h"

#include <google/protobuf/descriptor.h>
#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <google/protobuf/message.h>

#include <memory>

namespace conect::ops {
namespace {

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

v1::FieldWrite* new_write(v1::Operation& op, const RecordKey& key, const Fields& fields) {
  v1::FieldWrite* w = op.mutable_write();
  *w->mutable_id() = key.to_proto();
  for (auto f : fields) w->add_fields(f);
  return w;
}

// One SetChange add per element of every OR-set field of `m`.
void add_set_elements(std::vector<v1::Operation>& out, const RecordKey& key, std::uint32_t group, const Message& m) {
  const auto* desc = m.GetDescriptor();
  const auto* refl = m.GetReflection();
  for (int i = 0; i < desc->field_count(); ++i) {
    const FieldDescriptor* fd = desc->field(i);
    auto number = static_cast<std::uint32_t>(fd->number());
    if (!is_set_field(group, number)) continue;
    for (int k = 0; k < refl->FieldSize(m, fd); ++k) {
      std::string e;
      switch (fd->type()) {
        case FieldDescriptor::TYPE_STRING:
          e = string_element(refl->GetRepeatedString(m, fd, k));
          break;
        case FieldDescriptor::TYPE_ENUM:
          e = enum_element(refl->GetRepeatedEnumValue(m, fd, k));
          break;
        default:
          e = message_element(refl->GetRepeatedMessage(m, fd, k));
          break;
      }
      out.push_back(set_add(key, group, number, std::move(e)));
    }
  }
}

template <class Group>
std::vector<v1::Operation> create_with_sets(const RecordKey& key, std::uint32_t group, const Group& g,
                                            v1::Operation (*writer)(const RecordKey&, const Group&, const Fields&)) {
  std::vector<v1::Operation> out;
  out.push_back(writer(key, g, present_fields(group, g)));
  add_set_elements(out, key, group, g);
  return out;
}

}  // namespace

Fields present_fields(std::uint32_t group, const Message& m) {
  Fields out;
  const auto* desc = m.GetDescriptor();
  const auto* refl = m.GetReflection();
  for (int i = 0; i < desc->field_count(); ++i) {
    const FieldDescriptor* fd = desc->field(i);
    auto number = static_cast<std::uint32_t>(fd->number());
    if (is_set_field(group, number)) continue;
    if (group == kGroupReservation && number == v1::Reservation::kDecisionFieldNumber) continue;
    bool has = fd->is_repeated() ? refl->FieldSize(m, fd) > 0 : refl->HasField(m, fd);
    if (has) out.push_back(number);
  }
  return out;
}

v1::Operation write_organisation(const RecordKey& key, const v1::Organisation& o, const Fields& fields) {
  v1::Operation op;
  *new_write(op, key, fields)->mutable_organisation() = o;
  return op;
}

v1::Operation write_placement(const RecordKey& key, const v1::Placement& p, const Fields& fields) {
  v1::Operation op;
  *new_write(op, key, fields)->mutable_placement() = p;
  return op;
}

v1::Operation write_contact(const RecordKey& key, const v1::Contact& c, const Fields& fields) {
  v1::Operation op;
  *new_write(op, key, fields)->mutable_contact() = c;
  return op;
}

v1::Operation write_reservation(const RecordKey& key, const v1::Reservation& r, const Fields& fields) {
  v1::Operation op;
  *new_write(op, key, fields)->mutable_reservation() = r;
  return op;
}

v1::Operation write_mobility_sending(const RecordKey& key, const v1::MobilitySending& s, const Fields& fields) {
  v1::Operation op;
  *new_write(op, key, fields)->mutable_mobility_sending() = s;
  return op;
}

v1::Operation write_mobility_host(const RecordKey& key, const RecordKey& receiving_organisation,
                                  const v1::MobilityHost& h, const Fields& fields) {
  v1::Operation op;
  v1::FieldWrite* w = new_write(op, key, fields);
  *w->mutable_mobility_host() = h;
  *w->mutable_authority() = receiving_organisation.to_proto();
  return op;
}

std::vector<v1::Operation> create_organisation(const RecordKey& key, const v1::Organisation& o) {
  return create_with_sets(key, kGroupOrganisation, o, &write_organisation);
}

std::vector<v1::Operation> create_placement(const RecordKey& key, const v1::Placement& p) {
  return create_with_sets(key, kGroupPlacement, p, &write_placement);
}

std::vector<v1::Operation> create_contact(const RecordKey& key, const v1::Contact& c) {
  return create_with_sets(key, kGroupContact, c, &write_contact);
}

v1::Operation request_reservation(const RecordKey& key, const v1::Reservation& r) {
  return write_reservation(
      key, r,
      {v1::Reservation::kPlacementFieldNumber, v1::Reservation::kWindowIdFieldNumber,
       v1::Reservation::kSlotsFieldNumber, v1::Reservation::kMobilityFieldNumber, v1::Reservation::kNoteFieldNumber});
}

std::vector<v1::Operation> create_mobility(const RecordKey& key, const v1::MobilityFixed& fixed,
                                           const v1::MobilitySending* sending) {
  std::vector<v1::Operation> out;
  v1::Operation create;
  *new_write(create, key, {})->mutable_mobility_create() = fixed;
  out.push_back(std::move(create));
  if (sending) {
    out.push_back(write_mobility_sending(key, *sending, present_fields(kGroupMobilitySending, *sending)));
    add_set_elements(out, key, kGroupMobilitySending, *sending);
  }
  return out;
}

v1::Operation decide(const RecordKey& reservation, const RecordKey& placement, std::uint32_t window_id,
                     std::uint32_t slots, v1::ReservationDecision decision) {
  v1::Operation op;
  v1::ReservationDecide* d = op.mutable_decide();
  *d->mutable_reservation() = reservation.to_proto();
  *d->mutable_placement() = placement.to_proto();
  d->set_window_id(window_id);
  d->set_slots(slots);
  d->set_decision(decision);
  return op;
}

v1::Operation decide(const RecordKey& reservation, const v1::Reservation& request, v1::ReservationDecision decision) {
  v1::Operation op;
  v1::ReservationDecide* d = op.mutable_decide();
  *d->mutable_reservation() = reservation.to_proto();
  *d->mutable_placement() = request.placement();
  d->set_window_id(request.window_id());
  d->set_slots(request.slots());
  d->set_decision(decision);
  return op;
}

v1::Operation cancel(const RecordKey& reservation) {
  v1::Operation op;
  *op.mutable_cancel()->mutable_reservation() = reservation.to_proto();
  return op;
}

v1::Operation confirm(const RecordKey& mobility, const v1::RecordId& authority, const v1::Confirmation& c) {
  v1::Operation op;
  v1::MobilityConfirm* m = op.mutable_confirm();
  *m->mutable_mobility() = mobility.to_proto();
  *m->mutable_authority() = authority;
  *m->mutable_confirmation() = c;
  return op;
}

v1::Operation set_add(const RecordKey& key, std::uint32_t group, std::uint32_t field, std::string element) {
  v1::Operation op;
  v1::SetChange* s = op.mutable_set();
  *s->mutable_id() = key.to_proto();
  s->set_type(key.type);
  s->set_group(group);
  s->set_field(field);
  s->set_element(std::move(element));
  return op;
}

v1::Operation set_remove(const RecordKey& key, std::uint32_t group, std::uint32_t field, std::string element,
                         std::vector<std::string> observed_tags) {
  v1::Operation op = set_add(key, group, field, std::move(element));
  op.mutable_set()->set_remove(true);
  for (auto& t : observed_tags) op.mutable_set()->add_observed(std::move(t));
  return op;
}

v1::Operation set_remove_live(const RecordKey& key, const v1::RecordState& state, std::uint32_t group,
                              std::uint32_t field, std::string element) {
  std::vector<std::string> tags;
  for (const auto& se : state.sets())
    if (se.group() == group && se.field() == field && se.element() == element)
      tags.assign(se.tags().begin(), se.tags().end());
  return set_remove(key, group, field, std::move(element), std::move(tags));
}

std::string string_element(std::string_view s) { return std::string(s); }

std::string enum_element(int value) {
  std::string out;
  auto v = static_cast<std::uint64_t>(static_cast<std::int64_t>(value));
  do {
    auto b = static_cast<std::uint8_t>(v & 0x7f);
    v >>= 7;
    out.push_back(static_cast<char>(v ? b | 0x80 : b));
  } while (v);
  return out;
}

std::string message_element(const Message& m) {
  std::unique_ptr<Message> clean(m.New());
  clean->CopyFrom(m);
  clean->DiscardUnknownFields();
  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    clean->SerializeToCodedStream(&coded);
  }
  return out;
}

v1::Operation erase(const RecordKey& key, const Hash256& commitment) {
  v1::Operation op;
  v1::Erase* e = op.mutable_erase();
  *e->mutable_record() = key.to_proto();
  e->set_commitment(commitment.raw());
  e->set_type(key.type);
  return op;
}

}  // namespace conect::ops
