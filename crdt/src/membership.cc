// The replicated roster's derivation (membership.h has the rules).
#include "conect/crdt/membership.h"

#include <algorithm>
#include <random>
#include <tuple>

#include "conect/crdt/identity.h"

namespace conect {
namespace {

std::string short_hex(const NodeId& id) { return id.hex().substr(0, 16); }

void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

void put_bytes(std::string& out, std::string_view b) {
  put_u64(out, b.size());
  out.append(b);
}

// The quorum-th largest of `seqs` (seqs.size() >= quorum >= 1).
Seq quorum_th_largest(std::vector<Seq> seqs, std::uint32_t quorum) {
  std::sort(seqs.begin(), seqs.end(), [](Seq a, Seq b) { return a > b; });
  return seqs[quorum - 1];
}

// The card's body when it is a card of `member` (if given) signed by
// `signer`, of `federation`.
Result<v1::MemberCardBody> check_card(const v1::MemberCard& card, const FederationId& federation, const NodeId& signer,
                                      const NodeId* member) {
  v1::MemberCardBody body;
  if (!body.ParseFromString(card.body())) return Error(Errc::malformed_body, "the card does not parse");
  auto id = NodeId::from_raw(body.node_id());
  if (!id) return Error(Errc::malformed_body, "the card names no 32-byte member id");
  if (member && *id != *member) return Error(Errc::not_authorised, "the card is another member's");
  if (body.federation() != federation.raw()) return Error(Errc::wrong_federation, "the card is of another federation");
  if (body.role() != v1::SCHOOL && body.role() != v1::COMPANY && body.role() != v1::AUDITOR)
    return Error(Errc::malformed_body, "the card names no role");
  if (!verify_signature(signer, SigningDomain::member_card, card.body(), card.signature()))
    return Error(Errc::bad_signature, "the card's signature does not verify");
  return body;
}

// Which card of two admitted ones describes the member: the newer one.
bool newer_card(const v1::MemberCard& a, const v1::MemberCard& b) {
  v1::MemberCardBody ab, bb;
  (void)ab.ParseFromString(a.body());
  (void)bb.ParseFromString(b.body());
  if (ab.issued_ms() != bb.issued_ms()) return ab.issued_ms() > bb.issued_ms();
  return a.SerializeAsString() < b.SerializeAsString();
}

}  // namespace

bool is_membership_op(const v1::Operation& op) {
  switch (op.op_case()) {
    case v1::Operation::kFound:
    case v1::Operation::kAdmit:
    case v1::Operation::kRemove:
    case v1::Operation::kLeave:
    case v1::Operation::kRotate:
    case v1::Operation::kRekey:
    case v1::Operation::kCardUpdate:
      return true;
    default:
      return false;
  }
}

bool carries_membership(const v1::DeltaBody& body) {
  return std::any_of(body.ops().begin(), body.ops().end(), [](const auto& op) { return is_membership_op(op); });
}

MembershipDelta MembershipDelta::from(const VerifiedDelta& d) {
  MembershipDelta m{d.origin, d.seq, d.id, {d.body.deps().begin(), d.body.deps().end()}, {}};
  for (int i = 0; i < d.body.ops_size(); ++i)
    if (is_membership_op(d.body.ops(i))) m.ops.emplace_back(static_cast<std::uint32_t>(i), d.body.ops(i));
  return m;
}

std::string rotation_proof_message(const NodeId& member, const NodeId& new_key) { return member.raw() + new_key.raw(); }

std::string format_key_offer(const NodeId& member, const KeyPair& new_key) {
  return std::string(kKeyOfferPrefix) + member.hex() + ":" + new_key.public_key().hex() + ":" +
         new_key.sign(SigningDomain::rotation, rotation_proof_message(member, new_key.public_key())).hex();
}

Result<KeyOffer> parse_key_offer(std::string_view text) {
  const std::string how =
      " (a key offer is one line conect-key:MEMBER:KEY:PROOF, printed by `conect-node key offer` "
      "on the member whose key is replaced)";
  if (text.substr(0, kKeyOfferPrefix.size()) != kKeyOfferPrefix)
    return Error(Errc::malformed_body, "not a key offer" + how);
  text.remove_prefix(kKeyOfferPrefix.size());
  auto c1 = text.find(':');
  auto c2 = c1 == std::string_view::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string_view::npos) return Error(Errc::malformed_body, "the key offer has not three parts" + how);
  auto member = NodeId::from_hex(text.substr(0, c1));
  auto key = NodeId::from_hex(text.substr(c1 + 1, c2 - c1 - 1));
  auto proof = Signature::from_hex(text.substr(c2 + 1));
  if (!member) return Error(Errc::malformed_body, "the key offer's member is not 64 hex characters" + how);
  if (!key) return Error(Errc::malformed_body, "the key offer's new key is not 64 hex characters" + how);
  if (!proof) return Error(Errc::malformed_body, "the key offer's proof is not 128 hex characters" + how);
  if (!verify_signature(*key, SigningDomain::rotation, rotation_proof_message(*member, *key), proof->raw()))
    return Error(Errc::bad_signature,
                 "the key offer's proof does not verify under its new key: the offer was altered, or made for "
                 "another member");
  return KeyOffer{*member, *key, proof->raw()};
}

