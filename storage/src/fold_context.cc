#include "fold_context.h"

#include "codec.h"

namespace conect::storage {

Standing card_standing(std::string_view card_bytes) {
  v1::MemberCard card;
  v1::MemberCardBody body;
  if (!card.ParseFromArray(card_bytes.data(), static_cast<int>(card_bytes.size())) ||
      !body.ParseFromString(card.body()))
    return {};
  return Standing{body.role(), Errc::ok, {}};
}

Standing StoreRoster::standing(const NodeId& origin, Seq) const {
  auto it = cache_.find(origin);
  if (it != cache_.end()) return it->second;
  auto v = txn_.get(db_.members, origin.raw());
  Standing s = v ? card_standing(*v) : Standing{};
  cache_.emplace(origin, s);
  return s;
}

const v1::Operation* StoreChains::operation(const NodeId& origin, Seq seq, std::uint32_t index) const {
  auto key = std::pair{origin, seq};
  auto it = cache_.find(key);
  if (it == cache_.end()) {
    auto bytes = txn_.get(db_.log, codec::log_key(origin, seq));
    if (!bytes) return nullptr;
    v1::SignedDelta sd;
    auto body = std::make_unique<v1::DeltaBody>();
    if (!sd.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())) || !body->ParseFromString(sd.body()))
      return nullptr;
    if (cache_.size() >= 256) cache_.clear();
    it = cache_.emplace(key, std::move(body)).first;
  }
  const v1::DeltaBody& body = *it->second;
  return index < static_cast<std::uint32_t>(body.ops_size()) ? &body.ops(static_cast<int>(index)) : nullptr;
}

}  // namespace conect::storage
