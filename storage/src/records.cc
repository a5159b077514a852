// Merged records: refolding the records a group touched, their index
// entries, placement availability, record counts and the incremental digest.
#include <algorithm>
#include <climits>
#include <deque>
#include <stdexcept>

#include "codec.h"
#include "conect/crdt/rules.h"
#include "fold_context.h"
#include "indexes.h"
#include "op_positions.h"
#include "store_impl.h"
#include "stored_state.h"

namespace conect::storage {
namespace {

// Index values are empty; a non-null pointer keeps memcpy well-defined.
constexpr std::string_view kEmpty("", 0);

bool is_frozen(const std::map<NodeId, Seq>& frozen, const NodeId& origin, Seq seq) {
  auto it = frozen.find(origin);
  return it != frozen.end() && seq >= it->second;
}

struct Totals {
  StateDigest digest;
  std::map<v1::RecordType, std::int64_t> counts;
};

void update_indexes(Writer& w, const std::vector<IndexEntry>& before, const std::vector<IndexEntry>& after) {
  for (const auto& e : before)
    if (!std::binary_search(after.begin(), after.end(), e)) del_entry(w, e);
  for (const auto& e : after)
    if (!std::binary_search(before.begin(), before.end(), e)) put_entry(w, e);
}

// Placements whose availability depends on this record's state.
void note_placements(GroupState& g, const RecordKey& key, const v1::RecordState* s) {
  if (key.type == v1::PLACEMENT) g.placements.insert(key);
  if (key.type == v1::RESERVATION && s && s->has_reservation())
    if (auto p = RecordKey::from_proto(v1::PLACEMENT, s->reservation().placement())) g.placements.insert(*p);
}

// The operations a refold folds, and the borrowing of this group's own from
// their deltas' bodies: swapped in here, swapped back on every exit (a
// failed transaction is retried with the same batches).
class RecordOps {
 public:
  RecordOps() = default;
  RecordOps(const RecordOps&) = delete;
  RecordOps& operator=(const RecordOps&) = delete;
  ~RecordOps() {
    // The borrowed operations are the last homes_.size() ones.
    std::size_t first = ops_.size() - homes_.size();
    for (std::size_t i = 0; i < homes_.size(); ++i) homes_[i]->Swap(&ops_[first + i].op);
  }
  void reserve(std::size_t n) { ops_.reserve(n); }
  void add(PositionedOp op) {
    if (!homes_.empty()) throw std::logic_error("RecordOps::add after borrow");
    ops_.push_back(std::move(op));
  }
  // After every add(), so the borrowed operations stay the last ones.
  void borrow(const PendingOp& p) {
    const VerifiedDelta& d = *p.delta;
    ops_.push_back(PositionedOp{d.origin, d.seq, d.hlc, p.index, d.id, {}});
    homes_.push_back(&p.op());
    ops_.back().op.Swap(homes_.back());
  }
  bool empty() const { return ops_.empty(); }
  std::vector<const PositionedOp*> refs() const {
    std::vector<const PositionedOp*> out;
    out.reserve(ops_.size());
    for (const auto& p : ops_) out.push_back(&p);
    return out;
  }