std::optional<v1::MemberCardBody> verified_card_body(const v1::MemberCard& card, const NodeId& signer) {
  if (!verify_signature(signer, SigningDomain::member_card, card.body(), card.signature())) return std::nullopt;
  v1::MemberCardBody body;
  if (!body.ParseFromString(card.body())) return std::nullopt;
  return body;
}

v1::MemberCard sign_card(const KeyPair& key, const v1::MemberCardBody& body) {
  v1::MemberCard card;
  card.set_body(body.SerializeAsString());
  card.set_signature(key.sign(SigningDomain::member_card, card.body()).raw());
  return card;
}

namespace membership_ops {
v1::Operation found(const v1::MemberCard& own_card, std::uint32_t admission_quorum) {
  v1::Operation op;
  *op.mutable_found()->mutable_card() = own_card;
  op.mutable_found()->set_admission_quorum(admission_quorum);
  return op;
}
v1::Operation admit(const v1::MemberCard& card) {
  v1::Operation op;
  *op.mutable_admit()->mutable_card() = card;
  return op;
}
v1::Operation remove(const NodeId& member, Seq last_seq) {
  v1::Operation op;
  op.mutable_remove()->set_member(member.raw());
  op.mutable_remove()->set_last_seq(last_seq.value);
  return op;
}
v1::Operation leave() {
  v1::Operation op;
  op.mutable_leave();
  return op;
}
v1::Operation rotate(const NodeId& member, const KeyPair& new_key, std::string seal_key, std::string noise_static_key) {
  v1::Operation op;
  auto* r = op.mutable_rotate();
  r->set_new_identity_key(new_key.public_key().raw());
  r->set_new_seal_key(std::move(seal_key));
  r->set_new_noise_static_key(std::move(noise_static_key));
  r->set_new_key_proof(
      new_key.sign(SigningDomain::rotation, rotation_proof_message(member, new_key.public_key())).raw());
  return op;
}
v1::Operation rekey(const NodeId& member, const KeyPair& new_key, Seq last_seq) {
  v1::Operation op;
  auto* r = op.mutable_rekey();
  r->set_member(member.raw());
  r->set_new_key(new_key.public_key().raw());
  r->set_last_seq(last_seq.value);
  r->set_new_key_proof(
      new_key.sign(SigningDomain::rotation, rotation_proof_message(member, new_key.public_key())).raw());
  return op;
}
v1::Operation rekey(const KeyOffer& offer, Seq last_seq) {
  v1::Operation op;
  auto* r = op.mutable_rekey();
  r->set_member(offer.member.raw());
  r->set_new_key(offer.key.raw());
  r->set_last_seq(last_seq.value);
  r->set_new_key_proof(offer.proof);
  return op;
}
v1::Operation card_update(const v1::MemberCard& card) {
  v1::Operation op;
  *op.mutable_card_update()->mutable_card() = card;
  return op;
}
}  // namespace membership_ops

// ------------------------------------------------------------- derivation
//
// derive() in four steps:
//   1. The causal order: per membership delta its predecessors (its chain's
//      previous membership delta, and per dep the origin's membership delta
//      at or before the named seq) and its causal past (a version vector).
//   2. Evaluation under a set of decided cuts: each operation is judged
//      against its causal past (admissions, the quorum, a removal complete
//      before it) and the decided cuts (its author's, global: a removed
//      member's operations beyond its cut count nowhere, whether or not it
//      had seen its removal). Nothing reads state the visit order left: the
//      result is the same for every topological order (the property test
//      visits concurrent deltas at random).
//   3. Settling the cuts: the cuts the counting votes and leaves imply are
//      decided one at a time, re-evaluating after each (a decided cut may
//      kill votes and admissions by its member); the next one decided is a
//      cut none of whose voters another pending cut would cut off, then the
//      one with the lowest delta id among its votes (mutual removals: the
//      lower delta id wins). A decided cut is final.
//   4. The roster from the last evaluation: admissions, cards, keys.

