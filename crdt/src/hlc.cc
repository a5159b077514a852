#include "conect/crdt/hlc.h"

#include <algorithm>

namespace conect {

Hlc HlcClock::tick(std::uint64_t now_ms) {
  // Never behind physical time, never behind anything seen, always advancing.
  // When the logical counter would overflow, borrow one millisecond.
  if (now_ms > last_.millis()) {
    last_ = Hlc::make(now_ms, 0);
  } else if (last_.logical() == 0xffff) {
    last_ = Hlc::make(last_.millis() + 1, 0);
  } else {
    last_ = Hlc{last_.value + 1};
  }
  return last_;
}

void HlcClock::observe(Hlc remote) { last_ = std::max(last_, remote); }

}  // namespace conect
