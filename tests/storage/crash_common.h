// Shared by the crash test and its child process: the deterministic chains
// the child applies, so the parent can tell exactly what must be stored.
#pragma once

#include <cstdint>
#include <vector>

#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/author.h"

namespace conect::storage::crash {

inline constexpr int kOrigins = 3;
inline constexpr std::uint64_t kPerBatch = 5;  // deltas per origin per batch
inline constexpr std::uint32_t kOwnKey = 1;
inline constexpr std::uint32_t kFirstOrigin = 100;

// Origin `o`'s chain, delta by delta, identical in every process. resume()
// continues after a stored head without re-signing what came before.
class ChainGen {
 public:
  explicit ChainGen(int o) : key_(testkit::test_key(kFirstOrigin + static_cast<std::uint32_t>(o))), o_(o) {}
  void resume(Seq seq, const DeltaId& id) {
    seq_ = seq;
    prev_ = id;
  }
  VerifiedDelta next() {
    std::uint64_t i = seq_.value;
    v1::Placement p;
    p.set_trade(i % 2 ? "welding" : "cooking");
    p.set_status(v1::PLACEMENT_OPEN);
    auto* w = p.add_windows();
    w->set_window_id(1);
    w->set_capacity(static_cast<std::uint32_t>(1 + i % 3));
    DeltaDraft draft;
    draft.ops = ops::create_placement(RecordKey::mint(v1::PLACEMENT, key_.public_key(), seq_.next(), 0), p);
    Hlc hlc = Hlc::make(1'000'000 + i * 10 + static_cast<std::uint64_t>(o_), 0);
    VerifiedDelta d = build_delta(key_, testkit::test_federation(), seq_.next(), prev_, hlc, draft);
    seq_ = d.seq;
    prev_ = d.id;
    return d;
  }

 private:
  KeyPair key_;
  int o_;
  Seq seq_{};
  DeltaId prev_{};
};

inline std::vector<VerifiedDelta> chain(int o, std::uint64_t count) {
  ChainGen g(o);
  std::vector<VerifiedDelta> out;
  for (std::uint64_t i = 0; i < count; ++i) out.push_back(g.next());
  return out;
}

}  // namespace conect::storage::crash
