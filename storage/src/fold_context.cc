#include "fold_context.h"

#include <deque>
#include <mutex>

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

namespace {

// The roster's cache: a few recent contents (a process has one store, tests a
// handful).
struct RosterCache {
  std::mutex mu;
  std::deque<std::pair<std::string, std::shared_ptr<const ReplicatedRoster>>> entries;
};
RosterCache& roster_cache() {
  static RosterCache cache;
  return cache;
}

std::shared_ptr<const ReplicatedRoster> derive_stored(const lmdb::Txn& txn, const Dbs& db,
                                                      const std::map<NodeId, Seq>& frozen) {
  FederationId federation{};
  if (auto v = txn.get(db.meta, meta::kFederation))
    if (auto f = FederationId::from_raw(*v)) federation = *f;
  std::vector<MembershipDelta> deltas;
  const Keys keys(txn, db);
  auto c = txn.cursor(db.membership);
  for (bool ok = c.first(); ok; ok = c.next()) {
    if (c.key().size() != 40) continue;
    NodeId origin = *NodeId::from_raw(c.key().substr(0, 32));
    Seq seq{codec::get_u64(c.key(), 32)};
    if (auto f = frozen.find(origin); f != frozen.end() && seq >= f->second) continue;
    auto bytes = keys.logged(origin, seq);
    v1::SignedDelta sd;
    v1::DeltaBody body;
    if (!bytes || !sd.ParseFromArray(bytes->data(), static_cast<int>(bytes->size())) ||
        !body.ParseFromString(sd.body()))
      throw lmdb::Failure{Error(Errc::storage_error,
                                "the store is inconsistent (membership index names a "
                                "missing delta); stop the node and restore from a backup")};
    MembershipDelta m{
        origin, seq, compute_delta_id(sd.body(), sd.signature()), {body.deps().begin(), body.deps().end()}, {}};
    for (int i = 0; i < body.ops_size(); ++i)
      if (is_membership_op(body.ops(i))) m.ops.emplace_back(static_cast<std::uint32_t>(i), body.ops(i));
    deltas.push_back(std::move(m));
  }
  return std::make_shared<const ReplicatedRoster>(ReplicatedRoster::derive(federation, deltas));
}

}  // namespace

std::shared_ptr<const ReplicatedRoster> stored_roster(const lmdb::Txn& txn, const Dbs& db,
                                                      const std::map<NodeId, Seq>& frozen) {
  std::string key;
  if (auto v = txn.get(db.meta, meta::kMembershipTag)) key = std::string(*v);
  if (key.empty()) {
    static const auto empty = std::make_shared<const ReplicatedRoster>();
    return empty;
  }
  if (auto v = txn.get(db.meta, meta::kFederation)) key += std::string(*v);
  key += encode_frozen(frozen);
  RosterCache& cache = roster_cache();
  {
    std::lock_guard lock(cache.mu);
    for (const auto& [k, r] : cache.entries)
      if (k == key) return r;
  }
  auto roster = derive_stored(txn, db, frozen);
  std::lock_guard lock(cache.mu);
  cache.entries.emplace_front(std::move(key), roster);
  if (cache.entries.size() > 8) cache.entries.pop_back();
  return roster;
}

std::shared_ptr<const ReplicatedRoster> stored_roster(const lmdb::Txn& txn, const Dbs& db) {
  std::map<NodeId, Seq> frozen;
  if (auto v = txn.get(db.meta, meta::kFrozen)) frozen = decode_frozen(*v);
  return stored_roster(txn, db, frozen);
}

const ReplicatedRoster& StoreRoster::replicated() const {
  if (!replicated_) replicated_ = stored_roster(txn_, db_);
  return *replicated_;
}

Standing StoreRoster::standing(const NodeId& origin, Seq seq) const {
  if (replicated().admitted(origin)) return replicated().standing(origin, seq);
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
    auto bytes = keys_.logged(origin, seq);
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
