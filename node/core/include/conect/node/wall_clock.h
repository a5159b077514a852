// Milliseconds since the Unix epoch: the physical time HLC timestamps,
// member cards, sessions and bundles carry.
#pragma once

#include <chrono>
#include <cstdint>

namespace conect {

inline std::uint64_t wall_ms() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

}  // namespace conect
