// The write path for deltas: link checks, log, heads, operations, evidence.
// Runs inside the group transaction (writer.cc); the refold of the records
// the deltas touched happens once per group afterwards (records.cc).
#include "codec.h"
#include "conect/crdt/envelope.h"
#include "conect/crdt/membership.h"
#include "store_impl.h"

namespace conect::storage {

[[noreturn]] void corrupt(const std::string& what) {
  throw lmdb::Failure{Error(Errc::storage_error, "the store is inconsistent (" + what +
                                                     "); stop the node and restore from a backup")};
}

namespace {

std::string short_id(const NodeId& origin) { return origin.hex().substr(0, 16); }
std::string label(const VerifiedDelta& d) {
  return "delta " + std::to_string(d.seq.value) + " of " + short_id(d.origin);
}

v1::SignedDelta parse_signed(std::string_view bytes, const std::string& what) {
  v1::SignedDelta sd;
  if (!sd.ParseFromArray(bytes.data(), static_cast<int>(bytes.size()))) corrupt("unreadable log entry " + what);
  return sd;
}

DeltaId stored_id(Writer& w, const NodeId& origin, Seq seq) {
  auto bytes = w.keys().logged(origin, seq);
  if (!bytes) corrupt("log of " + short_id(origin) + " has no seq " + std::to_string(seq.value) + " below its head");
  auto sd = parse_signed(*bytes, std::to_string(seq.value) + " of " + short_id(origin));
  return compute_delta_id(sd.body(), sd.signature());
}

void put_evidence(Writer& w, codec::EvidenceKind kind, const NodeId& origin, Seq seq,
                  std::string_view suffix, const v1::StoredEvidence& e) {
  w.put(w.db.evidence, codec::evidence_key(kind, origin, seq, suffix), e.SerializeAsString());
}

void keep_rejected_delta(Writer& w, const VerifiedDelta& d, const Error& why) {
  v1::StoredEvidence e;
  auto* r = e.mutable_rejected_delta();
  *r->mutable_delta() = d.signed_delta;
  r->set_reason(errc_name(static_cast<Errc>(why.code.value())));
  r->set_detail(why.detail);
  put_evidence(w, codec::EvidenceKind::rejected_delta, d.origin, d.seq, d.id.raw(), e);
}

}  // namespace

// The records touched by an origin's stored deltas in [from, until).
void touch_stored_range(Writer& w, GroupState& g, const NodeId& origin, Seq from, Seq until) {
  const Keys& keys = w.keys();
  auto code = keys.code(origin);
  if (!code) return;  // nothing stored of it
  const std::string& prefix = *code;
  auto c = w.cursor(w.db.log);
  for (bool ok = c.seek(codec::log_key(prefix, from)); ok && c.key().starts_with(prefix); ok = c.next()) {
    if (codec::get_u64(c.key(), codec::kNodeCode) >= until.value) break;
    auto sd = parse_signed(keys.signed_delta(c.key(), c.value()), "of " + short_id(origin));
    v1::DeltaBody body;
    if (!body.ParseFromString(sd.body())) corrupt("unreadable delta body of " + short_id(origin));
    for (const auto& op : body.ops())
      if (auto target = op_target(op); target.ok()) g.touched.touch(*target);
  }
}

namespace {

// Nothing of `origin` from `seq` on counts any more (DESIGN §4).
void freeze(Writer& w, GroupState& g, const NodeId& origin, Seq seq) {
  auto it = g.frozen.find(origin);
  Seq until{UINT64_MAX};
  if (it != g.frozen.end()) {
    if (it->second <= seq) return;
    until = it->second;
  }
  g.frozen[origin] = seq;
  g.frozen_changed = true;
  HeadInfo h = group_head(w, g, origin).value_or(HeadInfo{});
  h.frozen_at = seq;
  set_group_head(g, origin, h);
  touch_stored_range(w, g, origin, seq, until);
}

void keep_equivocation(Writer& w, GroupState& g, const NodeId& origin, Seq seq,
                       const v1::SignedDelta& a, const DeltaId& a_id,
                       const v1::SignedDelta& b, const DeltaId& b_id) {
  // One entry per pair whichever way round it was found.
  bool a_first = a_id < b_id;
  v1::StoredEvidence e;
  *e.mutable_equivocation()->mutable_first() = a_first ? a : b;
  *e.mutable_equivocation()->mutable_second() = a_first ? b : a;
  put_evidence(w, codec::EvidenceKind::equivocation, origin, seq, (a_first ? b_id : a_id).raw(), e);
  freeze(w, g, origin, seq);
}

// Every dependency must already be stored, with the id named.
std::optional<Error> check_deps(Writer& w, GroupState& g, const VerifiedDelta& d) {
  for (const auto& dep : d.body.deps()) {
    auto origin = NodeId::from_raw(dep.origin());
    auto id = DeltaId::from_raw(dep.id());
    if (!origin || !id || dep.seq() == 0)
      return Error(Errc::malformed_body, label(d) + " names a malformed dependency");
    auto h = group_head(w, g, *origin);
    if (!h || h->seq.value < dep.seq())
      return Error(Errc::sequence_gap, label(d) + " depends on delta " + std::to_string(dep.seq()) + " of " +
                                           short_id(*origin) + ", which is not stored yet");
    if (stored_id(w, *origin, Seq{dep.seq()}) != *id)
      return Error(Errc::broken_chain, label(d) + " depends on delta " + std::to_string(dep.seq()) + " of " +
                                           short_id(*origin) + " with another id than the stored one");
  }
  return std::nullopt;
}

// Why `d` cannot extend its origin's stored chain, if it cannot.
std::optional<Error> check_link(Writer& w, GroupState& g, const VerifiedDelta& d, const std::optional<HeadInfo>& head) {
  if (auto f = g.frozen.find(d.origin); f != g.frozen.end() && d.seq >= f->second)
    return Error(Errc::equivocation, label(d) + ": its origin equivocated at seq " +
                                         std::to_string(f->second.value) + " and is frozen there");
  Seq head_seq = head ? head->seq : Seq{};
  if (d.seq.value != head_seq.value + 1)
    return Error(Errc::sequence_gap, label(d) + " arrived before seq " + std::to_string(head_seq.value + 1));
  DeltaId expected = head ? head->id : DeltaId{};
  if (d.prev != expected)
    return Error(Errc::broken_chain, label(d) + " does not link to the stored head");
  return check_deps(w, g, d);
}

}  // namespace

std::optional<HeadInfo> read_head(const lmdb::Txn& txn, const Dbs& db, const NodeId& origin) {
  auto v = txn.get(db.heads, origin.raw());
  if (!v) return std::nullopt;
  auto h = codec::decode_head(*v);
  if (!h) corrupt("unreadable head of " + short_id(origin));
  return h;
}

std::optional<HeadInfo> group_head(const Writer& w, GroupState& g, const NodeId& origin) {
  auto it = g.heads.find(origin);
  if (it == g.heads.end()) it = g.heads.emplace(origin, read_head(w.txn(), w.db, origin)).first;
  return it->second;
}

void set_group_head(GroupState& g, const NodeId& origin, const HeadInfo& h) {
  g.heads[origin] = h;
  g.heads_changed.insert(origin);
}

void flush_heads(Writer& w, GroupState& g) {
  for (const NodeId& origin : g.heads_changed) w.put(w.db.heads, origin.raw(), codec::encode_head(*g.heads.at(origin)));
  g.heads_changed.clear();
}

namespace {

// Operation `index` of `d` is stored with its delta but changes nothing: it
// is listed as a rejected operation with `why`.
void reject_operation(Writer& w, const VerifiedDelta& d, std::uint32_t index, const Error& why) {
  v1::StoredEvidence e;
  auto* r = e.mutable_rejected_operation();
  r->set_origin(d.origin.raw());
  r->set_seq(d.seq.value);
  r->set_index(index);
  r->set_reason(errc_name(static_cast<Errc>(why.code.value())));
  r->set_detail(why.detail);
  std::string suffix = d.id.raw();
  codec::put_u32(suffix, index);
  put_evidence(w, codec::EvidenceKind::rejected_operation, d.origin, d.seq, suffix, e);
}

// A seal-key announcement changes no record: the latest valid one of each
// origin (or a later Rotate's seal key, store_delta) is kept in meta
// (Store::seal_keys); deltas are stored in chain order, so the last written
// is the last in the member's log (crdt/seal.h seal_key_stated). One with a bad inner signature
// is stored with its delta and listed as a rejected operation.
void note_seal_key(Writer& w, const VerifiedDelta& d, std::uint32_t index) {
  auto federation = FederationId::from_raw(d.body.federation());
  Result<SealPublicKey> key = federation
                                  ? verify_seal_key_announcement(d.body.ops(index).seal_key(), *federation, d.origin)
                                  : Result<SealPublicKey>(Error(Errc::malformed_body, "no federation"));
  if (key.ok()) {
    w.put(w.db.meta, std::string(meta::kSealKeyPrefix) + d.origin.raw(), key->raw());
    return;
  }
  reject_operation(w, d, index, key.error());
}

// An envelope acknowledgement changes no record either: meta keeps
// (commitment, origin) so relays and the owner can ask for it
// (Store::envelope_acknowledged). A malformed one is a rejected operation.
void note_envelope_ack(Writer& w, const VerifiedDelta& d, std::uint32_t index) {
  auto ack = parse_envelope_ack(d.body.ops(index).envelope_ack());
  if (ack.ok()) {
    w.put(w.db.meta, std::string(meta::kEnvelopeAckPrefix) + ack->second.raw() + d.origin.raw(), ack->first.encode());
    return;
  }
  reject_operation(w, d, index, ack.error());
}

}  // namespace

void store_delta(Writer& w, GroupState& g, VerifiedDelta& d, bool owned) {
  w.append(w.db.log, w.log_key(d.origin, d.seq), w.log_value(d));
  HeadInfo h{d.seq, d.id, d.hlc, {}};
  if (auto f = g.frozen.find(d.origin); f != g.frozen.end()) h.frozen_at = f->second;
  set_group_head(g, d.origin, h);
  for (int i = 0; i < d.body.ops_size(); ++i) {
    const auto& op = d.body.ops(i);
    auto index = static_cast<std::uint32_t>(i);
    if (is_membership_op(op)) {
      // The roster's, not a record's (membership.h); a Rotate's seal key
      // is also the member's seal key from here on (seal.h).
      if (op.has_rotate())
        if (auto seal = rotated_seal_key(op.rotate()))
          w.put(w.db.meta, std::string(meta::kSealKeyPrefix) + d.origin.raw(), seal->raw());
      continue;
    }
    if (op.has_seal_key()) {
      note_seal_key(w, d, index);
      continue;
    }
    if (op.has_envelope_ack()) {
      note_envelope_ack(w, d, index);
      continue;
    }
    auto target = op_target(op);
    if (!target.ok()) {
      // Stored with its delta (history is history) but it names no record.
      reject_operation(w, d, index, target.error());
      if (target.error().is(Errc::unknown_operation)) ++g.unknown_ops;
      continue;
    }
    // Its position only: the operation is in the delta just logged.
    w.put(w.db.ops(target->type), codec::op_key(w.record_key(*target), w.code(d.origin), d.seq, index),
          std::string_view("", 0));
    g.touched.add(*target, PendingOp{&d, index});
  }
  if (carries_membership(d.body)) note_membership(w, g, d);
  if (d.hlc > g.observed) g.observed = d.hlc;
  g.stored.push_back({&d, owned});
}

void apply_batch(Writer& w, GroupState& g, const std::optional<FederationId>& federation,
                 std::vector<VerifiedDelta>& batch, ApplyOutcome& out) {
  std::map<NodeId, Seq> blocked;  // origin -> the seq that was rejected
  for (VerifiedDelta& d : batch) {
    DeltaPosition pos{d.origin, d.seq, d.id};
    if (federation && d.body.federation() != federation->raw()) {
      out.rejected.push_back({pos, Error(Errc::wrong_federation, label(d) + " belongs to another federation")});
      continue;
    }
    auto head = group_head(w, g, d.origin);
    if (head && d.seq <= head->seq) {
      auto bytes = w.keys().logged(d.origin, d.seq);
      if (!bytes) corrupt("log of " + short_id(d.origin) + " has a gap below its head");
      v1::SignedDelta stored = parse_signed(*bytes, label(d));
      DeltaId sid = compute_delta_id(stored.body(), stored.signature());
      if (sid == d.id) {
        out.duplicates.push_back(pos);
      } else {
        keep_equivocation(w, g, d.origin, d.seq, stored, sid, d.signed_delta, d.id);
        out.equivocations.push_back(pos);
      }
      continue;
    }
    if (auto b = blocked.find(d.origin); b != blocked.end()) {
      out.rejected.push_back({pos, Error(Errc::sequence_gap, label(d) + " follows rejected delta " +
                                                                 std::to_string(b->second.value))});
      continue;
    }
    if (auto why = check_link(w, g, d, head)) {
      if (why->is(Errc::broken_chain)) keep_rejected_delta(w, d, *why);
      out.rejected.push_back({pos, std::move(*why)});
      blocked.emplace(d.origin, d.seq);
      continue;
    }
    store_delta(w, g, d, true);
    out.applied.push_back(pos);
  }
}

Status record_equivocation(Writer& w, GroupState& g, const VerifiedDelta& a, const VerifiedDelta& b) {
  if (a.origin != b.origin || a.seq != b.seq || a.id == b.id)
    return Error(Errc::invalid_argument,
                 "equivocation evidence needs two different deltas of one origin with one seq");
  keep_equivocation(w, g, a.origin, a.seq, a.signed_delta, a.id, b.signed_delta, b.id);
  return Status::Ok();
}

}  // namespace conect::storage
