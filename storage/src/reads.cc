// Read-only entry points and the small roster / peer / blob writes. Every
// read runs in its own read transaction and returns copies.
#include <algorithm>

#include "codec.h"
#include "conect/crdt/audience.h"
#include "fold_context.h"
#include "indexes.h"
#include "op_positions.h"
#include "store_impl.h"
#include "stored_state.h"

namespace conect::storage {
namespace {

template <class Msg>
Msg parse(std::string_view bytes, const char* what) {
  Msg m;
  if (!m.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) corrupt(std::string("unreadable ") + what);
  return m;
}

}  // namespace

Result<std::optional<v1::RecordState>> Store::record(const RecordKey& key) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::optional<v1::RecordState>> {
    const Keys keys(txn, impl_->db);
    auto rk = keys.record(key);
    auto v = rk ? txn.get(impl_->db.records(key.type), *rk) : std::nullopt;
    if (!v) return std::optional<v1::RecordState>();
    return std::optional<v1::RecordState>(load_stored_state(keys, key, *v));
  });
}

Result<RecordHistory> Store::history(const RecordKey& key) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<RecordHistory> {
    RecordHistory h;
    LoggedOps logged(txn, impl_->db);
    const Keys keys(txn, impl_->db);
    std::vector<StoredPosition> positions = stored_positions(txn, impl_->db, key);
    std::sort(positions.begin(), positions.end());  // by delta
    h.ops.reserve(positions.size());
    for (const StoredPosition& p : positions) {
      h.ops.push_back(logged.op(p));
      if (!h.deltas.empty() && h.deltas.back().origin == p.origin && h.deltas.back().seq == p.seq) continue;
      auto v = keys.logged(p.origin, p.seq);
      if (!v) corrupt("an operation names a delta missing from the log");
      h.deltas.push_back({p.origin, p.seq, h.ops.back().delta_id, parse<v1::SignedDelta>(*v, "log entry")});
    }
    // The fold's total order, as the operations are listed.
    std::sort(h.ops.begin(), h.ops.end());
    return h;
  });
}

Result<std::vector<std::string>> Store::deltas_from(const NodeId& origin, Seq from, std::size_t max_count,
                                                    std::size_t max_bytes) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    std::size_t bytes = 0;
    const Keys keys(txn, impl_->db);
    auto prefix = keys.code(origin);
    if (!prefix) return out;  // nothing stored of it
    auto c = txn.cursor(impl_->db.log);
    for (bool ok = c.seek(codec::log_key(*prefix, from)); ok && c.key().starts_with(*prefix); ok = c.next()) {
      if (out.size() >= max_count) break;
      std::string delta = keys.signed_delta(c.key(), c.value());
      if (!out.empty() && bytes + delta.size() > max_bytes) break;
      bytes += delta.size();
      out.push_back(std::move(delta));
    }
    return out;
  });
}

Result<std::optional<HeadInfo>> Store::head(const NodeId& origin) const {
  return impl_->read(
      [&](lmdb::ReadTxn& txn) -> Result<std::optional<HeadInfo>> { return read_head(txn, impl_->db, origin); });
}

Result<VersionVector> Store::version_vector() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<VersionVector> {
    VersionVector vv;
    auto c = txn.cursor(impl_->db.heads);
    for (bool ok = c.first(); ok; ok = c.next()) {
      auto origin = NodeId::from_raw(c.key());
      auto h = codec::decode_head(c.value());
      if (!origin || !h) corrupt("unreadable head");
      vv.emplace(*origin, *h);
    }
    return vv;
  });
}

Result<std::uint64_t> Store::unknown_operations() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::uint64_t> {
    auto v = txn.get(impl_->db.meta, meta::kUnknownOps);
    return v && v->size() == 8 ? codec::get_u64(*v) : 0;
  });
}

Result<Hash256> Store::digest() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<Hash256> {
    auto v = txn.get(impl_->db.meta, meta::kDigest);
    if (!v) return Hash256{};
    auto h = Hash256::from_raw(*v);
    if (!h) corrupt("unreadable digest");
    return *h;
  });
}

