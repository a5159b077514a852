// The replicated roster's derivation (membership.h has the rules).
#include "conect/crdt/membership.h"

#include <algorithm>
#include <queue>
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

// A valid, usable Ed25519 public key with a proof by it for `member`.
std::optional<Error> check_new_key(const std::map<NodeId, MemberState>& members, const NodeId& member,
                                   std::string_view raw, std::string_view proof, const char* what) {
  auto key = NodeId::from_raw(raw);
  if (!key || key->is_zero()) return Error(Errc::malformed_body, std::string(what) + " names no 32-byte key");
  for (const auto& [id, m] : members) {
    if (id == *key) return Error(Errc::already_exists, std::string(what) + " names a key that is a member id");
    for (const auto& [from, k] : m.keys)
      if (k == *key) return Error(Errc::already_exists, std::string(what) + " names a key already in use");
  }
  if (!verify_signature(*key, SigningDomain::rotation, rotation_proof_message(member, *key), proof))
    return Error(Errc::bad_signature,
                 std::string(what) + ": the new key's proof does not verify (the author does not hold that key)");
  return std::nullopt;
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

ReplicatedRoster ReplicatedRoster::derive(const FederationId& federation, std::span<const MembershipDelta> deltas,
                                          std::optional<std::uint64_t> visit_seed) {
  // Index: one delta per (origin, seq); per origin its membership seqs.
  std::map<std::pair<NodeId, Seq>, const MembershipDelta*> at;
  for (const auto& d : deltas) at.emplace(std::pair{d.origin, d.seq}, &d);
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
  std::mt19937_64 visit_rng(visit_seed.value_or(0));
  struct Ready {
    std::vector<const MembershipDelta*> v;
    std::optional<std::uint64_t> seed;
    std::mt19937_64* rng;
    bool empty() const { return v.empty(); }
    void push(const MembershipDelta* d) { v.push_back(d); }
    std::size_t pick() const {
      if (seed) return (*rng)() % v.size();
      std::size_t best = 0;
      for (std::size_t i = 1; i < v.size(); ++i)
        if (v[i]->id < v[best]->id) best = i;
      return best;
    }
  } ready{{}, visit_seed, &visit_rng};
  for (const auto& [d, n] : waiting)
    if (n == 0) ready.push(d);

  // Causal pasts of the replayed deltas whose successors are not all
  // replayed yet (dropped after the last one: memory stays near the width of
  // the history, not its length).
  std::map<const MembershipDelta*, CausalPast> pasts;
  std::map<const MembershipDelta*, std::size_t> successors_left;
  auto raise = [](CausalPast& past, const NodeId& origin, Seq seq) {
    auto [it, fresh] = past.emplace(origin, seq);
    if (!fresh && it->second < seq) it->second = seq;
  };

  ReplicatedRoster r;
  std::size_t replayed = 0;
  while (replayed < waiting.size()) {
    if (ready.empty()) {
      // Only a cycle of deps leaves nothing ready (impossible for stored
      // chains, whose deps name earlier deltas): break it at the lowest id.
      const MembershipDelta* lowest = nullptr;
      for (const auto& [d, n] : waiting)
        if (n != 0 && n != SIZE_MAX && (!lowest || d->id < lowest->id)) lowest = d;
      waiting[lowest] = 0;
      ready.push(lowest);
    }
    std::size_t at_i = ready.pick();
    const MembershipDelta* d = ready.v[at_i];
    ready.v.erase(ready.v.begin() + static_cast<std::ptrdiff_t>(at_i));
    waiting[d] = SIZE_MAX;  // replayed
    ++replayed;
    CausalPast past;
    for (auto* p : predecessors[d]) {
      auto it = pasts.find(p);
      if (it == pasts.end()) continue;  // not replayed: only when a cycle was broken
      for (const auto& [origin, seq] : it->second) raise(past, origin, seq);
      if (--successors_left[p] == 0) {
        pasts.erase(it);
        successors_left.erase(p);
      }
    }
    raise(past, d->origin, d->seq);
    r.replay(federation, *d, past);
    if (std::size_t n = successors[d].size(); n > 0) {
      successors_left[d] = n;
      pasts.emplace(d, std::move(past));
    }
    for (auto* s : successors[d])
      if (waiting[s] != SIZE_MAX && --waiting[s] == 0) ready.push(s);
  }
  std::sort(r.rejected_.begin(), r.rejected_.end(), [](const auto& x, const auto& y) {
    return std::tie(x.origin, x.seq, x.index) < std::tie(y.origin, y.seq, y.index);
  });
  return r;
}

void ReplicatedRoster::replay(const FederationId& federation, const MembershipDelta& d, const CausalPast& past) {
  for (const auto& [index, op] : d.ops) {
    if (auto why = apply(federation, d, past, op))
      rejected_.push_back({d.origin, d.seq, index, static_cast<Errc>(why->code.value()), why->detail});
  }
}

bool ReplicatedRoster::admitted_in(const NodeId& id, const CausalPast& past) const {
  auto it = members_.find(id);
  if (it == members_.end()) return false;
  const MemberState& m = it->second;
  auto in_past = [&](const NodeId& origin, Seq seq) {
    auto p = past.find(origin);
    return p != past.end() && seq <= p->second;
  };
  if (m.found_seq && in_past(id, *m.found_seq)) return true;
  std::size_t seen = 0;
  for (const auto& [admitter, seq] : m.admissions) seen += in_past(admitter, seq);
  return quorum_ > 0 && seen >= quorum_;
}

bool ReplicatedRoster::current(const NodeId& id, Seq seq, const CausalPast& past) const {
  auto it = members_.find(id);
  return it != members_.end() && admitted_in(id, past) && (!it->second.cut || seq <= *it->second.cut);
}

std::optional<Error> ReplicatedRoster::apply(const FederationId& federation, const MembershipDelta& d,
                                             const CausalPast& past, const v1::Operation& op) {
  const NodeId& author = d.origin;
  auto not_current = [&]() -> std::optional<Error> {
    if (current(author, d.seq, past)) return std::nullopt;
    auto it = members_.find(author);
    if (it != members_.end() && it->second.cut)
      return Error(Errc::not_authorised,
                   "its author was " + it->second.cut_reason + " at seq " + std::to_string(it->second.cut->value));
    return Error(Errc::not_authorised,
                 "its author was not an admitted member at that point (its causal past, the deps it "
                 "declared, holds no completed admission of it)");
  };
  switch (op.op_case()) {
    case v1::Operation::kFound: {
      auto it = members_.find(author);
      if (it != members_.end() && it->second.cut)
        return Error(Errc::not_authorised, "its author was " + it->second.cut_reason);
      auto body = check_card(op.found().card(), federation, author, &author);
      if (!body.ok()) return Error(body.error().code, "found: " + body.error().detail);
      if (op.found().admission_quorum() < 1) return Error(Errc::invalid_argument, "found: admission quorum 0");
      quorum_ = quorum_ == 0 ? op.found().admission_quorum() : std::min(quorum_, op.found().admission_quorum());
      MemberState& m = members_[author];
      if (!m.found_seq) m.found_seq = d.seq;
      if (!m.admitted) {
        m.id = author;
        m.admitted = true;
        m.founder = true;
        m.card = op.found().card();
        m.role = body->role();
        if (m.keys.empty()) m.keys[Seq{1}] = author;
      }
      return std::nullopt;
    }
    case v1::Operation::kAdmit: {
      if (auto why = not_current()) return why;
      v1::MemberCardBody parsed;
      if (!parsed.ParseFromString(op.admit().card().body()))
        return Error(Errc::malformed_body, "admit: the card does not parse");
      auto named = NodeId::from_raw(parsed.node_id());
      if (!named) return Error(Errc::malformed_body, "admit: the card names no 32-byte member id");
      const NodeId target = *named;
      auto signed_body = check_card(op.admit().card(), federation, target, &target);
      if (!signed_body.ok()) return Error(signed_body.error().code, "admit: " + signed_body.error().detail);
      MemberState& m = members_[target];
      m.id = target;
      if (m.keys.empty()) m.keys[Seq{1}] = target;
      if (m.cut)
        return Error(Errc::not_authorised, "admit: member " + short_hex(target) + " was " + m.cut_reason +
                                               "; a removed member comes back only under a new identity");
      m.admissions.emplace(author, d.seq);  // the first counting one of this author
      if (m.admitted) return std::nullopt;  // a late admission: nothing to add to the state
      if (m.admitted_by.empty() || newer_card(op.admit().card(), m.card)) m.card = op.admit().card();
      m.admitted_by.insert(author);
      if (m.admitted_by.size() >= quorum_) {
        m.admitted = true;
        v1::MemberCardBody admitted_body;
        (void)admitted_body.ParseFromString(m.card.body());
        m.role = admitted_body.role();
      }
      return std::nullopt;
    }
    case v1::Operation::kRemove: {
      if (auto why = not_current()) return why;
      auto target = NodeId::from_raw(op.remove().member());
      if (!target) return Error(Errc::malformed_body, "remove: names no 32-byte member id");
      if (*target == author)
        return Error(Errc::not_authorised, "remove: a member does not vote on its own removal; it leaves instead");
      auto it = members_.find(*target);
      if (it == members_.end() || !admitted_in(*target, past))
        return Error(Errc::not_found,
                     "remove: " + short_hex(*target) + " is not an admitted member (in the removal's causal past)");
      MemberState& m = it->second;
      if (m.cut) return std::nullopt;  // decided already
      m.removal_votes[author] = Seq{op.remove().last_seq()};
      if (m.removal_votes.size() >= quorum_) {
        std::vector<Seq> seqs;
        for (const auto& [voter, s] : m.removal_votes) seqs.push_back(s);
        m.cut = quorum_th_largest(std::move(seqs), quorum_);
        m.cut_reason = "removed";
      }
      return std::nullopt;
    }
    case v1::Operation::kLeave: {
      if (auto why = not_current()) return why;
      MemberState& m = members_.at(author);
      m.cut = d.seq;
      m.cut_reason = "left";
      return std::nullopt;
    }
    case v1::Operation::kRotate: {
      if (auto why = not_current()) return why;
      const auto& r = op.rotate();
      if (auto why = check_new_key(members_, author, r.new_identity_key(), r.new_key_proof(), "rotate")) return why;
      if ((!r.new_seal_key().empty() && r.new_seal_key().size() != 32) ||
          (!r.new_noise_static_key().empty() && r.new_noise_static_key().size() != 32))
        return Error(Errc::malformed_body, "rotate: a seal or Noise key that is not 32 bytes");
      MemberState& m = members_.at(author);
      m.keys[d.seq.next()] = *NodeId::from_raw(r.new_identity_key());
      // A rotation at seq s supersedes any later key a Rekey set earlier in
      // the replay (none can: a Rekey beyond s would follow it), but keep the
      // map ordered by seq only.
      for (auto it = m.keys.upper_bound(d.seq.next()); it != m.keys.end();) it = m.keys.erase(it);
      if (!r.new_seal_key().empty()) m.seal_key = r.new_seal_key();
      if (!r.new_noise_static_key().empty()) m.noise_static_key = r.new_noise_static_key();
      return std::nullopt;
    }
    case v1::Operation::kRekey: {
      if (auto why = not_current()) return why;
      const auto& r = op.rekey();
      auto target = NodeId::from_raw(r.member());
      if (!target) return Error(Errc::malformed_body, "rekey: names no 32-byte member id");
      if (*target == author) return Error(Errc::not_authorised, "rekey: a member holding its key rotates it instead");
      auto it = members_.find(*target);
      if (it == members_.end() || !admitted_in(*target, past))
        return Error(Errc::not_found,
                     "rekey: " + short_hex(*target) + " is not an admitted member (in the rekey's causal past)");
      if (auto why = check_new_key(members_, *target, r.new_key(), r.new_key_proof(), "rekey")) return why;
      MemberState& m = it->second;
      NodeId key = *NodeId::from_raw(r.new_key());
      m.rekey_votes[author] = {key, Seq{r.last_seq()}};
      std::vector<Seq> seqs;
      for (const auto& [voter, vote] : m.rekey_votes)
        if (vote.first == key) seqs.push_back(vote.second);
      if (seqs.size() >= quorum_) {
        Seq last = quorum_th_largest(std::move(seqs), quorum_);
        for (auto k = m.keys.upper_bound(last); k != m.keys.end();) k = m.keys.erase(k);
        m.keys[last.next()] = key;
        m.rekey_votes.clear();
      }
      return std::nullopt;
    }
    case v1::Operation::kCardUpdate: {
      if (auto why = not_current()) return why;
      MemberState& m = members_.at(author);
      auto body = check_card(op.card_update().card(), federation, key_at(author, d.seq), &author);
      if (!body.ok()) return Error(body.error().code, "card update: " + body.error().detail);
      if (body->role() != m.role)
        return Error(Errc::not_authorised, "card update: the role stays the one the member was admitted with");
      m.card = op.card_update().card();
      return std::nullopt;
    }
    default:
      return Error(Errc::malformed_body, "not a membership operation");
  }
}

// ------------------------------------------------------------------- reads

Standing ReplicatedRoster::standing(const NodeId& origin, Seq seq) const {
  auto it = members_.find(origin);
  if (it == members_.end() || !it->second.admitted) return {};
  const MemberState& m = it->second;
  if (m.cut && seq > *m.cut)
    return Standing{m.role, Errc::not_authorised,
                    "its origin was " + m.cut_reason + " after seq " + std::to_string(m.cut->value) +
                        ": nothing it wrote later counts (DESIGN §2)"};
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
