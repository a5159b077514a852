#include "conect/crdt/delta.h"

#include <sodium.h>

namespace conect {
namespace {

void append_u32be(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

std::size_t varint_bytes(std::size_t v) {
  std::size_t n = 1;
  for (; v >= 0x80; v >>= 7) ++n;
  return n;
}

// Encoded size of a SignedDelta holding body and signature and nothing else
// (proto3 leaves an empty bytes field out; both tags are one byte).
std::size_t bare_wrapper_bytes(const v1::SignedDelta& d) {
  std::size_t n = 0;
  if (!d.body().empty()) n += 1 + varint_bytes(d.body().size()) + d.body().size();
  if (!d.signature().empty()) n += 1 + varint_bytes(d.signature().size()) + d.signature().size();
  return n;
}

std::string seq_label(const VerifiedDelta& d) {
  return "delta " + std::to_string(d.seq.value) + " of " + d.origin.hex().substr(0, 16);
}

}  // namespace

DeltaId compute_delta_id(std::string_view body, std::string_view signature) {
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, DeltaId::size());
  std::string len;
  append_u32be(len, static_cast<std::uint32_t>(body.size()));
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(len.data()), len.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(body.data()), body.size());
  len.clear();
  append_u32be(len, static_cast<std::uint32_t>(signature.size()));
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(len.data()), len.size());
  crypto_generichash_update(&st, reinterpret_cast<const unsigned char*>(signature.data()), signature.size());
  DeltaId id;
  crypto_generichash_final(&st, id.data(), id.size());
  return id;
}

VerifiedDelta build_delta(const KeyPair& key, const FederationId& federation, Seq seq, const DeltaId& prev, Hlc hlc,
                          const DeltaDraft& draft) {
  return build_delta(key, key.public_key(), federation, seq, prev, hlc, draft);
}

VerifiedDelta build_delta(const KeyPair& key, const NodeId& origin, const FederationId& federation, Seq seq,
                          const DeltaId& prev, Hlc hlc, const DeltaDraft& draft) {
  VerifiedDelta d;
  d.body.set_federation(federation.raw());
  d.body.set_origin(origin.raw());
  d.body.set_seq(seq.value);
  if (seq.value > 1) d.body.set_prev(prev.raw());
  d.body.set_hlc(hlc.value);
  for (const auto& op : draft.ops) *d.body.add_ops() = op;
  for (const auto& dep : draft.deps) *d.body.add_deps() = dep;

  std::string body_bytes;
  d.body.SerializeToString(&body_bytes);
  Signature sig = key.sign(SigningDomain::delta, body_bytes);
  d.id = compute_delta_id(body_bytes, sig.raw());
  d.signed_delta.set_body(std::move(body_bytes));
  d.signed_delta.set_signature(sig.raw());
  d.origin = origin;
  d.seq = seq;
  d.hlc = hlc;
  d.prev = seq.value > 1 ? prev : DeltaId{};
  return d;
}

Result<VerifiedDelta> decode_delta(const FederationId& federation, std::string_view signed_bytes) {
  if (signed_bytes.size() > kMaxDeltaBytes)
    return Error(Errc::limit_exceeded, "signed delta of " + std::to_string(signed_bytes.size()) +
                                           " bytes exceeds the limit of " + std::to_string(kMaxDeltaBytes));
  v1::SignedDelta sd;
  if (!sd.ParseFromArray(signed_bytes.data(), static_cast<int>(signed_bytes.size())))
    return Error(Errc::malformed_body, "signed delta does not parse");
  return decode_delta(federation, std::move(sd));
}

