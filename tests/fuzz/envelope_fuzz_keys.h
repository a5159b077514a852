// The fixed recipient the envelope fuzz target opens as, shared with the
// corpus generator so that seeds reach the opening and the commitment check.
#pragma once

#include "conect/crdt/envelope.h"

namespace conect::fuzz {

inline SealKey fuzz_recipient_seal() {
  std::array<std::uint8_t, 32> seed{};
  seed.fill(7);
  return SealKey::from_seed(seed);
}
inline NodeId fuzz_recipient_id() {
  NodeId id;
  id.bytes.fill(0x42);
  return id;
}
inline NodeId fuzz_owner_id() {
  NodeId id;
  id.bytes.fill(0x11);
  return id;
}

}  // namespace conect::fuzz
