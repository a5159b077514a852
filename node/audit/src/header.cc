// The content digest and format 2's signed header (docs/audit.md, "Content
// digest" and "The signed header").
#include "header.h"

#include <algorithm>
#include <vector>

#include "conect/crdt/delta.h"

namespace conect::audit {
namespace {

constexpr std::string_view kDigestLabel = "conect/audit-content/v1";

void put_u64be(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

DeltaId id_of(const v1::SignedDelta& d) { return compute_delta_id(d.body(), d.signature()); }

// A proof is the same evidence whichever delta a node recorded first.
Hash256 evidence_id(const v1::EquivocationEvidence& e) {
  DeltaId a = id_of(e.first()), b = id_of(e.second());
  if (b < a) std::swap(a, b);
  return blake2b256(a.raw() + b.raw());
}

void append_sorted(std::string& out, std::vector<std::string> ids) {
  std::sort(ids.begin(), ids.end());
  put_u64be(out, ids.size());
  for (const auto& id : ids) out += id;
}

}  // namespace

Hash256 content_digest(const v1::AuditBundle& bundle) {
  std::vector<std::string> deltas, evidence;
  for (const auto& chain : bundle.chains())
    for (const auto& d : chain.deltas()) deltas.push_back(id_of(d).raw());
  for (const auto& e : bundle.equivocations()) evidence.push_back(evidence_id(e).raw());
  std::string in(kDigestLabel);
  in += bundle.federation();
  append_sorted(in, std::move(deltas));
  append_sorted(in, std::move(evidence));
  return blake2b256(in);
}

namespace detail {

void sign_header(v1::AuditBundle& bundle, v1::AuditSelection selection, const KeyPair& exporter, std::uint64_t now_ms) {
  bundle.set_format_version(kFormatVersion);
  bundle.clear_selection();
  bundle.clear_exported_at_ms();
  bundle.clear_exported_by();
  v1::AuditHeader h;
  h.set_format_version(kFormatVersion);
  h.set_federation(bundle.federation());
  h.set_exported_by(exporter.public_key().raw());
  h.set_exported_at_ms(now_ms);
  *h.mutable_selection() = std::move(selection);
  h.set_content_digest(content_digest(bundle).raw());
  h.SerializeToString(bundle.mutable_header());
  bundle.set_header_signature(exporter.sign(SigningDomain::audit_header, bundle.header()).raw());
}

namespace {

void fail(VerifyReport& r, std::string reason, std::string detail, std::optional<NodeId> who = {}) {
  r.failures.push_back({std::move(reason), "bundle header", std::move(detail), who, 0});
}

// Format 2: everything the header promises, in docs/audit.md's order.
void check_signed_header(const v1::AuditBundle& b, const std::function<bool(const NodeId&)>& on_roster,
                         VerifyReport& r) {
  if (b.has_selection() || b.exported_at_ms() != 0 || !b.exported_by().empty())
    return fail(r, "malformed_body",
                "a format 2 bundle carries unsigned export fields (6-8); they belong in the header");
  v1::AuditHeader h;
  if (b.header().empty() || !h.ParseFromString(b.header()))
    return fail(r, "malformed_body", "the bundle has no readable header (field 9)");
  auto by = NodeId::from_raw(h.exported_by());
  if (h.format_version() != b.format_version() || !by || h.content_digest().size() != Hash256::size())
    return fail(r, "malformed_body",
                "the header's format version, exporter id (32 bytes) or content digest (32 bytes) is malformed");
  r.exported_by = by;
  r.exported_at_ms = h.exported_at_ms();
  r.selection = h.selection();
  if (h.federation() != b.federation())
    return fail(r, "wrong_federation", "the header names federation " + to_hex(h.federation()), by);
  if (!verify_signature(*by, SigningDomain::audit_header, b.header(), b.header_signature()))
    return fail(r, "bad_signature",
                "the exporter's signature over the header does not verify: who exported it, when, or what was "
                "selected was altered",
                by);
  if (h.content_digest() != r.content_digest.raw())
    return fail(r, "content_digest_mismatch",
                "the content is not what the exporter signed (its digest is " + r.content_digest.hex() +
                    ", the header says " + to_hex(h.content_digest()) +
                    "): deltas or evidence were added, removed or changed since the export",
                by);
  r.header_signed = true;
  if (!on_roster(*by))
    r.warnings.push_back({"exporter_not_on_roster", "bundle header",
                          "the exporter " + by->hex() +
                              " has no valid card in the bundle: its signature shows only which key exported it",
                          by, 0});
}

// Format 1 is what 0.2.0 exported: no signed header, and none of the
// operations later versions write. A format 2 bundle relabelled as 1 (two
// bytes) would shed the header's signature, and with it the check that no
// chain was cut: refused for what gives it away.
void check_format_1(const v1::AuditBundle& b, VerifyReport& r) {
  if (!b.header().empty() || !b.header_signature().empty())
    return fail(r, "downgraded_format",
                "the bundle says format 1 but carries a signed header (fields 9-10), which only format 2 has: it "
                "was relabelled, and a format 1 bundle's content is not signed by its exporter");
  for (const auto& chain : b.chains())
    for (const auto& sd : chain.deltas()) {
      v1::DeltaBody body;
      if (!body.ParseFromString(sd.body())) continue;  // the chain check names an unreadable delta
      for (const auto& op : body.ops()) {
        const auto kind = op.op_case();
        if (kind == v1::Operation::kSealKey || kind == v1::Operation::kEnvelopeAck ||
            (kind >= v1::Operation::kFound && kind <= v1::Operation::kCardUpdate))
          return fail(r, "downgraded_format",
                      "the bundle says format 1 (0.2.0's, unsigned) but holds operations 0.2.0 never wrote (delta " +
                          std::to_string(body.seq()) + " of " + to_hex(body.origin()).substr(0, 16) +
                          "): a later version exported it with a signed header, and it was relabelled so that "
                          "nothing checks what was cut from it");
      }
    }
}

}  // namespace

void check_header(const v1::AuditBundle& b, const std::function<bool(const NodeId&)>& on_roster, VerifyReport& r) {
  r.format_version = b.format_version();
  r.content_digest = content_digest(b);
  if (b.format_version() >= 2) return check_signed_header(b, on_roster, r);
  check_format_1(b, r);
  r.selection = b.selection();
  r.exported_at_ms = b.exported_at_ms();
  r.exported_by = NodeId::from_raw(b.exported_by());
}

}  // namespace detail
}  // namespace conect::audit
