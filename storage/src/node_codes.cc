#include "node_codes.h"

#include <mutex>

#include "codec.h"
#include "store_impl.h"

namespace conect::storage {
namespace {

constexpr char kByCode = 'c';
constexpr char kById = 'i';
constexpr unsigned char kEscape = 0xff;

std::string by_code(std::string_view code) { return std::string(1, kByCode).append(code); }
std::string by_id(const NodeId& id) { return std::string(1, kById) + id.raw(); }

}  // namespace

void NodeCodes::remember(const NodeId& id, std::string_view code) {
  codes_.emplace(id, std::string(code));
  ids_.emplace(std::string(code), id);
}

void NodeCodes::load(const lmdb::Txn& txn) {
  std::unique_lock lock(mu_);
  auto c = txn.cursor(db_);
  for (bool ok = c.seek(std::string(1, kByCode)); ok && c.key().size() == 1 + codec::kNodeCode && c.key()[0] == kByCode;
       ok = c.next())
    if (auto id = NodeId::from_raw(c.value())) remember(*id, c.key().substr(1));
}

std::optional<std::string> NodeCodes::find(const lmdb::Txn& txn, const NodeId& id) const {
  {
    std::shared_lock lock(mu_);
    if (auto it = codes_.find(id); it != codes_.end()) return it->second;
  }
  auto v = txn.get(db_, by_id(id));
  if (!v) return std::nullopt;
  if (v->size() != codec::kNodeCode) corrupt("a node code of the wrong size");
  return std::string(*v);
}

std::optional<NodeId> NodeCodes::id(const lmdb::Txn& txn, std::string_view code) const {
  {
    std::shared_lock lock(mu_);
    if (auto it = ids_.find(code); it != ids_.end()) return it->second;
  }
  auto v = txn.get(db_, by_code(code));
  if (!v) return std::nullopt;
  auto id = NodeId::from_raw(*v);
  if (!id) corrupt("a node code names an id of the wrong size");
  return id;
}

std::string NodeCodes::assign(lmdb::WriteTxn& txn, const NodeId& id, Given& given) {
  if (auto code = find(txn, id)) return *code;
  std::string code = id.raw().substr(0, codec::kNodeCode);
  if (static_cast<unsigned char>(code[0]) == kEscape || txn.get(db_, by_code(code))) {
    // The next escaped code: one past the last given (they sort last among
    // the 'c' keys, just before the first 'i' key).
    std::uint64_t counter = 0;
    auto c = txn.cursor(db_);
    bool ok = c.seek(std::string(1, kByCode + 1)) ? c.prev() : c.last();
    if (ok && c.key().size() == 1 + codec::kNodeCode && c.key()[0] == kByCode &&
        static_cast<unsigned char>(c.key()[1]) == kEscape)
      for (std::size_t i = 2; i < c.key().size(); ++i)
        counter = (counter << 8) | static_cast<unsigned char>(c.key()[i]);
    ++counter;
    if (counter >> 40) corrupt("no node code left");
    code.assign(1, static_cast<char>(kEscape));
    for (int shift = 32; shift >= 0; shift -= 8) code.push_back(static_cast<char>((counter >> shift) & 0xff));
  }
  txn.put(db_, by_code(code), id.raw());
  txn.put(db_, by_id(id), code);
  given.emplace_back(id, code);
  return code;
}

std::optional<std::string> Keys::record(const RecordKey& key) const {
  auto owner = code(key.owner);
  if (!owner) return std::nullopt;
  return codec::record_key(key.type, *owner, key.serial);
}

std::optional<std::string> Keys::log(const NodeId& origin, Seq seq) const {
  auto c = code(origin);
  if (!c) return std::nullopt;
  return codec::log_key(*c, seq);
}

const std::optional<FederationId>& Keys::federation() const {
  if (!federation_) {
    auto v = txn_.get(db_.meta, meta::kFederation);
    federation_.emplace(v ? FederationId::from_raw(*v) : std::nullopt);
  }
  return *federation_;
}

std::string Keys::whole(std::string_view value, const NodeId& origin, Seq seq) const {
  auto bytes = codec::signed_delta_of(value, federation(), origin, seq);
  if (!bytes) corrupt("a log entry without its federation in a store that has none");
  return std::move(*bytes);
}

std::optional<std::string> Keys::logged(const NodeId& origin, Seq seq) const {
  auto k = log(origin, seq);
  auto v = k ? txn_.get(db_.log, *k) : std::nullopt;
  if (!v) return std::nullopt;
  return whole(*v, origin, seq);
}

std::string Keys::signed_delta(std::string_view key, std::string_view value) const {
  auto [origin, seq] = log_position(key);
  return whole(value, origin, seq);
}

NodeId Keys::id(std::string_view code) const {
  auto id = codes_.id(txn_, code);
  if (!id) corrupt("a key names node code " + to_hex(code) + ", which node_codes lacks");
  return *id;
}

RecordKey Keys::record_at(std::string_view key) const {
  if (key.size() != codec::kRecordKeySize) corrupt("a record key of " + std::to_string(key.size()) + " bytes");
  RecordKey k;
  k.type = static_cast<v1::RecordType>(static_cast<unsigned char>(key[0]));
  k.owner = id(key.substr(1, codec::kNodeCode));
  k.serial = codec::get_u64(key, 1 + codec::kNodeCode);
  return k;
}

std::pair<NodeId, Seq> Keys::log_position(std::string_view key) const {
  if (key.size() != codec::kLogKeySize) corrupt("a log key of " + std::to_string(key.size()) + " bytes");
  return {id(key.substr(0, codec::kNodeCode)), Seq{codec::get_u64(key, codec::kNodeCode)}};
}

void NodeCodes::publish(const Given& given) {
  if (given.empty()) return;
  std::unique_lock lock(mu_);
  for (const auto& [id, code] : given) remember(id, code);
}

}  // namespace conect::storage
