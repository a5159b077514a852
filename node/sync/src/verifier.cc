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
  bool signature_holds(const VerifiedDelta& d) const override {
    return verify_signature(d.origin, SigningDomain::delta, d.signed_delta.body(),
                            d.signed_delta.signature());
  }
};

std::string at(const VerifiedDelta& d) {
  return "delta " + std::to_string(d.seq.value) + " of " + d.origin.hex().substr(0, 16);
}

}  // namespace

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
  // Live deltas are signed one by one, so the last signature nearly always
  // holds; a bulk import signs only its last delta. Trying a few keeps a
  // peer from making us verify a whole batch of bad signatures.
  std::size_t tries = 0;
  for (std::size_t i = out.deltas.size(); i > 0 && tries < kMaxSignatureTries; --i, ++tries) {
    if (verifier.signature_holds(out.deltas[i - 1])) {
      out.covered = i;
      break;
    }
  }
  return out;
}

}  // namespace conect::sync