namespace {

using Past = std::map<NodeId, Seq>;

bool in_past(const Past& past, const NodeId& origin, Seq seq) {
  auto p = past.find(origin);
  return p != past.end() && seq <= p->second;
}

struct DecidedCut {
  Seq seq;
  std::string reason;  // "removed" or "left"
};

struct RemovalVote {
  NodeId voter;
  Seq at;  // the vote's own seq
  Seq last_seq;
  DeltaId id;
};

struct RotateRecord {
  Seq at;
  NodeId key;
  std::string seal_key, noise_static_key;
  const Past* past;
};

struct RekeyVote {
  NodeId voter;
  Seq at;
  NodeId key;
  Seq last_seq;
};

struct PendingCardUpdate {
  const MembershipDelta* d;
  std::uint32_t index;
  const v1::MemberCard* card;
};

// What one evaluation recorded of a member: only counting operations.
struct MemberRecord {
  std::vector<std::pair<Seq, std::uint32_t>> founds;  // (seq, quorum), chain order
  const v1::MemberCard* found_card = nullptr;
  std::map<NodeId, Seq> admissions;  // admitter -> its first counting Admit
  std::vector<const v1::MemberCard*> admitted_cards;
  std::optional<std::pair<Seq, DeltaId>> leave;  // the first counting Leave
  std::vector<RemovalVote> removal_votes;
  std::vector<RotateRecord> rotates;  // chain order
  std::vector<RekeyVote> rekey_votes;
  std::vector<PendingCardUpdate> card_updates;
};

struct Evaluation {
  std::map<NodeId, MemberRecord> members;
  std::vector<RejectedMembershipOp> rejected;