 private:
  std::vector<PositionedOp> ops_;
  std::vector<v1::Operation*> homes_;
};

// Every counting operation of the record: those stored before this group
// are read from their deltas in the log at the positions `ops` lists, this
// group's (`pending`, whose positions the scan skips) are borrowed.
void collect_ops(Writer& w, const GroupState& g, LoggedOps& logged, const RecordKey& key,
                 std::span<const PendingOp> pending, RecordOps& out) {
  std::vector<StoredPosition> mine;
  mine.reserve(pending.size());
  for (const PendingOp& p : pending) mine.push_back({p.delta->origin, p.delta->seq, p.index});
  std::sort(mine.begin(), mine.end());
  std::vector<StoredPosition> stored = stored_positions(w.txn(), w.db, key);
  out.reserve(stored.size());
  std::size_t seen = 0;
  for (const StoredPosition& at : stored) {
    if (seen < mine.size() && std::binary_search(mine.begin(), mine.end(), at)) {
      ++seen;
      continue;
    }
    if (is_frozen(g.frozen, at.origin, at.seq)) continue;
    out.add(logged.op(at));
  }
  if (seen != pending.size()) corrupt("operations of record " + key.text() + " missing from ops");
  for (const PendingOp& p : pending)
    if (!is_frozen(g.frozen, p.delta->origin, p.delta->seq)) out.borrow(p);
}

void refold(Writer& w, GroupState& g, Totals& t, const FoldContext& ctx, LoggedOps& logged, const RecordKey& key,
            std::span<const PendingOp> pending) {
  const std::string rk = w.record_key(key);
  std::optional<std::string> old_bytes;
  const lmdb::Dbi records = w.db.records(key.type);
  if (auto v = w.get(records, rk)) old_bytes.emplace(*v);
  RecordOps ops;
  if (old_bytes) {
    collect_ops(w, g, logged, key, pending, ops);
  } else {
    // A record without a state has no counting operation stored before this
    // group (any would have folded into one; frozen ones never count again):
    // a new record is folded from the group's own operations, unread.
    for (const PendingOp& p : pending)
      if (!is_frozen(g.frozen, p.delta->origin, p.delta->seq)) ops.borrow(p);
  }
  std::optional<v1::RecordState> state;
  std::string new_bytes;  // the whole state's, as the digest hashes them
  std::string new_kept;   // what `records` keeps of them (stored_state.h)
  if (!ops.empty()) {
    // Every operation collected is on `key`: stored under it in `ops`, or
    // routed to it by op_target() when this group stored it.
    state = fold_record(key, ops.refs(), ctx, OpTargets::known);
    new_bytes = serialize_state(*state);
    new_kept = stored_state(w, key, *state, new_bytes);
  }
  if (old_bytes ? (state && *old_bytes == new_kept) : !state) return;

  std::optional<v1::RecordState> old_state;
  const Keys& keys = w.keys();
  if (old_bytes) old_state = load_stored_state(keys, key, *old_bytes);
  if (old_bytes) t.digest.subtract(stored_state_hash(keys, key, *old_bytes));
  if (state) t.digest.add(record_hash(key, new_bytes));
  bool was_created = old_state && old_state->created();
  bool is_created = state && state->created();
  if (was_created != is_created) t.counts[key.type] += is_created ? 1 : -1;
  if (state)
    w.put(records, rk, new_kept);
  else
    w.del(records, rk);

  update_indexes(w, old_state ? index_entries(w, key, *old_state) : std::vector<IndexEntry>{},
                 state ? index_entries(w, key, *state) : std::vector<IndexEntry>{});
  note_placements(g, key, old_state ? &*old_state : nullptr);
  note_placements(g, key, state ? &*state : nullptr);
  // An erased blob leaves a tombstone (an empty value) so it is never taken back.
  if (state)
    for (const auto& commitment : state->erased())
      if (auto b = w.get(w.db.blobs, commitment); !b || !b->empty()) {
        // Plaintext was held: its bytes stay in freed pages until compacted.
        if (b) w.put(w.db.meta, meta::kCompactDue, kEmpty);
        w.put(w.db.blobs, commitment, kEmpty);
      }
  if (state && (key.type == v1::PLACEMENT || key.type == v1::RESERVATION)) g.refolded[key] = std::move(*state);
}

void refresh_availability(Writer& w, const GroupState& g, const RecordKey& placement) {
  const std::string pk = w.record_key(placement);
  std::deque<v1::RecordState> parsed;  // states read back from `records`
  auto state_of = [&](const RecordKey& key, std::string_view rk) -> const v1::RecordState* {
    if (auto it = g.refolded.find(key); it != g.refolded.end()) return &it->second;
    auto v = w.get(w.db.records(key.type), rk);
    if (!v) return nullptr;
    return &parsed.emplace_back(load_stored_state(w.keys(), key, *v));
  };
  const v1::RecordState* ps = state_of(placement, pk);
  if (!ps) {
    w.del(w.db.availability, pk);
    w.del(w.db.placement_available, pk);
    return;
  }
  std::vector<const v1::RecordState*> reservations;
  {
    // idx_reservation_placement: placement key -> its reservations' keys.
    auto c = w.cursor(w.db.reservation_placement);
    for (bool ok = c.seek(pk) && c.key() == pk; ok; ok = c.next_item()) {
      std::string_view rk = c.value();
      const v1::RecordState* rs = state_of(w.keys().record_at(rk), rk);
      if (!rs) corrupt("reservation index names a missing record");
      reservations.push_back(rs);
    }
  }
  auto stored = encode_availability(*ps, placement_availability(ps->placement(), reservations));
  std::string bytes = stored.SerializeAsString();
  auto old = w.get(w.db.availability, pk);
  if (!old || *old != bytes) w.put(w.db.availability, pk, bytes);
  bool listed = w.get(w.db.placement_available, pk).has_value();
  if (stored.has_free() && !listed) w.put(w.db.placement_available, pk, kEmpty);
  if (!stored.has_free() && listed) w.del(w.db.placement_available, pk);
}

Hash256 read_digest(const lmdb::Txn& txn, const Dbs& db) {
  auto v = txn.get(db.meta, meta::kDigest);
  if (!v) return Hash256{};
  auto h = Hash256::from_raw(*v);
  if (!h) corrupt("unreadable digest");
  return *h;
}

}  // namespace

std::string meta::count_key(v1::RecordType type) {
  std::string k = "count/";
  k.push_back(static_cast<char>(type));
  return k;
}

void refold_touched(Writer& w, GroupState& g) {
  Totals t;
  t.digest = StateDigest::from(read_digest(w.txn(), w.db));
  StoreFoldContext ctx(w.txn(), w.db);
  LoggedOps logged(w.txn(), w.db);
  g.touched.for_each([&](const RecordKey& key, std::span<const PendingOp> pending) {
    refold(w, g, t, ctx.context(), logged, key, pending);
  });
  for (const auto& p : g.placements) refresh_availability(w, g, p);
  w.put(w.db.meta, meta::kDigest, t.digest.value().raw());
  for (const auto& [type, delta] : t.counts) {
    if (delta == 0) continue;
    std::string k = meta::count_key(type);
    auto v = w.get(w.db.meta, k);
    std::int64_t n = v && v->size() == 8 ? static_cast<std::int64_t>(codec::get_u64(*v)) : 0;
    w.put(w.db.meta, k, codec::u64_bytes(static_cast<std::uint64_t>(n + delta)));
  }
  g.touched.clear();
  g.placements.clear();
  g.refolded.clear();
}

void refold_for_rules(Writer& w) {
  auto v = w.get(w.db.meta, meta::kFoldRules);
  if (v && v->size() == 4 && codec::get_u32(*v) == kFoldRulesVersion) return;
  // Operations this version reads as membership ones may have been stored
  // as unknown kinds by an older version: index them before refolding.
  rebuild_membership_index(w);
  GroupState g = begin_group(w);
  for (v1::RecordType type : kRecordTypes) {
    auto c = w.cursor(w.db.records(type));
    const Keys& keys = w.keys();
    for (bool ok = c.first(); ok; ok = c.next()) {
      RecordKey key = keys.record_at(c.key());
      if (key.type != type) corrupt("malformed record key");
      g.touched.touch(key);
    }
  }
  if (!g.touched.empty()) refold_touched(w, g);
  std::string rules;
  codec::put_u32(rules, kFoldRulesVersion);
  w.put(w.db.meta, meta::kFoldRules, rules);
}

std::map<NodeId, Seq> decode_frozen(std::string_view v) {
  std::map<NodeId, Seq> out;
  if (v.size() % 40 != 0) corrupt("unreadable frozen-origin list");
  for (std::size_t at = 0; at < v.size(); at += 40)
    out[*NodeId::from_raw(v.substr(at, 32))] = Seq{codec::get_u64(v, at + 32)};
  return out;
}

std::string encode_frozen(const std::map<NodeId, Seq>& frozen) {
  std::string v;
  for (const auto& [origin, seq] : frozen) {
    v += origin.raw();
    codec::put_u64(v, seq.value);
  }
  return v;
}

Result<Hash256> recompute_digest(const lmdb::Txn& txn, const Dbs& db) {
  std::map<NodeId, Seq> frozen;
  if (auto v = txn.get(db.meta, meta::kFrozen)) frozen = decode_frozen(*v);
  std::map<RecordKey, std::vector<PositionedOp>> ops;
  auto c = txn.cursor(db.log);
  const Keys keys(txn, db);
  for (bool ok = c.first(); ok; ok = c.next()) {
    auto [origin, seq] = keys.log_position(c.key());
    if (is_frozen(frozen, origin, seq)) continue;
    v1::SignedDelta sd;
    v1::DeltaBody body;
    if (!sd.ParseFromString(keys.signed_delta(c.key(), c.value())) || !body.ParseFromString(sd.body()))
      corrupt("unreadable log entry");
    DeltaId id = compute_delta_id(sd.body(), sd.signature());
    for (int i = 0; i < body.ops_size(); ++i) {
      auto target = op_target(body.ops(i));
      if (!target.ok()) continue;
      ops[*target].push_back(
          PositionedOp{origin, seq, Hlc{body.hlc()}, static_cast<std::uint32_t>(i), id, body.ops(i)});
    }
  }
  StateDigest d;
  StoreFoldContext ctx(txn, db);
  for (auto& [key, list] : ops)
    d.add(record_hash(key, serialize_state(fold_record(key, std::move(list), ctx.context()))));
  return d.value();
}

}  // namespace conect::storage
