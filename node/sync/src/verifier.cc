#include "conect/sync/verifier.h"

#include <string>

#include "conect/crdt/identity.h"

namespace conect::sync {
namespace {

class DefaultVerifier final : public DeltaVerifier {
 public:
  Result<VerifiedDelta> decode(const FederationId& federation, v1::SignedDelta delta) const override {
    return decode_delta(federation, std::move(delta));
  }
  bool signature_holds(const VerifiedDelta& d) const override { return signature_holds_under(d, d.origin); }
};

// The new identity key a delta's own Rotate names, if any.
std::optional<NodeId> rotation_in(const VerifiedDelta& d) {
  for (const auto& op : d.body.ops())
    if (op.has_rotate())
      if (auto k = NodeId::from_raw(op.rotate().new_identity_key())) return k;
  return std::nullopt;
}

std::string at(const VerifiedDelta& d) {
  return "delta " + std::to_string(d.seq.value) + " of " + d.origin.hex().substr(0, 16);
}

}  // namespace

NodeId DeltaVerifier::key_at(const NodeId& origin, Seq) const { return origin; }

bool DeltaVerifier::signature_holds_under(const VerifiedDelta& d, const NodeId& key) const {
  return verify_signature(key, SigningDomain::delta, d.signed_delta.body(), d.signed_delta.signature());
}

void RosterVerifier::set_roster(std::shared_ptr<const ReplicatedRoster> roster) {
  std::lock_guard lock(mu_);
  roster_ = std::move(roster);
}

Result<VerifiedDelta> RosterVerifier::decode(const FederationId& federation, v1::SignedDelta delta) const {
  return decode_delta(federation, std::move(delta));
}

bool RosterVerifier::signature_holds(const VerifiedDelta& d) const {
  return signature_holds_under(d, key_at(d.origin, d.seq));
}

NodeId RosterVerifier::key_at(const NodeId& origin, Seq seq) const {
  std::lock_guard lock(mu_);
  return roster_ ? roster_->key_at(origin, seq) : origin;
}

const DeltaVerifier& default_verifier() {
  static const DefaultVerifier v;
  return v;
}

Result<CheckedRange> check_range(const DeltaVerifier& verifier, const FederationId& federation,
                                 std::uint64_t first_seq, std::vector<v1::SignedDelta> deltas,
                                 const VerifiedDelta* extend) {
  CheckedRange out;
  out.deltas.reserve(deltas.size());
  const VerifiedDelta* before = extend;
  for (auto& sd : deltas) {
    auto d = verifier.decode(federation, std::move(sd));
    if (!d.ok()) return d.error();
    const std::uint64_t want = first_seq + out.deltas.size();
    if (d->seq.value != want)
      return Error(Errc::sequence_gap, at(*d) + " arrived where seq " + std::to_string(want) + " belongs");
    if (before != nullptr) {
      if (d->origin != before->origin) return Error(Errc::malformed_body, "range mixes origins at " + at(*d));
      if (d->prev != before->id) return Error(Errc::broken_chain, at(*d) + " does not link to the delta before it");
    }
    out.deltas.push_back(std::move(d.value()));
    before = &out.deltas.back();
  }
  // Keys per delta: the roster's, unless a rotation inside the range (its
  // delta's own signature holding under the key before it) changed it.
  std::vector<std::optional<NodeId>> rotated(out.deltas.size());
  std::optional<NodeId> current;
  Seq rotated_at{};
  for (std::size_t i = 0; i < out.deltas.size(); ++i) {
    const VerifiedDelta& d = out.deltas[i];
    if (current && verifier.key_at(d.origin, d.seq) == verifier.key_at(d.origin, rotated_at)) rotated[i] = current;
    if (auto next = rotation_in(d)) {
      bool own = rotated[i] ? verifier.signature_holds_under(d, *rotated[i]) : verifier.signature_holds(d);
      if (own) {
        current = next;
        rotated_at = d.seq;
      }
    }
  }
  auto holds = [&](std::size_t i) {
    return rotated[i] ? verifier.signature_holds_under(out.deltas[i], *rotated[i])
                      : verifier.signature_holds(out.deltas[i]);
  };
  // Live deltas are signed one by one, so the last signature nearly always
  // holds; a bulk import signs only its last delta. Trying a few keeps a
  // peer from making us verify a whole batch of bad signatures.
  std::size_t tries = 0;
  for (std::size_t i = out.deltas.size(); i > 0 && tries < kMaxSignatureTries; --i, ++tries) {
    if (holds(i - 1)) {
      out.covered = i;
      break;
    }
  }
  return out;
}

}  // namespace conect::sync