Result<Hash256> Store::digest_recomputed() const {
  return impl_->read([&](lmdb::ReadTxn& txn) { return recompute_digest(txn, impl_->db); });
}

Result<Page<PlacementView>> Store::placements(const PlacementFilter& filter) const {
  return impl_->read([&](lmdb::ReadTxn& txn) { return query_placements(txn, impl_->db, filter); });
}

Result<Page<RecordView>> Store::mobilities(const MobilityFilter& filter) const {
  return impl_->read([&](lmdb::ReadTxn& txn) { return query_mobilities(txn, impl_->db, filter); });
}

Result<std::vector<RecordView>> Store::reservations_of(const RecordKey& placement) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::vector<RecordView>> {
    std::vector<RecordView> out;
    const Keys keys(txn, impl_->db);
    const auto pk = keys.record(placement);
    if (!pk) return out;
    auto c = txn.cursor(impl_->db.reservation_placement);  // placement key -> reservation keys
    for (bool ok = c.seek(*pk) && c.key() == *pk; ok; ok = c.next_item()) {
      auto rk = c.value();
      RecordKey key = keys.record_at(rk);
      auto v = txn.get(impl_->db.records(key.type), rk);
      if (!v) corrupt("reservation index names a missing record");
      out.push_back({key, load_stored_state(keys, key, *v)});
    }
    return out;
  });
}

Result<std::vector<WindowAvailability>> Store::availability(const RecordKey& placement) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::vector<WindowAvailability>> {
    auto pk = Keys(txn, impl_->db).record(placement);
    auto v = pk ? txn.get(impl_->db.availability, *pk) : std::nullopt;
    if (!v) return Error(Errc::not_found, "no placement " + placement.text());
    return decode_availability(parse<v1::StoredAvailability>(*v, "availability"));
  });
}

Result<Page<RecordView>> Store::list(v1::RecordType type, const std::string& cursor, std::size_t limit,
                                     const RecordPredicate& keep) const {
  return impl_->read([&](lmdb::ReadTxn& txn) { return query_list(txn, impl_->db, type, cursor, limit, keep); });
}

Result<Page<RecordView>> Store::list_owned(v1::RecordType type, const NodeId& owner, const std::string& cursor,
                                           std::size_t limit) const {
  return impl_->read([&](lmdb::ReadTxn& txn) { return query_list(txn, impl_->db, type, cursor, limit, {}, &owner); });
}

Result<std::map<v1::RecordType, std::uint64_t>> Store::counts() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::map<v1::RecordType, std::uint64_t>> {
    std::map<v1::RecordType, std::uint64_t> out;
    for (auto t : {v1::ORGANISATION, v1::PLACEMENT, v1::RESERVATION, v1::MOBILITY, v1::CONTACT}) {
      auto v = txn.get(impl_->db.meta, meta::count_key(t));
      out[t] = v && v->size() == 8 ? codec::get_u64(*v) : 0;
    }
    return out;
  });
}

// ----------------------------------------------------------- roster

// The merge reads each operation's origin's standing from the roster
// (conect/crdt/authority.h): when a card change alters a member's standing,
// the records its stored operations touch are refolded in the same
// transaction, so every record keeps equal to the fold under today's roster.
void Store::Impl::roster_changed(lmdb::WriteTxn& txn, const NodeId& id, const Standing& before) {
  if (StoreRoster(txn, db).standing(id, Seq{1}) == before) return;
  Writer w(txn, db, options);
  GroupState g = begin_group(w);
  touch_stored_range(w, g, id, Seq{1}, Seq{UINT64_MAX});
  if (!g.touched.empty()) refold_touched(w, g);
}

Status Store::put_member(const NodeId& id, const v1::MemberCard& card) {
  // Only the signed body and its signature: nothing unsigned reaches the roster or audit exports.
  v1::MemberCard bare;
  bare.set_body(card.body());
  bare.set_signature(card.signature());
  std::string bytes = bare.SerializeAsString();
  return impl_->write([&](lmdb::WriteTxn& txn) {
    Standing before = StoreRoster(txn, impl_->db).standing(id, Seq{1});
    txn.put(impl_->db.members, id.raw(), bytes);
    impl_->roster_changed(txn, id, before);
  });
}

