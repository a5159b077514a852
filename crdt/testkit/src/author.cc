#include "conect/crdt/testkit/author.h"

namespace conect::testkit {
namespace {
// One made-up wall clock for every Author in the process, so that deltas
// emitted one after another get increasing timestamps whoever emits them.
std::uint64_t next_wall_ms() {
  static std::uint64_t now = 1'000;
  return ++now;
}
}  // namespace

KeyPair test_key(std::uint32_t n) {
  std::array<std::uint8_t, 32> seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>((n >> (8 * (i % 4))) ^ (0xa5 + i));
  return KeyPair::from_seed(seed);
}

FederationId test_federation() {
  FederationId f;
  for (std::size_t i = 0; i < f.size(); ++i) f.bytes[i] = static_cast<std::uint8_t>(0xf0 + i);
  return f;
}

Author::Author(std::uint32_t n, FederationId federation) : Author(test_key(n), federation) {}
Author::Author(const KeyPair& key, FederationId federation) : key_(key), federation_(federation) {}

RecordKey Author::next_key(v1::RecordType type, std::uint32_t index) const {
  return RecordKey::mint(type, id(), seq_.next(), index);
}

VerifiedDelta Author::emit(std::vector<v1::Operation> ops, std::vector<v1::DeltaRef> deps, std::uint64_t now_ms) {
  Hlc hlc = clock_.tick(now_ms ? now_ms : next_wall_ms());
  DeltaDraft draft{std::move(ops), std::move(deps)};
  VerifiedDelta d =
      build_delta(signer_ ? *signer_ : key_, key_.public_key(), federation_, seq_.next(), prev_, hlc, draft);
  seq_ = d.seq;
  prev_ = d.id;
  return d;
}

VerifiedDelta Author::emit_fork(std::vector<v1::Operation> ops, std::uint64_t now_ms) {
  HlcClock c = clock_;
  Hlc hlc = c.tick(now_ms ? now_ms : next_wall_ms());
  DeltaDraft draft{std::move(ops), {}};
  return build_delta(signer_ ? *signer_ : key_, key_.public_key(), federation_, seq_.next(), prev_, hlc, draft);
}

std::vector<PositionedOp> positioned_ops(const std::vector<VerifiedDelta>& deltas) {
  std::vector<PositionedOp> out;
  for (const auto& d : deltas)
    for (int i = 0; i < d.body.ops_size(); ++i)
      out.push_back(PositionedOp{d.origin, d.seq, d.hlc, static_cast<std::uint32_t>(i), d.id, d.body.ops(i)});
  return out;
}

v1::RecordState fold_from(const RecordKey& key, const std::vector<VerifiedDelta>& deltas, const RosterAt* roster) {
  DeltaSetView chains(deltas);
  const FoldContext& none = empty_fold_context();
  return fold_record(key, positioned_ops(deltas), FoldContext{roster ? *roster : none.roster, chains});
}

}  // namespace conect::testkit