  // The quorum the counting Founds in `past` named (0: none).
  std::uint32_t quorum_in(const Past& past) const {
    std::uint32_t q = 0;
    for (const auto& [id, m] : members)
      for (const auto& [seq, quorum] : m.founds)
        if (in_past(past, id, seq)) q = q == 0 ? quorum : std::min(q, quorum);
    return q;
  }
  std::uint32_t quorum() const {
    std::uint32_t q = 0;
    for (const auto& [id, m] : members)
      for (const auto& [seq, quorum] : m.founds) q = q == 0 ? quorum : std::min(q, quorum);
    return q;
  }
  // Its Found, or a quorum (as `past` shows it) of its admissions, in `past`.
  bool admitted_in(const NodeId& id, const Past& past) const {
    auto it = members.find(id);
    if (it == members.end()) return false;
    for (const auto& [seq, quorum] : it->second.founds)
      if (in_past(past, id, seq)) return true;
    std::uint32_t q = quorum_in(past);
    std::size_t seen = 0;
    for (const auto& [admitter, seq] : it->second.admissions) seen += in_past(past, admitter, seq);
    return q > 0 && seen >= q;
  }
  // Its Leave, or a quorum of removal votes, in `past`.
  bool removed_in(const NodeId& id, const Past& past) const {
    auto it = members.find(id);
    if (it == members.end()) return false;
    if (it->second.leave && in_past(past, id, it->second.leave->first)) return true;
    std::set<NodeId> voters;
    for (const auto& v : it->second.removal_votes)
      if (in_past(past, v.voter, v.at)) voters.insert(v.voter);
    std::uint32_t q = quorum_in(past);
    return q > 0 && voters.size() >= q;
  }
};

// Facts about the whole set that no evaluation changes: which keys some
// card names as a member id, and which members each new key is offered for.
struct KeyFacts {
  std::set<NodeId> member_ids;
  std::map<NodeId, std::set<NodeId>> offered_for;  // new key -> members
};

KeyFacts key_facts(const std::vector<const MembershipDelta*>& order) {
  KeyFacts f;
  for (const auto* d : order)
    for (const auto& [index, op] : d->ops) {
      if (op.has_found()) f.member_ids.insert(d->origin);
      if (op.has_admit()) {
        v1::MemberCardBody body;
        if (body.ParseFromString(op.admit().card().body()))
          if (auto id = NodeId::from_raw(body.node_id())) f.member_ids.insert(*id);
      }
      if (op.has_rotate())
        if (auto key = NodeId::from_raw(op.rotate().new_identity_key())) f.offered_for[*key].insert(d->origin);
      if (op.has_rekey()) {
        auto key = NodeId::from_raw(op.rekey().new_key());
        auto member = NodeId::from_raw(op.rekey().member());
        if (key && member) f.offered_for[*key].insert(*member);
      }
    }
  return f;
}

// A valid, usable Ed25519 public key with a proof by it for `member`.
std::optional<Error> check_new_key(const KeyFacts& facts, const NodeId& member, std::string_view raw,
                                   std::string_view proof, const char* what) {
  auto key = NodeId::from_raw(raw);
  if (!key || key->is_zero()) return Error(Errc::malformed_body, std::string(what) + " names no 32-byte key");
  if (facts.member_ids.contains(*key))
    return Error(Errc::already_exists, std::string(what) + " names a key that is a member id");
  if (auto it = facts.offered_for.find(*key); it != facts.offered_for.end() && it->second.size() > 1)
    return Error(Errc::already_exists, std::string(what) + " names a key offered for another member too");
  if (!verify_signature(*key, SigningDomain::rotation, rotation_proof_message(member, *key), proof))
    return Error(Errc::bad_signature,
                 std::string(what) + ": the new key's proof does not verify (the author does not hold that key)");
  return std::nullopt;
}

Evaluation evaluate(const FederationId& federation, const std::vector<const MembershipDelta*>& order,
                    const std::map<const MembershipDelta*, Past>& pasts, const KeyFacts& facts,
                    const std::map<NodeId, DecidedCut>& cuts) {
  Evaluation e;
  for (const auto* d : order) {
    const NodeId& author = d->origin;
    const Past& past = pasts.at(d);
    auto cut = cuts.find(author);
    const bool beyond_cut = cut != cuts.end() && d->seq > cut->second.seq;
    auto not_current = [&]() -> std::optional<Error> {
      if (beyond_cut)
        return Error(Errc::not_authorised,
                     "its author was " + cut->second.reason + " at seq " + std::to_string(cut->second.seq.value));
      if (!e.admitted_in(author, past))
        return Error(Errc::not_authorised,
                     "its author was not an admitted member at that point (its causal past, the deps it "
                     "declared, holds no completed admission of it)");
      return std::nullopt;
    };
    auto judge = [&](std::uint32_t index, const v1::Operation& op) -> std::optional<Error> {
      switch (op.op_case()) {
        case v1::Operation::kFound: {
          if (beyond_cut) return not_current();
          auto body = check_card(op.found().card(), federation, author, &author);
          if (!body.ok()) return Error(body.error().code, "found: " + body.error().detail);
          if (op.found().admission_quorum() < 1) return Error(Errc::invalid_argument, "found: admission quorum 0");
          MemberRecord& m = e.members[author];
          m.founds.emplace_back(d->seq, op.found().admission_quorum());
          if (!m.found_card) m.found_card = &op.found().card();
          return std::nullopt;
        }
        case v1::Operation::kAdmit: {
          if (auto why = not_current()) return why;
          v1::MemberCardBody parsed;
          if (!parsed.ParseFromString(op.admit().card().body()))
            return Error(Errc::malformed_body, "admit: the card does not parse");
          auto named = NodeId::from_raw(parsed.node_id());
          if (!named) return Error(Errc::malformed_body, "admit: the card names no 32-byte member id");
          auto signed_body = check_card(op.admit().card(), federation, *named, &*named);
          if (!signed_body.ok()) return Error(signed_body.error().code, "admit: " + signed_body.error().detail);
          MemberRecord& m = e.members[*named];
          if (e.removed_in(*named, past))
            return Error(Errc::not_authorised, "admit: member " + short_hex(*named) +
                                                   " was removed or left; a removed member comes back only under a "
                                                   "new identity");
          if (m.admissions.emplace(author, d->seq).second) m.admitted_cards.push_back(&op.admit().card());
          return std::nullopt;
        }
        case v1::Operation::kRemove: {
          if (auto why = not_current()) return why;
          auto target = NodeId::from_raw(op.remove().member());
          if (!target) return Error(Errc::malformed_body, "remove: names no 32-byte member id");
          if (*target == author)
            return Error(Errc::not_authorised, "remove: a member does not vote on its own removal; it leaves instead");
          if (!e.admitted_in(*target, past))
            return Error(Errc::not_found,
                         "remove: " + short_hex(*target) + " is not an admitted member (in the removal's causal past)");
          // A decided cut is final: a vote that could move one does not
          // count. A voter's first vote is its vote (a later one, whatever
          // deps it declares, would replace a vote the cut may rest on), and
          // a vote that has the member's removal or leave in its past comes
          // after the cut was decided.
          MemberRecord& m = e.members[*target];
          for (const auto& earlier : m.removal_votes)
            if (earlier.voter == author)
              return Error(Errc::already_exists, "remove: " + short_hex(author) + " voted on " + short_hex(*target) +
                                                     " already (seq " + std::to_string(earlier.at.value) +
                                                     "); a voter's first vote counts, so that a decided cut is final");
          if (e.removed_in(*target, past))
            return Error(Errc::already_exists, "remove: " + short_hex(*target) +
                                                   " was removed or left before this vote (in its causal past); a "
                                                   "decided cut is final");
          m.removal_votes.push_back({author, d->seq, Seq{op.remove().last_seq()}, d->id});
          return std::nullopt;
        }
        case v1::Operation::kLeave: {
          if (auto why = not_current()) return why;
          MemberRecord& m = e.members[author];
          if (!m.leave) m.leave = {d->seq, d->id};
          return std::nullopt;
        }
        case v1::Operation::kRotate: {
          if (auto why = not_current()) return why;
          const auto& r = op.rotate();
          if (auto why = check_new_key(facts, author, r.new_identity_key(), r.new_key_proof(), "rotate")) return why;
          if ((!r.new_seal_key().empty() && r.new_seal_key().size() != 32) ||
              (!r.new_noise_static_key().empty() && r.new_noise_static_key().size() != 32))
            return Error(Errc::malformed_body, "rotate: a seal or Noise key that is not 32 bytes");
          NodeId key = *NodeId::from_raw(r.new_identity_key());
          MemberRecord& m = e.members[author];
          for (const auto& earlier : m.rotates)
            if (earlier.key == key) return Error(Errc::already_exists, "rotate: names a key it rotated to before");
          m.rotates.push_back({d->seq, key, r.new_seal_key(), r.new_noise_static_key(), &past});
          return std::nullopt;
        }
        case v1::Operation::kRekey: {
          if (auto why = not_current()) return why;
          const auto& r = op.rekey();
          auto target = NodeId::from_raw(r.member());
          if (!target) return Error(Errc::malformed_body, "rekey: names no 32-byte member id");
          if (*target == author)
            return Error(Errc::not_authorised, "rekey: a member holding its key rotates it instead");
          if (!e.admitted_in(*target, past))
            return Error(Errc::not_found,
                         "rekey: " + short_hex(*target) + " is not an admitted member (in the rekey's causal past)");
          if (auto why = check_new_key(facts, *target, r.new_key(), r.new_key_proof(), "rekey")) return why;
          e.members[*target].rekey_votes.push_back({author, d->seq, *NodeId::from_raw(r.new_key()), Seq{r.last_seq()}});
          return std::nullopt;
        }
        case v1::Operation::kCardUpdate: {
          if (auto why = not_current()) return why;
          // Judged once the keys are known (derive, step 4).
          e.members[author].card_updates.push_back({d, index, &op.card_update().card()});
          return std::nullopt;
        }
        default:
          return Error(Errc::malformed_body, "not a membership operation");
      }
    };
    for (const auto& [index, op] : d->ops)
      if (auto why = judge(index, op))
        e.rejected.push_back({d->origin, d->seq, index, static_cast<Errc>(why->code.value()), why->detail});
  }
  return e;
}

// The cut the counting votes and leave of `m` imply (the quorum-th largest
// last_seq among the voters' votes; a Leave at its own seq; the
// earlier of the two), with the voters it rests on and the lowest delta id
// among their votes.
struct ImpliedCut {
  DecidedCut cut;
  std::set<NodeId> voters;
  DeltaId lowest_id;
};

std::optional<ImpliedCut> implied_cut(const NodeId& id, const MemberRecord& m, std::uint32_t quorum) {
  std::optional<ImpliedCut> out;
  if (m.leave) out = ImpliedCut{{m.leave->first, "left"}, {id}, m.leave->second};
  // One vote per voter (evaluate counts a voter's first only).
  if (quorum == 0 || m.removal_votes.size() < quorum) return out;
  std::vector<Seq> seqs;
  ImpliedCut removal{{Seq{}, "removed"}, {}, m.removal_votes.front().id};
  for (const auto& v : m.removal_votes) {
    seqs.push_back(v.last_seq);
    removal.voters.insert(v.voter);
    removal.lowest_id = std::min(removal.lowest_id, v.id);
  }
  removal.cut.seq = quorum_th_largest(std::move(seqs), quorum);
  if (!out || removal.cut.seq < out->cut.seq) out = std::move(removal);
  return out;
}

}  // namespace

