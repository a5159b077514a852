#include "conect/crdt/replica.h"

#include <algorithm>
#include <tuple>

#include "conect/crdt/envelope.h"
#include "conect/crdt/seal.h"

namespace conect {
namespace {

std::string label(const NodeId& origin, Seq seq) {
  return "delta " + std::to_string(seq.value) + " of " + origin.hex().substr(0, 16);
}

const std::vector<VerifiedDelta>& empty_log() {
  static const std::vector<VerifiedDelta> empty;
  return empty;
}

}  // namespace

v1::DeltaRef delta_ref(const VerifiedDelta& d) {
  v1::DeltaRef r;
  r.set_origin(d.origin.raw());
  r.set_seq(d.seq.value);
  r.set_id(d.id.raw());
  return r;
}

Replica::Replica(const Replica& o)
    : roster_(o.roster_),
      membership_(o.membership_),
      logs_(o.logs_),
      frozen_(o.frozen_),
      evidence_(o.evidence_),
      records_(o.records_),
      reservations_by_placement_(o.reservations_by_placement_),
      untargeted_(o.untargeted_),
      digest_(o.digest_),
      delta_count_(o.delta_count_),
      op_count_(o.op_count_) {}

Replica::Replica(Replica&& o) noexcept
    : roster_(std::move(o.roster_)),
      membership_(std::move(o.membership_)),
      logs_(std::move(o.logs_)),
      frozen_(std::move(o.frozen_)),
      evidence_(std::move(o.evidence_)),
      records_(std::move(o.records_)),
      reservations_by_placement_(std::move(o.reservations_by_placement_)),
      untargeted_(std::move(o.untargeted_)),
      digest_(o.digest_),
      delta_count_(o.delta_count_),
      op_count_(o.op_count_) {
  drop_folds();
}

Replica& Replica::operator=(const Replica& o) {
  if (this != &o) *this = Replica(o);
  return *this;
}

Replica& Replica::operator=(Replica&& o) noexcept {
  if (this == &o) return *this;
  roster_ = std::move(o.roster_);
  membership_ = std::move(o.membership_);
  logs_ = std::move(o.logs_);
  frozen_ = std::move(o.frozen_);
  evidence_ = std::move(o.evidence_);
  records_ = std::move(o.records_);
  reservations_by_placement_ = std::move(o.reservations_by_placement_);
  untargeted_ = std::move(o.untargeted_);
  digest_ = o.digest_;
  delta_count_ = o.delta_count_;
  op_count_ = o.op_count_;
  drop_folds();
  return *this;
}

void Replica::drop_folds() {
  for (auto& [key, rec] : records_) rec.folder.reset();
}

Standing ReplicaRoster::standing(const NodeId& origin, Seq seq) const {
  if (replicated.admitted(origin)) return replicated.standing(origin, seq);
  return cards.standing(origin, seq);
}

void Replica::set_roster(LocalRoster roster) {
  std::set<NodeId> changed;
  for (const auto& [id, role] : roster.roles())
    if (roster_.cards.standing(id, Seq{}) != roster.standing(id, Seq{})) changed.insert(id);
  for (const auto& [id, role] : roster_.cards.roles())
    if (!roster.roles().contains(id)) changed.insert(id);
  roster_.cards = std::move(roster);
  for (const auto& id : changed) refold_origin(id);
}

void Replica::derive_roster() {
  std::vector<MembershipDelta> deltas;
  std::optional<FederationId> federation;
  for (const auto& [origin, seq] : membership_) {
    const VerifiedDelta& d = log(origin)[seq.value - 1];
    if (!federation) federation = FederationId::from_raw(d.body.federation());
    deltas.push_back(MembershipDelta::from(d));
  }
  ReplicatedRoster next = federation ? ReplicatedRoster::derive(*federation, deltas) : ReplicatedRoster{};
  // What the merge reads of a member: whether the replicated roster speaks
  // for it, its role there, and where it was cut off.
  const auto seen = [](const ReplicatedRoster& r, const NodeId& id) {
    const MemberState* m = r.member(id);
    if (!m || !m->admitted) return std::tuple<bool, int, std::optional<Seq>>{false, 0, std::nullopt};
    return std::tuple<bool, int, std::optional<Seq>>{true, static_cast<int>(m->role), m->cut};
  };
  std::set<NodeId> changed;
  for (const auto& [id, m] : next.members())
    if (seen(next, id) != seen(roster_.replicated, id)) changed.insert(id);
  for (const auto& [id, m] : roster_.replicated.members())
    if (seen(next, id) != seen(roster_.replicated, id)) changed.insert(id);
  roster_.replicated = std::move(next);
  for (const auto& id : changed) refold_origin(id);
}

void Replica::refold_origin(const NodeId& origin) {
  std::set<RecordKey> touched;
  for (const auto& d : log(origin))
    for (const auto& op : d.body.ops())
      if (auto t = op_target(op); t.ok()) touched.insert(*t);
  for (const auto& key : touched) {
    auto it = records_.find(key);
    if (it == records_.end()) continue;
    it->second.folder.reset();
    refold(key, {});
  }
}

const v1::Operation* Replica::operation(const NodeId& origin, Seq seq, std::uint32_t index) const {
  const auto& l = log(origin);
  if (seq.value < 1 || seq.value > l.size()) return nullptr;
  const v1::DeltaBody& body = l[seq.value - 1].body;
  return index < static_cast<std::uint32_t>(body.ops_size()) ? &body.ops(static_cast<int>(index)) : nullptr;
}

Seq Replica::head(const NodeId& origin) const {
  auto it = logs_.find(origin);
  return it == logs_.end() ? Seq{} : Seq{it->second.size()};
}

std::optional<DeltaId> Replica::head_id(const NodeId& origin) const {
  auto it = logs_.find(origin);
  if (it == logs_.end() || it->second.empty()) return std::nullopt;
  return it->second.back().id;
}

const std::vector<VerifiedDelta>& Replica::log(const NodeId& origin) const {
  auto it = logs_.find(origin);
  return it == logs_.end() ? empty_log() : it->second;
}

std::vector<NodeId> Replica::origins() const {
  std::vector<NodeId> out;
  for (const auto& [o, log] : logs_)
    if (!log.empty()) out.push_back(o);
  return out;
}

bool Replica::holds(const NodeId& origin, Seq seq, const DeltaId& id) const {
  const auto& l = log(origin);
  return seq.value >= 1 && seq.value <= l.size() && l[seq.value - 1].id == id;
}

std::optional<Seq> Replica::frozen_at(const NodeId& origin) const {
  auto it = frozen_.find(origin);
  if (it == frozen_.end()) return std::nullopt;
  return it->second;
}

const ReplicaRecord* Replica::record(const RecordKey& key) const {
  auto it = records_.find(key);
  return it == records_.end() ? nullptr : &it->second;
}

Status Replica::apply(const VerifiedDelta& d) {
  std::vector<VerifiedDelta>& l = logs_[d.origin];
  if (d.seq.value >= 1 && d.seq.value <= l.size()) {
    const VerifiedDelta& held = l[d.seq.value - 1];
    if (held.id == d.id) return Status::Ok();
    v1::EquivocationEvidence ev;
    *ev.mutable_first() = held.signed_delta;
    *ev.mutable_second() = d.signed_delta;
    freeze(d.origin, d.seq, std::move(ev));
    return Error(Errc::equivocation, label(d.origin, d.seq) + " differs from the one held; origin frozen at seq " +
                                         std::to_string(d.seq.value - 1));
  }
  if (auto f = frozen_at(d.origin))
    return Error(Errc::equivocation, label(d.origin, d.seq) + " lies beyond the freeze at seq " +
                                         std::to_string(f->value) + " after an equivocation");
  if (d.seq.value != l.size() + 1)
    return Error(Errc::sequence_gap, label(d.origin, d.seq) + " arrived while seq " + std::to_string(l.size()) +
                                         " is the head; fetch the deltas between first");
  DeltaId expected = l.empty() ? DeltaId{} : l.back().id;
  if (d.prev != expected) return Error(Errc::broken_chain, label(d.origin, d.seq) + " does not link to the held head");
  for (const auto& dep : d.body.deps()) {
    auto origin = NodeId::from_raw(dep.origin());
    auto id = DeltaId::from_raw(dep.id());
    if (!origin || !id) return Error(Errc::malformed_body, label(d.origin, d.seq) + " names a malformed dependency");
    if (holds(*origin, Seq{dep.seq()}, *id)) continue;
    bool other = dep.seq() >= 1 && dep.seq() <= log(*origin).size();
    return Error(other ? Errc::broken_chain : Errc::sequence_gap,
                 label(d.origin, d.seq) + " depends on " + label(*origin, Seq{dep.seq()}) +
                     (other ? ", but another delta is held at that seq" : ", which is not held yet"));
  }
  l.push_back(d);
  ++delta_count_;
  Fresh fresh;
  add_ops(d, fresh);
  for (const auto& [key, ops] : fresh) refold(key, ops);
  if (carries_membership(d.body)) {
    membership_.emplace(d.origin, d.seq);
    derive_roster();
  }
  return Status::Ok();
}

Status Replica::apply_evidence(const VerifiedDelta& a, const VerifiedDelta& b) {
  if (a.origin != b.origin || a.seq != b.seq || a.id == b.id)
    return Error(Errc::invalid_argument, "evidence must be two different deltas of one origin and seq");
  auto f = frozen_at(a.origin);
  if (f && f->value < a.seq.value) return Status::Ok();  // already frozen before this fork
  v1::EquivocationEvidence ev;
  *ev.mutable_first() = a.signed_delta;
  *ev.mutable_second() = b.signed_delta;
  freeze(a.origin, a.seq, std::move(ev));
  return Status::Ok();
}

void Replica::add_ops(const VerifiedDelta& d, Fresh& fresh) {
  for (int i = 0; i < d.body.ops_size(); ++i) {
    if (is_membership_op(d.body.ops(i))) continue;  // the roster's, not a record's (membership.h)
    PositionedOp p{d.origin, d.seq, d.hlc, static_cast<std::uint32_t>(i), d.id, d.body.ops(i)};
    auto reject = [&](const Error& e) {
      v1::RejectedOp r;
      *r.mutable_position() = p.position();
      r.set_rule(errc_name(static_cast<Errc>(e.code.value())));
      r.set_detail(e.detail);
      untargeted_.push_back(std::move(r));
    };
    if (p.op.has_seal_key()) {
      // About its origin, not a record (as the store: storage/src/apply.cc):
      // valid when its inner signature holds, else a rejected operation.
      auto federation = FederationId::from_raw(d.body.federation());
      if (!federation) {
        reject(Error(Errc::malformed_body, "no federation"));
      } else if (auto key = verify_seal_key_announcement(p.op.seal_key(), *federation, d.origin); !key.ok()) {
        reject(key.error());
      }
      continue;
    }
    if (p.op.has_envelope_ack()) {
      // About its origin, not a record (as the store: storage/src/apply.cc).
      if (auto ack = parse_envelope_ack(p.op.envelope_ack()); !ack.ok()) reject(ack.error());
      continue;
    }
    auto target = op_target(p.op);
    if (!target.ok()) {
      reject(target.error());
      continue;
    }
    auto& ops = records_[*target].ops;
    ops.push_back(std::move(p));
    fresh[*target].push_back(&ops.back());
    ++op_count_;
  }
}

std::optional<RecordKey> Replica::placement_of(const v1::RecordState& reservation) {
  if (!reservation.created() || !reservation.has_reservation()) return std::nullopt;
  return RecordKey::from_proto(v1::PLACEMENT, reservation.reservation().placement());
}

void Replica::refold(const RecordKey& key, const std::vector<const PositionedOp*>& fresh) {
  auto it = records_.find(key);
  if (it == records_.end()) return;
  ReplicaRecord& rec = it->second;
  bool existed = !rec.bytes.empty();
  if (existed) digest_.subtract(rec.hash);
  std::optional<RecordKey> old_placement = key.type == v1::RESERVATION ? placement_of(rec.state) : std::nullopt;
  if (old_placement) reservations_by_placement_[*old_placement].erase(key);
  if (rec.ops.empty()) {
    records_.erase(it);
    return;
  }
  if (!rec.folder || fresh.empty() || !rec.folder->append(fresh)) {
    std::vector<const PositionedOp*> all;
    all.reserve(rec.ops.size());
    for (const auto& p : rec.ops) all.push_back(&p);
    rec.folder = std::make_unique<RecordFolder>(key, context());
    rec.folder->append(all);
  }
  rec.state = rec.folder->state();
  rec.bytes = serialize_state(rec.state);
  rec.hash = record_hash(key, rec.bytes);
  digest_.add(rec.hash);
  if (key.type == v1::RESERVATION)
    if (auto p = placement_of(rec.state)) reservations_by_placement_[*p].insert(key);
}

void Replica::freeze(const NodeId& origin, Seq fork, v1::EquivocationEvidence evidence) {
  evidence_.push_back(std::move(evidence));
  Seq keep{fork.value - 1};
  auto f = frozen_.find(origin);
  if (f == frozen_.end() || keep < f->second) frozen_[origin] = keep;
  std::vector<VerifiedDelta>& l = logs_[origin];
  if (l.size() <= keep.value) return;
  std::set<RecordKey> touched;
  for (std::size_t s = keep.value; s < l.size(); ++s)
    for (const auto& op : l[s].body.ops())
      if (auto t = op_target(op); t.ok()) touched.insert(*t);
  delta_count_ -= l.size() - keep.value;
  l.resize(keep.value);
  std::erase_if(untargeted_, [&](const v1::RejectedOp& r) {
    return r.position().origin() == origin.raw() && r.position().seq() > keep.value;
  });
  for (const auto& key : touched) {
    ReplicaRecord& rec = records_[key];
    rec.folder.reset();  // it points into the operations about to move
    op_count_ -= static_cast<std::size_t>(
        std::erase_if(rec.ops, [&](const PositionedOp& p) { return p.origin == origin && p.seq > keep; }));
    refold(key, {});
  }
  if (std::erase_if(membership_, [&](const auto& at) { return at.first == origin && at.second > keep; }) > 0)
    derive_roster();
}

std::vector<RecordKey> Replica::reservations_of(const RecordKey& placement) const {
  auto it = reservations_by_placement_.find(placement);
  if (it == reservations_by_placement_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::vector<WindowAvailability> Replica::availability(const RecordKey& placement) const {
  const ReplicaRecord* p = record(placement);
  if (!p || !p->state.has_placement()) return {};
  std::vector<const v1::RecordState*> reservations;
  auto it = reservations_by_placement_.find(placement);
  if (it != reservations_by_placement_.end())
    for (const auto& key : it->second) reservations.push_back(&record(key)->state);
  return placement_availability(p->state.placement(), reservations);
}

}  // namespace conect
