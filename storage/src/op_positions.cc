#include "op_positions.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/wire_format_lite.h>

#include "codec.h"

namespace conect::storage {

namespace {

using google::protobuf::internal::WireFormatLite;
using google::protobuf::io::CodedInputStream;

std::string where(const NodeId& origin, Seq seq) {
  return "delta " + std::to_string(seq.value) + " of " + origin.hex().substr(0, 16);
}

// The body and signature of a stored SignedDelta (body = 1, signature = 2;
// proto/delta.proto), as views into `bytes`: no copy, no message parsed.
bool read_signed(std::string_view bytes, std::string_view& body, std::string_view& signature) {
  CodedInputStream in(reinterpret_cast<const std::uint8_t*>(bytes.data()), static_cast<int>(bytes.size()));
  bool have_body = false;
  while (std::uint32_t tag = in.ReadTag()) {
    auto number = WireFormatLite::GetTagFieldNumber(tag);
    if ((number == 1 || number == 2) &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      std::uint32_t size = 0;
      if (!in.ReadVarint32(&size) || size > bytes.size() - static_cast<std::size_t>(in.CurrentPosition())) return false;
      std::string_view field = bytes.substr(static_cast<std::size_t>(in.CurrentPosition()), size);
      (number == 1 ? body : signature) = field;
      have_body = have_body || number == 1;
      if (!in.Skip(static_cast<int>(size))) return false;
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      return false;
    }
  }
  return have_body && in.ConsumedEntireMessage();
}

}  // namespace

std::vector<StoredPosition> stored_positions(const lmdb::Txn& txn, const Dbs& db, const RecordKey& key) {
  std::vector<StoredPosition> out;
  const Keys keys(txn, db);
  const auto prefix = keys.record(key);
  if (!prefix) return out;
  auto c = txn.cursor(db.ops(key.type));
  for (bool ok = c.seek(*prefix); ok && c.key().starts_with(*prefix); ok = c.next()) {
    auto at = codec::decode_op_key(c.key());
    if (!at) corrupt("malformed operation key of record " + key.text());
    out.push_back({keys.id(at->origin_code), at->seq, at->index});
  }
  return out;
}

const LoggedOps::Delta& LoggedOps::delta(const NodeId& origin, Seq seq) {
  auto k = std::pair{origin, seq};
  if (auto it = cache_.find(k); it != cache_.end()) return it->second;
  auto bytes = keys_.logged(origin, seq);
  if (!bytes) corrupt("an operation names " + where(origin, seq) + ", which the log lacks");
  std::string_view body, signature;
  if (!read_signed(*bytes, body, signature)) corrupt("unreadable log entry: " + where(origin, seq));
  if (cache_.size() >= 4096) cache_.clear();  // bounds a long refold pass
  Delta d{std::string(body), compute_delta_id(body, signature), {}, {}};
  // DeltaBody: hlc = 5 (varint), ops = 6 (repeated Operation).
  CodedInputStream in(reinterpret_cast<const std::uint8_t*>(d.body.data()), static_cast<int>(d.body.size()));
  while (std::uint32_t tag = in.ReadTag()) {
    auto number = WireFormatLite::GetTagFieldNumber(tag);
    auto type = WireFormatLite::GetTagWireType(tag);
    std::uint64_t hlc = 0;
    std::uint32_t size = 0;
    if (number == 5 && type == WireFormatLite::WIRETYPE_VARINT) {
      if (!in.ReadVarint64(&hlc)) corrupt("unreadable log entry: " + where(origin, seq));
      d.hlc = Hlc{hlc};
    } else if (number == 6 && type == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      if (!in.ReadVarint32(&size)) corrupt("unreadable log entry: " + where(origin, seq));
      d.ops.emplace_back(static_cast<std::uint32_t>(in.CurrentPosition()), size);
      if (!in.Skip(static_cast<int>(size))) corrupt("unreadable log entry: " + where(origin, seq));
    } else if (!WireFormatLite::SkipField(&in, tag)) {
      corrupt("unreadable log entry: " + where(origin, seq));
    }
  }
  if (!in.ConsumedEntireMessage()) corrupt("unreadable log entry: " + where(origin, seq));
  return cache_.emplace(k, std::move(d)).first->second;
}

PositionedOp LoggedOps::op(const StoredPosition& p) {
  const Delta& d = delta(p.origin, p.seq);
  if (p.index >= d.ops.size())
    corrupt("an operation names index " + std::to_string(p.index) + " of " + where(p.origin, p.seq) +
            ", which has fewer");
  PositionedOp out{p.origin, p.seq, d.hlc, p.index, d.id, {}};
  auto [offset, size] = d.ops[p.index];
  if (!out.op.ParseFromArray(d.body.data() + offset, static_cast<int>(size)))
    corrupt("unreadable operation " + std::to_string(p.index) + " of " + where(p.origin, p.seq));
  return out;
}

}  // namespace conect::storage