ReplicatedRoster ReplicatedRoster::derive(const FederationId& federation, std::span<const MembershipDelta> deltas,
                                          std::optional<std::uint64_t> visit_seed) {
  // 1. Index: one delta per (origin, seq) (two different ones: the lower
  // id, so the input order never matters); per origin its membership seqs.
  std::map<std::pair<NodeId, Seq>, const MembershipDelta*> at;
  for (const auto& d : deltas) {
    auto [it, fresh] = at.emplace(std::pair{d.origin, d.seq}, &d);
    if (!fresh && d.id < it->second->id) it->second = &d;
  }
  std::map<NodeId, std::vector<Seq>> chain;
  for (const auto& [pos, d] : at) chain[pos.first].push_back(pos.second);  // ascending (map order)

  // The membership delta of `origin` with the largest seq <= `upto`.
  auto latest = [&](const NodeId& origin, Seq upto) -> const MembershipDelta* {
    auto c = chain.find(origin);
    if (c == chain.end()) return nullptr;
    auto it = std::upper_bound(c->second.begin(), c->second.end(), upto);
    if (it == c->second.begin()) return nullptr;
    return at.at({origin, *std::prev(it)});
  };

  std::map<const MembershipDelta*, std::vector<const MembershipDelta*>> successors;
  std::map<const MembershipDelta*, std::vector<const MembershipDelta*>> predecessors;
  std::map<const MembershipDelta*, std::size_t> waiting;
  for (const auto& [pos, d] : at) {
    std::set<const MembershipDelta*> preds;
    if (pos.second.value > 1)
      if (auto* p = latest(d->origin, Seq{pos.second.value - 1})) preds.insert(p);
    for (const auto& dep : d->deps) {
      auto origin = NodeId::from_raw(dep.origin());
      if (!origin || *origin == d->origin) continue;
      if (auto* p = latest(*origin, Seq{dep.seq()})) preds.insert(p);
    }
    waiting[d] = preds.size();
    for (auto* p : preds) successors[p].push_back(d);
    predecessors[d].assign(preds.begin(), preds.end());
  }

  // A topological order: among ready deltas the lowest id, or (tests) a
  // random one. Nothing below depends on which.
  std::mt19937_64 visit_rng(visit_seed.value_or(0));
  std::vector<const MembershipDelta*> ready;
  for (const auto& [d, n] : waiting)
    if (n == 0) ready.push_back(d);
  std::vector<const MembershipDelta*> order;
  std::map<const MembershipDelta*, Past> pasts;
  while (order.size() < waiting.size()) {
    if (ready.empty()) {
      // Only a cycle of deps leaves nothing ready (impossible for stored
      // chains, whose deps name earlier deltas): break it at the lowest id.
      const MembershipDelta* lowest = nullptr;
      for (const auto& [d, n] : waiting)
        if (n != 0 && n != SIZE_MAX && (!lowest || d->id < lowest->id)) lowest = d;
      waiting[lowest] = 0;
      ready.push_back(lowest);
    }
    std::size_t pick = 0;
    if (visit_seed) {
      pick = visit_rng() % ready.size();
    } else {
      for (std::size_t i = 1; i < ready.size(); ++i)
        if (ready[i]->id < ready[pick]->id) pick = i;
    }
    const MembershipDelta* d = ready[pick];
    ready.erase(ready.begin() + static_cast<std::ptrdiff_t>(pick));
    waiting[d] = SIZE_MAX;  // visited
    order.push_back(d);
    Past past;
    for (auto* p : predecessors[d]) {
      auto it = pasts.find(p);
      if (it == pasts.end()) continue;  // not visited: only when a cycle was broken
      for (const auto& [origin, seq] : it->second)
        if (auto [e, fresh] = past.emplace(origin, seq); !fresh && e->second < seq) e->second = seq;
    }
    past[d->origin] = d->seq;
    pasts.emplace(d, std::move(past));
    for (auto* s : successors[d])
      if (waiting[s] != SIZE_MAX && --waiting[s] == 0) ready.push_back(s);
  }
  const KeyFacts facts = key_facts(order);

  // 2-3. Settle the cuts.
  std::map<NodeId, DecidedCut> cuts;
  Evaluation e = evaluate(federation, order, pasts, facts, cuts);
  for (;;) {
    std::uint32_t quorum = e.quorum();
    std::map<NodeId, ImpliedCut> pending;
    for (const auto& [id, m] : e.members)
      if (!cuts.contains(id))
        if (auto c = implied_cut(id, m, quorum)) pending.emplace(id, std::move(*c));
    if (pending.empty()) break;
    const NodeId* next = nullptr;
    bool next_safe = false;
    for (const auto& [candidate, c] : pending) {
      const NodeId& id = candidate;  // clang 14 lets no lambda capture a structured binding
      bool safe = std::none_of(c.voters.begin(), c.voters.end(),
                               [&](const NodeId& v) { return v != id && pending.contains(v); });
      if (!next || (safe && !next_safe) || (safe == next_safe && c.lowest_id < pending.at(*next).lowest_id)) {
        next = &id;
        next_safe = safe;
      }
    }
    cuts.emplace(*next, pending.at(*next).cut);
    e = evaluate(federation, order, pasts, facts, cuts);
  }

  // 4. The roster.
  ReplicatedRoster r;
  r.quorum_ = e.quorum();
  r.rejected_ = std::move(e.rejected);
  for (const auto& [id, rec] : e.members) {
    MemberState& m = r.members_[id];
    m.id = id;
    m.keys[Seq{1}] = id;
    if (!rec.founds.empty()) m.found_seq = rec.founds.front().first;
    m.admissions = rec.admissions;
    for (const auto& [admitter, seq] : rec.admissions) m.admitted_by.insert(admitter);
    m.founder = rec.found_card != nullptr;
    m.admitted = m.founder || (r.quorum_ > 0 && rec.admissions.size() >= r.quorum_);
    if (rec.found_card) {
      m.card = *rec.found_card;
    } else {
      for (const auto* card : rec.admitted_cards)
        if (m.card.body().empty() || newer_card(*card, m.card)) m.card = *card;
    }
    v1::MemberCardBody body;
    if (m.admitted && body.ParseFromString(m.card.body())) m.role = body.role();
    if (auto c = cuts.find(id); c != cuts.end()) {
      m.cut = c->second.seq;
      m.cut_reason = c->second.reason;
    }
    for (const auto& v : rec.removal_votes) m.removal_votes[v.voter] = v.last_seq;

    // Keys: a Rekey completes at the quorum of voters naming the same key
    // (each voter's latest vote for it), from the quorum-th largest last_seq
    // + 1. A Rotate after a completed Rekey's last_seq counts only if the
    // quorum of that Rekey's votes lies in its past (the member continued
    // its log with the new key); otherwise the old key signed it.
    struct KeyEvent {
      Seq from;
      int kind;  // 0 rotate, 1 rekey: at the same seq the rekey wins
      NodeId key;
      const RotateRecord* rotate;
    };
    std::vector<KeyEvent> events;
    std::map<NodeId, std::map<NodeId, const RekeyVote*>> by_key;
    for (const auto& v : rec.rekey_votes)
      if (auto& l = by_key[v.key][v.voter]; !l || l->at < v.at) l = &v;
    std::vector<std::pair<Seq, std::vector<const RekeyVote*>>> rekeys;
    for (const auto& [key, voters] : by_key) {
      if (r.quorum_ == 0 || voters.size() < r.quorum_) {
        for (const auto& [voter, v] : voters) m.rekey_votes[voter] = {key, v->last_seq};
        continue;
      }
      std::vector<Seq> seqs;
      std::vector<const RekeyVote*> vs;
      for (const auto& [voter, v] : voters) {
        seqs.push_back(v->last_seq);
        vs.push_back(v);
      }
      Seq last = quorum_th_largest(std::move(seqs), r.quorum_);
      events.push_back({last.next(), 1, key, nullptr});
      rekeys.emplace_back(last, std::move(vs));
    }
    for (const auto& rot : rec.rotates) {
      bool signed_by_a_replaced_key = std::any_of(rekeys.begin(), rekeys.end(), [&](const auto& rk) {
        if (rot.at <= rk.first) return false;
        std::size_t known = 0;
        for (const auto* v : rk.second) known += in_past(*rot.past, v->voter, v->at);
        return known < r.quorum_;
      });
      if (!signed_by_a_replaced_key) events.push_back({rot.at.next(), 0, rot.key, &rot});
    }
    std::sort(events.begin(), events.end(), [](const KeyEvent& a, const KeyEvent& b) {
      return std::tie(a.from, a.kind, a.key) < std::tie(b.from, b.kind, b.key);
    });
    for (const auto& ev : events) {
      m.keys[ev.from] = ev.key;
      if (ev.rotate && !ev.rotate->seal_key.empty()) m.seal_key = ev.rotate->seal_key;
      if (ev.rotate && !ev.rotate->noise_static_key.empty()) m.noise_static_key = ev.rotate->noise_static_key;
    }
  }
  // Card updates, now that the keys are known: signed by the key at their
  // seq, the role unchanged; the latest one is the member's card.
  for (const auto& [id, rec] : e.members) {
    MemberState& m = r.members_.at(id);
    for (const auto& u : rec.card_updates) {
      auto body = check_card(*u.card, federation, r.key_at(id, u.d->seq), &id);
      std::optional<Error> why;
      if (!body.ok())
        why = Error(body.error().code, "card update: " + body.error().detail);
      else if (body->role() != m.role)
        why = Error(Errc::not_authorised, "card update: the role stays the one the member was admitted with");
      if (why)
        r.rejected_.push_back({id, u.d->seq, u.index, static_cast<Errc>(why->code.value()), why->detail});
      else
        m.card = *u.card;
    }
  }
  std::sort(r.rejected_.begin(), r.rejected_.end(), [](const auto& x, const auto& y) {
    return std::tie(x.origin, x.seq, x.index) < std::tie(y.origin, y.seq, y.index);
  });
  return r;
}

