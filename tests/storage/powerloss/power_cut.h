// The test's half of the power-loss model: after the process that wrote the
// store (with powerloss_shim.cc preloaded) was killed, undo what its journal
// says had not reached the disk yet, as a power cut would.
#pragma once

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

namespace conect::storage::powerloss {

enum class Cut {
  all,     // every write since the last sync is lost
  random,  // each 4 KiB page written since the last sync is lost or kept (1/2)
};

struct CutStats {
  std::size_t writes = 0;         // volatile writes in the journal
  std::size_t pages_dropped = 0;  // pages set back to their synced content
  std::size_t pages_kept = 0;     // pages written since the sync that survived
  std::uint64_t bytes_dropped = 0;
};

// Applies the cut to `file` and empties `journal`. Throws std::runtime_error
// on an unreadable journal or file.
CutStats power_cut(const std::filesystem::path& file, const std::filesystem::path& journal, Cut cut,
                   std::mt19937_64& rng);

}  // namespace conect::storage::powerloss
