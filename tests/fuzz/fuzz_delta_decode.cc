// Fuzz target: every path a delta from the network takes before it is stored
// (decode_delta, verify_single, verify_range) and what the merge then does
// with its operations (op_target, fold_record, Replica::apply).
//
// Input: the whole input is tried as one SignedDelta; it is also split into
// frames (u16 big-endian length || bytes, at most 16) tried as a range of
// one origin's chain. Besides "no crash, no sanitizer report", it checks
// properties a broken decoder would violate, and traps on any.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "conect/crdt/delta.h"
#include "conect/crdt/merge.h"
#include "conect/crdt/replica.h"
#include "conect/crdt/testkit/author.h"
#include "fuzz_check.h"

namespace {

using namespace conect;

const FederationId& federation() {
  static const FederationId f = testkit::test_federation();
  return f;
}

// What the merge does with a decoded delta's operations must not depend on
// anything but the operations: folding twice gives the same bytes.
void fold_ops(const VerifiedDelta& d) {
  for (int i = 0; i < d.body.ops_size() && i < 64; ++i) {
    auto key = op_target(d.body.ops(i));
    if (!key.ok()) continue;
    FUZZ_CHECK(RecordKey::decode(key->encode()) == *key);
    PositionedOp p{d.origin, d.seq, d.hlc, static_cast<std::uint32_t>(i), d.id, d.body.ops(i)};
    std::string a = serialize_state(fold_record(*key, {p}, empty_fold_context()));
    std::string b = serialize_state(fold_record(*key, {p, p}, empty_fold_context()));
    FUZZ_CHECK(a == b);
    v1::RecordState back;
    FUZZ_CHECK(back.ParseFromString(a));  // a state always parses back (UTF-8 and all)
  }
}

void single(std::string_view bytes) {
  auto d = decode_delta(federation(), bytes);
  if (!d.ok()) return;
  FUZZ_CHECK(d->seq.value >= 1);
  FUZZ_CHECK(d->id == compute_delta_id(d->signed_delta.body(), d->signed_delta.signature()));
  FUZZ_CHECK(d->signed_delta.signature().size() == 64);
  if (d->seq.value == 1) FUZZ_CHECK(d->prev.is_zero() && d->signed_delta.body().size() > 0);
  auto v = verify_single(federation(), d->signed_delta);
  if (v.ok()) {
    FUZZ_CHECK(v->id == d->id);
    Replica r;
    Status s = r.apply(*v);
    FUZZ_CHECK(s.ok() || s.error().is(Errc::sequence_gap) || s.error().is(Errc::broken_chain) ||
               s.error().is(Errc::malformed_body));
    if (s.ok()) FUZZ_CHECK(r.apply(*v).ok());  // a duplicate is harmless
  }
  fold_ops(*d);
}

void range(std::string_view bytes) {
  std::vector<v1::SignedDelta> frames;
  while (bytes.size() >= 2 && frames.size() < 16) {
    std::size_t len = (static_cast<unsigned char>(bytes[0]) << 8) | static_cast<unsigned char>(bytes[1]);
    bytes.remove_prefix(2);
    if (len > bytes.size()) break;
    v1::SignedDelta sd;
    if (sd.ParseFromArray(bytes.data(), static_cast<int>(len))) frames.push_back(std::move(sd));
    bytes.remove_prefix(len);
  }
  if (frames.empty()) return;
  DeltaId expected{};
  if (auto first = decode_delta(federation(), frames.front()); first.ok()) expected = first->prev;
  auto r = verify_range(federation(), expected, frames);
  if (!r.ok()) return;
  const auto& ds = r.value();
  FUZZ_CHECK(ds.size() == frames.size());
  for (std::size_t i = 1; i < ds.size(); ++i) {
    FUZZ_CHECK(ds[i].origin == ds[0].origin);
    FUZZ_CHECK(ds[i].seq.value == ds[i - 1].seq.value + 1);
    FUZZ_CHECK(ds[i].prev == ds[i - 1].id);
  }
  FUZZ_CHECK(verify_single(federation(), ds.back().signed_delta).ok());
  if (ds.front().seq.value == 1) {
    Replica rep;
    for (const auto& d : ds) {
      Status s = rep.apply(d);
      FUZZ_CHECK(s.ok() || s.error().is(Errc::sequence_gap) || s.error().is(Errc::broken_chain) ||
                 s.error().is(Errc::malformed_body));
      if (!s.ok()) break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  single(bytes);
  range(bytes);
  return 0;
}