Result<std::optional<v1::MemberCard>> Store::member(const NodeId& id) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::optional<v1::MemberCard>> {
    auto v = txn.get(impl_->db.members, id.raw());
    if (!v) return std::optional<v1::MemberCard>();
    return std::optional<v1::MemberCard>(parse<v1::MemberCard>(*v, "member card"));
  });
}

Result<std::vector<std::pair<NodeId, v1::MemberCard>>> Store::members() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::vector<std::pair<NodeId, v1::MemberCard>>> {
    std::vector<std::pair<NodeId, v1::MemberCard>> out;
    auto c = txn.cursor(impl_->db.members);
    for (bool ok = c.first(); ok; ok = c.next()) {
      auto id = NodeId::from_raw(c.key());
      if (!id) corrupt("malformed member key");
      out.emplace_back(*id, parse<v1::MemberCard>(c.value(), "member card"));
    }
    return out;
  });
}

Result<std::shared_ptr<const ReplicatedRoster>> Store::roster() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::shared_ptr<const ReplicatedRoster>> {
    return stored_roster(txn, impl_->db);
  });
}

Result<std::map<NodeId, v1::MemberRole>> Store::member_roles() const {
  auto replicated = roster();
  if (!replicated.ok()) return replicated.error();
  auto overrides = members();
  if (!overrides.ok()) return overrides.error();
  std::map<NodeId, v1::MemberRole> out;
  for (const auto& [id, m] : (*replicated)->members())
    if (m.admitted && !m.cut) out[id] = m.role;
  for (const auto& [id, role] : roles_of(*overrides)) out[id] = role;
  return out;
}

Result<std::vector<v1::DeltaRef>> Store::membership_deps() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::vector<v1::DeltaRef>> {
    std::map<NodeId, Seq> newest;  // origin -> seq (ascending scan keeps the last)
    auto c = txn.cursor(impl_->db.membership);
    for (bool ok = c.first(); ok; ok = c.next())
      if (c.key().size() == codec::kPositionKeySize)
        newest[*NodeId::from_raw(c.key().substr(0, 32))] = Seq{codec::get_u64(c.key(), 32)};
    std::vector<v1::DeltaRef> out;
    const Keys keys(txn, impl_->db);
    for (const auto& [origin, seq] : newest) {
      auto bytes = keys.logged(origin, seq);
      if (!bytes) corrupt("membership index names a missing delta");
      auto sd = parse<v1::SignedDelta>(*bytes, "log entry");
      v1::DeltaRef ref;
      ref.set_origin(origin.raw());
      ref.set_seq(seq.value);
      ref.set_id(compute_delta_id(sd.body(), sd.signature()).raw());
      out.push_back(std::move(ref));
    }
    return out;
  });
}

Status Store::remove_member(const NodeId& id) {
  bool found = false;
  Status s = impl_->write([&](lmdb::WriteTxn& txn) {
    Standing before = StoreRoster(txn, impl_->db).standing(id, Seq{1});
    found = txn.del(impl_->db.members, id.raw());
    if (found) impl_->roster_changed(txn, id, before);
  });
  if (s.ok() && !found) return Error(Errc::not_found, "no member " + id.hex() + " on the roster");
  return s;
}

Status Store::set_bootstrap(const std::vector<NodeId>& ids) {
  std::string v;
  for (const auto& id : ids) v += id.raw();
  return impl_->write([&](lmdb::WriteTxn& txn) { txn.put(impl_->db.meta, meta::kBootstrap, v); });
}

Result<std::vector<NodeId>> Store::bootstrap() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::vector<NodeId>> {
    std::vector<NodeId> out;
    if (auto v = txn.get(impl_->db.meta, meta::kBootstrap))
      for (std::size_t at = 0; at + 32 <= v->size(); at += 32) out.push_back(*NodeId::from_raw(v->substr(at, 32)));
    return out;
  });
}