// ------------------------------------------------------------------- reads

Standing ReplicatedRoster::standing(const NodeId& origin, Seq seq) const {
  auto it = members_.find(origin);
  if (it == members_.end() || !it->second.admitted) return {};
  const MemberState& m = it->second;
  if (m.cut && seq > *m.cut)
    return Standing{m.role, Errc::not_authorised,
                    "its origin was " + m.cut_reason + " after seq " + std::to_string(m.cut->value) +
                        ": nothing it wrote later counts but the cancel of its own reservation (DESIGN §2)",
                    /*cut=*/true};
  return Standing{m.role, Errc::ok, {}};
}

NodeId ReplicatedRoster::key_at(const NodeId& origin, Seq seq) const {
  auto it = members_.find(origin);
  if (it == members_.end() || it->second.keys.empty()) return origin;
  auto k = it->second.keys.upper_bound(seq);
  if (k == it->second.keys.begin()) return origin;
  return std::prev(k)->second;
}

bool ReplicatedRoster::admitted(const NodeId& id) const {
  auto it = members_.find(id);
  return it != members_.end() && it->second.admitted;
}

std::vector<NodeId> ReplicatedRoster::admitted_ids() const {
  std::vector<NodeId> out;
  for (const auto& [id, m] : members_)
    if (m.admitted) out.push_back(id);
  return out;
}

const MemberState* ReplicatedRoster::member(const NodeId& id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

std::string ReplicatedRoster::fingerprint() const {
  std::string out;
  put_u64(out, quorum_);
  for (const auto& [id, m] : members_) {
    out += id.raw();
    out.push_back(static_cast<char>(m.admitted));
    out.push_back(static_cast<char>(m.founder));
    put_bytes(out, m.card.SerializeAsString());
    put_u64(out, static_cast<std::uint64_t>(m.role));
    put_u64(out, m.admitted_by.size());
    for (const auto& a : m.admitted_by) out += a.raw();
    put_u64(out, m.cut ? m.cut->value + 1 : 0);
    put_bytes(out, m.cut_reason);
    put_u64(out, m.keys.size());
    for (const auto& [from, k] : m.keys) {
      put_u64(out, from.value);
      out += k.raw();
    }
    put_bytes(out, m.seal_key);
    put_bytes(out, m.noise_static_key);
  }
  for (const auto& r : rejected_) {
    out += r.origin.raw();
    put_u64(out, r.seq.value);
    put_u64(out, r.index);
    put_u64(out, static_cast<std::uint64_t>(r.rule));
  }
  return out;
}

}  // namespace conect
