#include "op_positions.h"

#include "codec.h"

namespace conect::storage {

std::vector<StoredPosition> stored_positions(const lmdb::Txn& txn, const Dbs& db, const RecordKey& key) {
  std::vector<StoredPosition> out;
  const std::string prefix = key.encode();
  auto c = txn.cursor(db.ops);
  for (bool ok = c.seek(prefix); ok && c.key().starts_with(prefix); ok = c.next()) {
    auto at = codec::decode_op_key(c.key());
    if (!at) corrupt("malformed operation key of record " + key.text());
    out.push_back({at->origin, at->seq, at->index});
  }
  return out;
}

const LoggedDeltas::Delta& LoggedDeltas::delta(const NodeId& origin, Seq seq) {
  auto k = std::pair{origin, seq};
  if (auto it = cache_.find(k); it != cache_.end()) return *it->second;
  auto bytes = txn_.get(db_.log, codec::log_key(origin, seq));
  if (!bytes)
    corrupt("an operation names delta " + std::to_string(seq.value) + " of " + origin.hex().substr(0, 16) +
            ", which the log lacks");
  auto d = std::make_unique<Delta>();
  if (!d->signed_delta.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())) ||
      !d->body.ParseFromString(d->signed_delta.body()))
    corrupt("unreadable log entry " + std::to_string(seq.value) + " of " + origin.hex().substr(0, 16));
  d->id = compute_delta_id(d->signed_delta.body(), d->signed_delta.signature());
  if (cache_.size() >= 256) cache_.clear();
  return *cache_.emplace(k, std::move(d)).first->second;
}

PositionedOp LoggedDeltas::op(const StoredPosition& p) {
  const Delta& d = delta(p.origin, p.seq);
  if (p.index >= static_cast<std::uint32_t>(d.body.ops_size()))
    corrupt("an operation names index " + std::to_string(p.index) + " of delta " + std::to_string(p.seq.value) +
            " of " + p.origin.hex().substr(0, 16) + ", which has fewer");
  return PositionedOp{p.origin, p.seq, Hlc{d.body.hlc()}, p.index, d.id, d.body.ops(static_cast<int>(p.index))};
}

}  // namespace conect::storage