Status Store::set_bootstrap_keys(const std::map<NodeId, NodeId>& keys) {
  std::string v;
  for (const auto& [member, key] : keys) v += member.raw() + key.raw();
  return impl_->write([&](lmdb::WriteTxn& txn) { txn.put(impl_->db.meta, meta::kBootstrapKeys, v); });
}

Result<std::map<NodeId, NodeId>> Store::bootstrap_keys() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::map<NodeId, NodeId>> {
    std::map<NodeId, NodeId> out;
    if (auto v = txn.get(impl_->db.meta, meta::kBootstrapKeys))
      for (std::size_t at = 0; at + 64 <= v->size(); at += 64)
        out.emplace(*NodeId::from_raw(v->substr(at, 32)), *NodeId::from_raw(v->substr(at + 32, 32)));
    return out;
  });
}

Result<std::vector<std::string>> Store::rotation_deltas(const NodeId& origin, std::size_t max) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::vector<std::string>> {
    std::vector<std::string> out;
    const std::string prefix = origin.raw();
    const Keys keys(txn, impl_->db);
    auto c = txn.cursor(impl_->db.membership);  // origin || seq of each membership delta
    for (bool ok = c.seek(prefix); ok && c.key().starts_with(prefix); ok = c.next()) {
      auto signed_bytes = c.key().size() == codec::kPositionKeySize
                              ? keys.logged(origin, Seq{codec::get_u64(c.key(), 32)})
                              : std::nullopt;
      v1::SignedDelta sd;
      v1::DeltaBody body;
      if (!signed_bytes || !sd.ParseFromArray(signed_bytes->data(), static_cast<int>(signed_bytes->size())) ||
          !body.ParseFromString(sd.body()))
        corrupt("a membership delta missing from the log or unreadable");
      if (std::any_of(body.ops().begin(), body.ops().end(), [](const v1::Operation& op) { return op.has_rotate(); }))
        out.emplace_back(*signed_bytes);
    }
    if (out.size() > max) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(max));
    return out;
  });
}

// ---------------------------------------------------------- invites

Status Store::put_invite(const std::string& invite_id, const std::string& stored) {
  if (invite_id.empty() || invite_id.size() > 64) return Error(Errc::invalid_argument, "an invite id is 1-64 bytes");
  return impl_->write([&](lmdb::WriteTxn& txn) { txn.put(impl_->db.invites, invite_id, stored); });
}

Result<std::optional<std::string>> Store::invite(const std::string& invite_id) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::optional<std::string>> {
    if (invite_id.empty() || invite_id.size() > 64) return std::optional<std::string>();
    auto v = txn.get(impl_->db.invites, invite_id);
    if (!v) return std::optional<std::string>();
    return std::optional<std::string>(std::string(*v));
  });
}

Result<std::vector<std::pair<std::string, std::string>>> Store::invites() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::vector<std::pair<std::string, std::string>>> {
    std::vector<std::pair<std::string, std::string>> out;
    auto c = txn.cursor(impl_->db.invites);
    for (bool ok = c.first(); ok; ok = c.next()) out.emplace_back(std::string(c.key()), std::string(c.value()));
    return out;
  });
}

// ------------------------------------------------------------ peers

Status Store::put_peer(const std::string& address, const std::string& state) {
  if (address.empty() || address.size() > 400)
    return Error(Errc::invalid_argument, "a peer address must be 1 to 400 bytes");
  return impl_->write([&](lmdb::WriteTxn& txn) { txn.put(impl_->db.peers, address, state); });
}

Result<std::optional<std::string>> Store::peer(const std::string& address) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::optional<std::string>> {
    if (address.empty()) return std::optional<std::string>();
    auto v = txn.get(impl_->db.peers, address);
    if (!v) return std::optional<std::string>();
    return std::optional<std::string>(std::string(*v));
  });
}

Result<std::vector<std::pair<std::string, std::string>>> Store::peers() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::vector<std::pair<std::string, std::string>>> {
    std::vector<std::pair<std::string, std::string>> out;
    auto c = txn.cursor(impl_->db.peers);
    for (bool ok = c.first(); ok; ok = c.next()) out.emplace_back(c.key(), c.value());
    return out;
  });
}

