// verify_bundle: every check of docs/audit.md, "Verification", in order:
// roster cards, each origin's chain, the fold (authorship rules and
// dependencies), equivocation evidence, confirmations, then the summary.
#include <algorithm>
#include <map>
#include <set>

#include "conect/audit/audit.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/membership.h"
#include "conect/crdt/replica.h"
#include "delta.pb.h"
#include "header.h"

namespace conect::audit {
namespace {

std::string short_id(const NodeId& id) { return id.hex().substr(0, 16); }
std::string delta_where(const NodeId& origin, std::uint64_t seq) {
  return "delta " + std::to_string(seq) + " of " + short_id(origin);
}

std::string lower_enum(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct Member {
  std::string name, country, role;
};

// One origin's chain after the chain checks: the authentic prefix.
struct CheckedChain {
  NodeId origin;
  std::vector<VerifiedDelta> authentic;
  bool valid = true;
};

class Verifier {
 public:
  Verifier(const v1::AuditBundle& b, const Progress& progress) : bundle_(b), progress_(progress) {
    for (const auto& c : b.chains()) total_deltas_ += static_cast<std::uint64_t>(c.deltas_size());
  }

  bool cancelled() const { return cancelled_; }

  VerifyReport run() {
    auto fed = FederationId::from_raw(bundle_.federation());
    if (!fed) {
      const auto nobody = [](const NodeId&) { return false; };
      detail::check_header(bundle_, nobody, r_);
      fail(Errc::malformed_body, "bundle", "the bundle's federation id is not 16 bytes");
      r_.verdict = Verdict::fail;
      return std::move(r_);
    }
    r_.federation = *fed;
    check_roster();
    derive_keys();
    const auto on_roster = [this](const NodeId& id) { return roster_.contains(id); };
    detail::check_header(bundle_, on_roster, r_);
    check_chains();
    fold();
    check_evidence();
    check_confirmations();
    summarise();
    r_.verdict = !r_.failures.empty()                           ? Verdict::fail
                 : !r_.warnings.empty() || !r_.rejected.empty() ? Verdict::pass_with_warnings
                                                                : Verdict::pass;
    return std::move(r_);
  }

 private:
  void fail(Errc e, std::string where, std::string detail, std::optional<NodeId> origin = {}, std::uint64_t seq = 0) {
    r_.failures.push_back({errc_name(e), std::move(where), std::move(detail), origin, seq});
  }
  void warn(std::string reason, std::string where, std::string detail, std::optional<NodeId> origin = {},
            std::uint64_t seq = 0) {
    r_.warnings.push_back({std::move(reason), std::move(where), std::move(detail), origin, seq});
  }

  void check_roster() {
    LocalRoster roles;
    for (int i = 0; i < bundle_.roster_size(); ++i) {
      const auto& card = bundle_.roster(i);
      const std::string where = "member card #" + std::to_string(i + 1);
      v1::MemberCardBody body;
      if (!body.ParseFromString(card.body())) {
        fail(Errc::malformed_body, where, "the card body does not decode");
        continue;
      }
      auto id = NodeId::from_raw(body.node_id());
      if (!id) {
        fail(Errc::malformed_body, where, "the card names no 32-byte node id");
        continue;
      }
      const std::string w = "member " + short_id(*id) + " (" + body.name() + ")";
      if (!verify_signature(*id, SigningDomain::member_card, card.body(), card.signature())) {
        fail(Errc::bad_signature, w, "the member card's self-signature does not verify: forged or altered", *id);
        continue;
      }
      if (body.federation() != r_.federation.raw()) {
        fail(Errc::wrong_federation, w,
             "the card belongs to federation " + to_hex(body.federation()) + ", not " + r_.federation.hex(), *id);
        continue;
      }
      roster_.emplace(*id, Member{body.name(), body.country(), lower_enum(v1::MemberRole_Name(body.role()))});
      roles.set(*id, body.role());
    }
    // The merge reads the roles (an auditor authors nothing), as every node does.
    replica_.set_roster(std::move(roles));
  }

  // Which key signed each member's deltas (docs/membership.md): the
  // replicated roster of the bundle's membership deltas, built only from
  // membership deltas whose own signature holds under the key the roster
  // built so far names for them (so a forged Rotate cannot vouch for
  // itself), repeated until nothing more verifies.
  void derive_keys() {
    std::vector<MembershipDelta> candidates;
    for (const auto& chain : bundle_.chains())
      for (const auto& sd : chain.deltas()) {
        auto d = decode_delta(r_.federation, sd);
        if (d.ok() && carries_membership(d->body)) candidates.push_back(MembershipDelta::from(*d));
      }
    std::vector<bool> taken(candidates.size(), false);
    std::vector<MembershipDelta> trusted;
    for (bool grew = true; grew;) {
      grew = false;
      for (std::size_t i = 0; i < candidates.size(); ++i) {
        if (taken[i]) continue;
        const auto& c = candidates[i];
        const v1::SignedDelta* sd = nullptr;
        for (const auto& chain : bundle_.chains())
          if (chain.origin() == c.origin.raw() && c.seq.value >= 1 &&
              c.seq.value <= static_cast<std::uint64_t>(chain.deltas_size()))
            sd = &chain.deltas(static_cast<int>(c.seq.value - 1));
        if (!sd || !verify_signature(keys_.key_at(c.origin, c.seq), SigningDomain::delta, sd->body(), sd->signature()))
          continue;
        taken[i] = true;
        trusted.push_back(c);
        grew = true;
      }
      if (grew) keys_ = ReplicatedRoster::derive(r_.federation, trusted);
    }
  }

  void check_chains() {
    std::set<NodeId> seen;
    for (int i = 0; i < bundle_.chains_size(); ++i) {
      const auto& chain = bundle_.chains(i);
      auto origin = NodeId::from_raw(chain.origin());
      if (!origin) {
        fail(Errc::malformed_body, "chain #" + std::to_string(i + 1), "the chain names no 32-byte origin");
        continue;
      }
      if (!seen.insert(*origin).second) {
        fail(Errc::malformed_body, "chain of " + short_id(*origin), "the bundle holds two chains of this origin",
             *origin);
        continue;
      }
      CheckedChain checked = check_chain(*origin, chain);
      if (!roster_.contains(*origin)) {
        fail(Errc::unknown_origin, "chain of " + short_id(*origin),
             "origin " + origin->hex() +
                 " has no valid member card in the bundle's roster: no node accepts its "
                 "deltas",
             *origin);
        checked.valid = false;
        checked.authentic.clear();  // nodes never hold deltas of origins they do not trust
      }
      chains_.push_back(std::move(checked));
    }
  }

  CheckedChain check_chain(const NodeId& origin, const v1::AuditChain& chain) {
    CheckedChain out{origin, {}, true};
    std::vector<VerifiedDelta> decoded;
    std::vector<bool> sig_ok;
    for (int i = 0; i < chain.deltas_size() && tick("check"); ++i) {
      const std::uint64_t want = static_cast<std::uint64_t>(i) + 1;
      auto d = decode_delta(r_.federation, chain.deltas(i));
      if (!d.ok()) {
        fail(static_cast<Errc>(d.error().code.value()), delta_where(origin, want), d.error().detail, origin, want);
        out.valid = false;
        break;
      }
      if (d->origin != origin) {
        fail(Errc::malformed_body, delta_where(origin, want),
             // In full: the two may differ only after the short id's 16 characters.
             "the chain labelled " + origin.hex() + " holds a delta of " + d->origin.hex(), origin, want);
        out.valid = false;
        break;
      }
      if (d->seq.value != want) {
        fail(Errc::sequence_gap, delta_where(origin, want),
             "expected seq " + std::to_string(want) + ", found seq " + std::to_string(d->seq.value) +
                 ": a delta is missing, duplicated or out of order",
             origin, want);
        out.valid = false;
        break;
      }
      if (!decoded.empty() && d->prev != decoded.back().id) {
        fail(Errc::broken_chain, delta_where(origin, want),
             "its prev link is not the id of delta " + std::to_string(want - 1) +
                 ": a delta before it was altered or replaced",
             origin, want);
        out.valid = false;
        break;
      }
      sig_ok.push_back(verify_signature(keys_.key_at(origin, d->seq), SigningDomain::delta, d->signed_delta.body(),
                                        d->signed_delta.signature()));
      decoded.push_back(std::move(*d));
    }
    // DESIGN §4: a delta is authentic when its own signature or that of a
    // later delta whose links reach it holds. Every link in `decoded` holds,
    // so the authentic deltas are those up to the last valid signature.
    std::size_t covered = 0;
    for (std::size_t i = decoded.size(); i > 0; --i)
      if (sig_ok[i - 1]) {
        covered = i;
        break;
      }
    for (std::size_t i = 0; i < decoded.size(); ++i) {
      if (sig_ok[i]) continue;
      const std::uint64_t seq = i + 1;
      if (i < covered) {
        warn("inner_signature_invalid", delta_where(origin, seq),
             "its own signature does not verify, but the signature of delta " + std::to_string(covered) +
                 " covers it through the chain (the origin signed a bad signature)",
             origin, seq);
      } else {
        fail(Errc::bad_signature, delta_where(origin, seq),
             "its signature does not verify and no later signature covers it: altered or forged", origin, seq);
        out.valid = false;
      }
    }
    decoded.resize(covered);
    out.authentic = std::move(decoded);
    return out;
  }

  // Applies every authentic delta to a replica, each origin in chain order,
  // retrying those whose dependencies (other origins' deltas) come later.
  void fold() {
    std::vector<std::size_t> next(chains_.size(), 0);
    std::vector<std::string> blocked(chains_.size());
    for (bool progress = true; progress;) {
      progress = false;
      for (std::size_t c = 0; c < chains_.size(); ++c) {
        auto& chain = chains_[c];
        while (next[c] < chain.authentic.size() && tick("fold")) {
          const VerifiedDelta& d = chain.authentic[next[c]];
          Status st = replica_.apply(d);
          if (st.ok()) {
            ids_.insert(d.id);
            r_.deltas++;
            r_.operations += static_cast<std::uint64_t>(d.body.ops_size());
            ++next[c];
            progress = true;
            continue;
          }
          if (st.error().is(Errc::sequence_gap)) {
            blocked[c] = st.error().detail;
            break;
          }
          fail(static_cast<Errc>(st.error().code.value()), delta_where(d.origin, d.seq.value), st.error().detail,
               d.origin, d.seq.value);
          chain.valid = false;
          next[c] = chain.authentic.size();
        }
      }
    }
    for (std::size_t c = 0; c < chains_.size(); ++c) {
      if (next[c] >= chains_[c].authentic.size()) continue;
      const VerifiedDelta& d = chains_[c].authentic[next[c]];
      fail(Errc::sequence_gap, delta_where(d.origin, d.seq.value),
           "it names a dependency the bundle does not hold (" + blocked[c] + "): the bundle is incomplete", d.origin,
           d.seq.value);
      chains_[c].valid = false;
    }
  }

  // A delta whose signature verifies under the key its origin signed with at
  // that seq (its id until it rotated: evidence against a member that had
  // rotated was called forged).
  Result<VerifiedDelta> signed_by_its_key(const v1::SignedDelta& sd) {
    auto d = decode_delta(r_.federation, sd);
    if (!d.ok()) return d;
    if (!verify_signature(keys_.key_at(d->origin, d->seq), SigningDomain::delta, sd.body(), sd.signature()))
      return Error(Errc::bad_signature, "the signature of delta " + std::to_string(d->seq.value) + " of " +
                                            short_id(d->origin) + " does not verify under the member's key");
    return d;
  }

  Result<VerifiedDelta> evidence_delta(const v1::SignedDelta& sd,
                                       const google::protobuf::RepeatedPtrField<v1::SignedDelta>& cover) {
    auto d = signed_by_its_key(sd);
    if (d.ok()) return d;
    // A delta held in a chain is authentic when covered by a later signature.
    auto decoded = decode_delta(r_.federation, sd);
    if (decoded.ok() && ids_.contains(decoded->id)) return decoded;
    // So is one whose own cover (the deltas after it, each linking to the one
    // before, up to one whose signature verifies) comes with the evidence.
    if (decoded.ok() && covered_by(*decoded, cover)) return decoded;
    return d.error();
  }

  bool covered_by(const VerifiedDelta& d, const google::protobuf::RepeatedPtrField<v1::SignedDelta>& cover) {
    DeltaId prev = d.id;
    std::uint64_t seq = d.seq.value;
    for (const auto& sd : cover) {
      auto n = decode_delta(r_.federation, sd);
      if (!n.ok() || n->origin != d.origin || n->seq.value != seq + 1 || n->prev != prev) return false;
      if (signed_by_its_key(sd).ok()) return true;
      prev = n->id;
      seq = n->seq.value;
    }
    return false;
  }

  void check_evidence() {
    for (int i = 0; i < bundle_.equivocations_size(); ++i) {
      const auto& e = bundle_.equivocations(i);
      const std::string where = "equivocation evidence #" + std::to_string(i + 1);
      auto a = evidence_delta(e.first(), e.first_cover());
      auto b = evidence_delta(e.second(), e.second_cover());
      if (!a.ok() || !b.ok()) {
        const Error& err = !a.ok() ? a.error() : b.error();
        fail(static_cast<Errc>(err.code.value()), where, "a delta of the proof is not authentic: " + err.detail);
        continue;
      }
      if (a->origin != b->origin || a->seq != b->seq || a->id == b->id) {
        fail(Errc::invalid_argument, where,
             "the two deltas are not an equivocation (they must share origin and seq and differ in id)", a->origin,
             a->seq.value);
        continue;
      }
      Status st = replica_.apply_evidence(*a, *b);
      if (!st.ok()) {
        fail(static_cast<Errc>(st.error().code.value()), where, st.error().detail, a->origin, a->seq.value);
        continue;
      }
      r_.equivocations++;
      warn("equivocation", "member " + short_id(a->origin),
           "signed two different deltas with seq " + std::to_string(a->seq.value) +
               ": its records are frozen at the delta before the fork",
           a->origin, a->seq.value);
    }
  }

  void check_confirmations() {
    for (const auto& [key, rec] : replica_.records()) {
      if (key.type != v1::MOBILITY || !rec.state.created() || !rec.state.has_mobility()) continue;
      const auto& m = rec.state.mobility();
      const std::string where = "mobility " + key.text();
      for (const auto& c : m.confirmations()) {
        const auto& party_org =
            c.party() == v1::PARTY_HOST ? m.fixed().receiving_organisation() : m.fixed().sending_organisation();
        auto signer = NodeId::from_raw(c.signer());
        if (!signer || c.signer() != party_org.owner() || !verify_confirmation(key, c)) {
          fail(Errc::bad_signature, where,
               "a " + lower_enum(v1::ConfirmingParty_Name(c.party())) +
                   " confirmation in the merged state is not a valid signature of that party",
               signer);
          continue;
        }
        auto agreed = DeltaId::from_raw(c.agreed_delta());
        if (!agreed || !ids_.contains(*agreed))
          warn("confirmation_names_unknown_delta", where,
               "the confirmation by " + short_id(*signer) + " names a delta the bundle does not hold", *signer);
        if (c.agreed_delta() != m.agreed_delta()) {
          changed_since_[*signer]++;
          warn("changed_since_confirmed", where,
               "the agreed fields changed after " + short_id(*signer) + " confirmed them", *signer);
        } else {
          confirmed_[*signer]++;
        }
      }
    }
  }

  void summarise();

  // Counts one delta of `phase` and tells the progress callback now and then;
  // false once it asked to stop.
  bool tick(std::string_view phase) {
    if (cancelled_) return false;
    if (phase != phase_) {
      phase_ = phase;
      done_ = 0;
    }
    if (progress_ && done_ % 512 == 0 && !progress_(phase, done_, total_deltas_)) cancelled_ = true;
    ++done_;
    return !cancelled_;
  }

  const v1::AuditBundle& bundle_;
  const Progress& progress_;
  std::uint64_t total_deltas_ = 0, done_ = 0;
  std::string_view phase_;
  bool cancelled_ = false;
  VerifyReport r_;
  std::map<NodeId, Member> roster_;
  std::vector<CheckedChain> chains_;
  Replica replica_;
  ReplicatedRoster keys_;
  std::set<DeltaId> ids_;  // every delta applied
  std::map<NodeId, std::uint64_t> confirmed_, changed_since_;
};

void Verifier::summarise() {
  std::map<NodeId, InstitutionSummary> inst;
  auto at = [&](const NodeId& id) -> InstitutionSummary& {
    auto& s = inst[id];
    s.node_id = id;
    return s;
  };
  for (const auto& [id, m] : roster_) {
    auto& s = at(id);
    s.on_roster = true;
    s.name = m.name;
    s.country = m.country;
    s.role = m.role;
    s.chain_valid = true;  // no deltas: nothing that could fail
  }
  for (const auto& c : chains_) {
    auto& s = at(c.origin);
    s.chain_valid = c.valid;
    s.deltas = c.authentic.size();
    if (auto f = replica_.frozen_at(c.origin)) s.frozen_at = f->value;
  }
  auto add_rejected = [&](const v1::RejectedOp& op, const std::string& record) {
    auto origin = NodeId::from_raw(op.position().origin());
    if (!origin) return;
    r_.rejected.push_back({*origin, op.position().seq(), op.position().index(), record, op.rule(), op.detail()});
    at(*origin).rejected_operations++;
  };
  for (const auto& [key, rec] : replica_.records()) {
    const std::string record = lower_enum(v1::RecordType_Name(key.type)) + " " + key.text();
    for (const auto& op : rec.state.rejected()) add_rejected(op, record);
    if (!rec.state.created()) continue;
    r_.records.emplace(key, rec.state);
    at(key.owner).records++;
    if (key.type == v1::MOBILITY) {
      at(key.owner).mobilities_sent++;
      if (auto host = NodeId::from_raw(rec.state.mobility().fixed().receiving_organisation().owner()))
        at(*host).mobilities_received++;
    }
  }
  for (const auto& op : replica_.untargeted()) {
    auto origin = NodeId::from_raw(op.position().origin());
    if (op.rule() != errc_name(Errc::unknown_operation) || !origin) {
      add_rejected(op, "");
      continue;
    }
    // A newer conect's operation: not a fault of its origin, and no node of
    // this version gave it any effect; a newer verifier may know it.
    warn("unknown_operation", delta_where(*origin, op.position().seq()),
         "operation " + std::to_string(op.position().index()) +
             " is of a kind this verifier does not know (from a newer conect); it had no effect here",
         origin, op.position().seq());
  }
  std::sort(r_.rejected.begin(), r_.rejected.end(), [](const RejectedOperation& a, const RejectedOperation& b) {
    return std::tie(a.origin, a.seq, a.index) < std::tie(b.origin, b.seq, b.index);
  });
  for (const auto& [id, n] : confirmed_) at(id).confirmations_valid = n;
  for (const auto& [id, n] : changed_since_) at(id).confirmations_changed_since = n;
  for (auto& [id, s] : inst) r_.institutions.push_back(std::move(s));
}

}  // namespace

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::pass:
      return "PASS";
    case Verdict::pass_with_warnings:
      return "PASS_WITH_WARNINGS";
    case Verdict::fail:
      return "FAIL";
  }
  return "FAIL";
}

VerifyReport verify_bundle(const v1::AuditBundle& bundle) {
  const Progress none;
  return Verifier(bundle, none).run();
}

Result<VerifyReport> verify_bundle(const v1::AuditBundle& bundle, const Progress& progress) {
  Verifier v(bundle, progress);
  VerifyReport r = v.run();
  if (v.cancelled()) return Error(Errc::limit_exceeded, "cancelled: verification stopped before the end");
  return r;
}

Result<VerifyReport> verify_bundle(std::string_view bytes, const Progress& progress) {
  auto bundle = decode_bundle(bytes);
  if (!bundle.ok()) return bundle.error();
  return verify_bundle(*bundle, progress);
}

}  // namespace conect::audit