Result<VerifiedDelta> decode_delta(const FederationId& federation, v1::SignedDelta signed_delta) {
  if (signed_delta.body().size() + signed_delta.signature().size() > kMaxDeltaBytes)
    return Error(Errc::limit_exceeded,
                 "signed delta exceeds the limit of " + std::to_string(kMaxDeltaBytes) + " bytes");
  VerifiedDelta d;
  if (!d.body.ParseFromString(signed_delta.body())) return Error(Errc::malformed_body, "delta body does not parse");
  if (signed_delta.signature().size() != crypto_sign_BYTES)
    return Error(Errc::malformed_body, "signature is not 64 bytes");
  auto origin = NodeId::from_raw(d.body.origin());
  if (!origin) return Error(Errc::malformed_body, "origin is not a 32-byte node id");
  d.origin = *origin;
  d.seq = Seq{d.body.seq()};
  d.hlc = Hlc{d.body.hlc()};
  if (d.seq.value == 0) return Error(Errc::malformed_body, "sequence number 0 of " + origin->hex().substr(0, 16));
  if (d.body.federation() != federation.raw())
    return Error(Errc::wrong_federation,
                 seq_label(d) + " belongs to federation " + to_hex(d.body.federation()) + ", not " + federation.hex());
  if (d.seq.value == 1) {
    if (!d.body.prev().empty()) return Error(Errc::malformed_body, seq_label(d) + ": first delta names a predecessor");
  } else {
    auto prev = DeltaId::from_raw(d.body.prev());
    if (!prev) return Error(Errc::malformed_body, seq_label(d) + ": prev is not a 32-byte delta id");
    d.prev = *prev;
  }
  d.id = compute_delta_id(signed_delta.body(), signed_delta.signature());
  d.signed_delta = std::move(signed_delta);
  strip_wrapper(d.signed_delta);
  return d;
}

bool wrapper_is_bare(const v1::SignedDelta& d) { return d.ByteSizeLong() == bare_wrapper_bytes(d); }

bool strip_wrapper(v1::SignedDelta& d) {
  // Only body and signature are signed and hashed into the id: anything else
  // in the wrapper (unknown fields, padding) is a peer's addition that would
  // otherwise be stored in every log and relayed to every node. Comparing
  // sizes costs nothing in the common case; re-encode only when they differ.
  if (wrapper_is_bare(d)) return false;
  v1::SignedDelta bare;
  bare.set_body(std::move(*d.mutable_body()));
  bare.set_signature(std::move(*d.mutable_signature()));
  d = std::move(bare);
  return true;
}

namespace {
bool signature_holds(const VerifiedDelta& d) {
  return verify_signature(d.origin, SigningDomain::delta, d.signed_delta.body(), d.signed_delta.signature());
}
}  // namespace

Result<VerifiedDelta> verify_single(const FederationId& federation, v1::SignedDelta signed_delta) {
  auto d = decode_delta(federation, std::move(signed_delta));
  if (!d.ok()) return d;
  if (!signature_holds(*d)) return Error(Errc::bad_signature, seq_label(*d) + ": signature does not verify");
  return d;
}

Result<std::vector<VerifiedDelta>> verify_range(const FederationId& federation, const DeltaId& expected_prev,
                                                std::vector<v1::SignedDelta> range) {
  std::vector<VerifiedDelta> out;
  out.reserve(range.size());
  if (range.empty()) return out;
  for (auto& sd : range) {
    auto d = decode_delta(federation, std::move(sd));
    if (!d.ok()) return d.error();
    if (!out.empty()) {
      const VerifiedDelta& before = out.back();
      if (d->origin != before.origin) return Error(Errc::malformed_body, "range mixes origins at " + seq_label(*d));
      if (d->seq.value != before.seq.value + 1)
        return Error(Errc::sequence_gap, "range jumps from seq " + std::to_string(before.seq.value) + " to " +
                                             std::to_string(d->seq.value) + " of " + d->origin.hex().substr(0, 16));
      if (d->prev != before.id)
        return Error(Errc::broken_chain, seq_label(*d) + " does not link to the delta before it");
    } else if (d->prev != expected_prev) {
      return Error(Errc::broken_chain, seq_label(*d) + " does not link to the stored head");
    }
    out.push_back(std::move(d.value()));
  }
  if (!signature_holds(out.back()))
    return Error(Errc::bad_signature, seq_label(out.back()) + ": signature does not verify");
  return out;
}

}  // namespace conect