Status Store::remove_peer(const std::string& address) {
  bool found = false;
  Status s = impl_->write([&](lmdb::WriteTxn& txn) { found = !address.empty() && txn.del(impl_->db.peers, address); });
  if (s.ok() && !found) return Error(Errc::not_found, "no peer " + address);
  return s;
}

// ------------------------------------------------------------ seal keys

Result<std::map<NodeId, SealPublicKey>> Store::seal_keys() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::map<NodeId, SealPublicKey>> {
    std::map<NodeId, SealPublicKey> out;
    auto c = txn.cursor(impl_->db.meta);
    for (bool ok = c.seek(meta::kSealKeyPrefix); ok && c.key().starts_with(meta::kSealKeyPrefix); ok = c.next()) {
      auto origin = NodeId::from_raw(c.key().substr(meta::kSealKeyPrefix.size()));
      auto key = SealPublicKey::from_raw(c.value());
      if (origin && key) out.emplace(*origin, *key);
    }
    return out;
  });
}

Result<std::optional<SealPublicKey>> Store::seal_key(const NodeId& origin) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::optional<SealPublicKey>> {
    auto v = txn.get(impl_->db.meta, std::string(meta::kSealKeyPrefix) + origin.raw());
    if (!v) return std::optional<SealPublicKey>();
    return SealPublicKey::from_raw(*v);
  });
}

Result<bool> Store::envelope_acknowledged(const Hash256& commitment, const NodeId& member) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<bool> {
    return txn.get(impl_->db.meta, std::string(meta::kEnvelopeAckPrefix) + commitment.raw() + member.raw())
        .has_value();
  });
}

// ------------------------------------------------------------ blobs

Status Store::put_blob(const Hash256& commitment, const std::string& bytes) { return put_blobs({{commitment, bytes}}); }

Status Store::put_blobs(const std::vector<std::pair<Hash256, std::string>>& blobs) {
  for (const auto& [commitment, bytes] : blobs)
    if (bytes.empty()) return Error(Errc::invalid_argument, "a blob cannot be empty");
  std::optional<Hash256> erased;
  Status s = impl_->write([&](lmdb::WriteTxn& txn) {
    for (const auto& [commitment, bytes] : blobs)
      if (auto old = txn.get(impl_->db.blobs, commitment.raw()); old && old->empty()) {
        erased = commitment;
        return;  // all or none
      }
    for (const auto& [commitment, bytes] : blobs) txn.put(impl_->db.blobs, commitment.raw(), bytes);
  });
  if (s.ok() && erased)
    return Error(Errc::not_authorised, "the blob " + erased->hex().substr(0, 16) + " was erased by its owner");
  return s;
}

Result<std::optional<std::string>> Store::blob(const Hash256& commitment) const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::optional<std::string>> {
    auto v = txn.get(impl_->db.blobs, commitment.raw());
    if (!v || v->empty()) return std::optional<std::string>();  // absent or erased
    return std::optional<std::string>(std::string(*v));
  });
}

Status Store::erase_blob(const Hash256& commitment) {
  return impl_->write([&](lmdb::WriteTxn& txn) {
    // Plaintext was held: its bytes stay in freed pages until compacted.
    if (auto old = txn.get(impl_->db.blobs, commitment.raw()); old && !old->empty())
      txn.put(impl_->db.meta, meta::kCompactDue, std::string_view("", 0));
    txn.put(impl_->db.blobs, commitment.raw(), std::string_view("", 0));
  });
}

Result<std::vector<v1::StoredEvidence>> Store::evidence() const {
  return impl_->read([&](lmdb::ReadTxn& txn) -> Result<std::vector<v1::StoredEvidence>> {
    std::vector<v1::StoredEvidence> out;
    auto c = txn.cursor(impl_->db.evidence);
    for (bool ok = c.first(); ok; ok = c.next()) out.push_back(parse<v1::StoredEvidence>(c.value(), "evidence"));
    return out;
  });
}

}  // namespace conect::storage
