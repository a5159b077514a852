// Hybrid logical clock (Kulkarni et al.): timestamps that follow physical time
// but never go backwards and always exceed every timestamp seen. The clock
// does not read time itself; the caller passes `now_ms`, so the sync engine
// and the simulator stay deterministic.
#pragma once

#include <cstdint>

#include "conect/crdt/types.h"

namespace conect {

class HlcClock {
 public:
  explicit HlcClock(Hlc last = {}) : last_(last) {}
  // A timestamp for a local event, strictly greater than every earlier one.
  Hlc tick(std::uint64_t now_ms);
  // Fold in a timestamp received from elsewhere so later ticks exceed it.
  void observe(Hlc remote);
  Hlc last() const { return last_; }

 private:
  Hlc last_;
};

}  // namespace conect
