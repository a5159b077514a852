#include "stored_state.h"

#include <stdexcept>

#include "store_impl.h"

namespace conect::storage {
namespace {

void put_varint(std::string& out, std::uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

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
    put_varint(out, static_cast<std::uint64_t>(key.type));
  }
  const std::size_t id_size = 2 + NodeId::size() + (key.serial != 0 ? 1 + varint_size(key.serial) : 0);
  out.push_back(0x12);  // field 2 (id), length-delimited
  put_varint(out, id_size);
  out.push_back(0x0a);  // RecordId.owner
  put_varint(out, NodeId::size());
  out.append(reinterpret_cast<const char*>(key.owner.data()), NodeId::size());
  if (key.serial != 0) {
    out.push_back(0x10);  // RecordId.serial
    put_varint(out, key.serial);
  }
  return out;
}

std::string_view stored_part(const RecordKey& key, std::string_view state_bytes) {
  const std::string fields = key_fields(key);
  if (!state_bytes.starts_with(fields))
    throw std::logic_error("the state of " + key.text() + " does not start with its key's type and id");
  return state_bytes.substr(fields.size());
}

v1::RecordState load_stored_state(const RecordKey& key, std::string_view stored) {
  v1::RecordState s;
  if (!s.ParseFromArray(stored.data(), static_cast<int>(stored.size()))) corrupt("unreadable record state");
  s.set_type(key.type);
  s.mutable_id()->set_owner(key.owner.data(), NodeId::size());
  s.mutable_id()->set_serial(key.serial);
  return s;
}

Hash256 stored_state_hash(const RecordKey& key, std::string_view stored) {
  std::string whole = key_fields(key);
  whole.append(stored);
  return record_hash(key, whole);
}

}  // namespace conect::storage
