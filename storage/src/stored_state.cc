#include "stored_state.h"

#include <stdexcept>

#include "store_impl.h"

namespace conect::storage {
namespace {

std::size_t varint_size(std::uint64_t v) {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

}  // namespace

std::string key_fields(const RecordKey& key) {
  // Written by hand, as protobuf writes RecordState{type, id{owner, serial}}
  // (proto3: a zero scalar is left out, a set message field is not): this
  // runs for every record written and every digest update. stored_part()
  // checks it against the fold's own bytes on every write.
  std::string out;
  out.reserve(2 + 2 + 34 + 11);
  if (key.type != 0) {
    out.push_back(0x08);  // field 1 (type), varint
    codec::put_varint(out, static_cast<std::uint64_t>(key.type));
  }
  const std::size_t id_size = 2 + NodeId::size() + (key.serial != 0 ? 1 + varint_size(key.serial) : 0);
  out.push_back(0x12);  // field 2 (id), length-delimited
  codec::put_varint(out, id_size);
  out.push_back(0x0a);  // RecordId.owner
  codec::put_varint(out, NodeId::size());
  out.append(reinterpret_cast<const char*>(key.owner.data()), NodeId::size());
  if (key.serial != 0) {
    out.push_back(0x10);  // RecordId.serial
    codec::put_varint(out, key.serial);
  }
  return out;
}

std::string_view stored_part(const RecordKey& key, std::string_view state_bytes) {
  const std::string fields = key_fields(key);
  if (!state_bytes.starts_with(fields))
    throw std::logic_error("the state of " + key.text() + " does not start with its key's type and id");
  return state_bytes.substr(fields.size());
}

void for_each_inner_id(v1::RecordState& s, const std::function<void(std::string&, bool)>& f) {
  // Each reference only when set: mutable_*() would add an empty one.
  auto ref = [&](v1::RecordId* id) { f(*id->mutable_owner(), false); };
  switch (s.record_case()) {
    case v1::RecordState::kPlacement: {
      auto& p = *s.mutable_placement();
      if (p.has_host_organisation()) ref(p.mutable_host_organisation());
      if (p.has_mentor_contact()) ref(p.mutable_mentor_contact());
      break;
    }
    case v1::RecordState::kReservation: {
      auto& r = *s.mutable_reservation();
      if (r.has_placement()) ref(r.mutable_placement());
      if (r.has_mobility()) ref(r.mutable_mobility());
      break;
    }
    case v1::RecordState::kMobility: {
      auto& m = *s.mutable_mobility();
      if (m.has_fixed() && m.fixed().has_sending_organisation())
        ref(m.mutable_fixed()->mutable_sending_organisation());
      if (m.has_fixed() && m.fixed().has_receiving_organisation())
        ref(m.mutable_fixed()->mutable_receiving_organisation());
      if (m.has_sending() && m.sending().has_placement()) ref(m.mutable_sending()->mutable_placement());
      if (m.has_host() && m.host().has_mentor()) ref(m.mutable_host()->mutable_mentor());
      break;
    }
    case v1::RecordState::kContact: {
      auto& c = *s.mutable_contact();
      if (c.has_organisation()) ref(c.mutable_organisation());
      break;
    }
    default:
      break;
  }
  for (auto& element : *s.mutable_sets())
    for (auto& tag : *element.mutable_tags()) f(tag, true);
}

namespace {

constexpr std::size_t kTagSize = 44;  // origin (32) || seq (8) || index (4): merge.cc set_tag

// The size a coded or whole id field has: the id's or code's, and a tag's 12 more bytes.
std::size_t field_size(std::size_t id, bool tag) { return id + (tag ? kTagSize - 32 : 0); }

// Some inner id, and every one 32 bytes, every tag 44: what coding
// assumes. A state without any is kept as it is (a mark would only add
// bytes).
bool codable(v1::RecordState& s) {
  bool ok = true;
  std::size_t ids = 0;
  for_each_inner_id(s, [&](std::string& field, bool tag) {
    ok = ok && field.size() == field_size(32, tag);
    ++ids;
  });
  return ok && ids > 0;
}

}  // namespace

std::string stored_state(Writer& w, const RecordKey& key, v1::RecordState& state, std::string_view whole) {
  if (!codable(state)) return std::string(stored_part(key, whole));
  std::vector<std::string> ids;  // each field's id, to put back
  for_each_inner_id(state, [&](std::string& field, bool) {
    ids.push_back(field.substr(0, 32));
    field.replace(0, 32, w.code(*NodeId::from_raw(ids.back())));
  });
  // The key says type and id (stored_part): left out, and put back below.
  const auto type = state.type();
  v1::RecordId id;
  id.Swap(state.mutable_id());
  state.clear_type();
  state.clear_id();
  std::string out(kCodedState);
  out += serialize_state(state);
  state.set_type(type);
  state.mutable_id()->Swap(&id);
  std::size_t at = 0;
  for_each_inner_id(state, [&](std::string& field, bool) { field.replace(0, codec::kNodeCode, ids[at++]); });
  return out;
}

std::optional<std::string> coded_from_schema_5(std::string_view stored,
                                               const std::function<std::string(const NodeId&)>& code) {
  v1::RecordState s;
  if (!s.ParseFromArray(stored.data(), static_cast<int>(stored.size()))) return std::nullopt;
  if (!codable(s)) return std::string(stored);
  for_each_inner_id(s, [&](std::string& field, bool) {
    field.replace(0, 32, code(*NodeId::from_raw(std::string_view(field).substr(0, 32))));
  });
  return std::string(kCodedState) + serialize_state(s);
}

bool inner_ids_of_schema_5(std::string_view stored, std::set<std::string>& ids) {
  v1::RecordState s;
  if (!s.ParseFromArray(stored.data(), static_cast<int>(stored.size()))) return false;
  if (codable(s)) for_each_inner_id(s, [&](std::string& field, bool) { ids.insert(field.substr(0, 32)); });
  return true;
}

v1::RecordState load_stored_state(const Keys& keys, const RecordKey& key, std::string_view stored) {
  v1::RecordState s;
  const bool coded = stored.starts_with(kCodedState);
  if (coded) stored.remove_prefix(kCodedState.size());
  if (!s.ParseFromArray(stored.data(), static_cast<int>(stored.size()))) corrupt("unreadable record state");
  if (coded)
    for_each_inner_id(s, [&](std::string& field, bool tag) {
      if (field.size() != field_size(codec::kNodeCode, tag))
        corrupt("a coded record state with an id of the wrong size");
      field.replace(0, codec::kNodeCode, keys.id(std::string_view(field).substr(0, codec::kNodeCode)).raw());
    });
  s.set_type(key.type);
  s.mutable_id()->set_owner(key.owner.data(), NodeId::size());
  s.mutable_id()->set_serial(key.serial);
  return s;
}

Hash256 stored_state_hash(const Keys& keys, const RecordKey& key, std::string_view stored) {
  if (stored.starts_with(kCodedState)) return record_hash(key, serialize_state(load_stored_state(keys, key, stored)));
  std::string whole = key_fields(key);
  whole.append(stored);
  return record_hash(key, whole);
}

}  // namespace conect::storage
