// The key files of a node (the Ed25519 identity, the X25519 seal key): raw
// secret bytes in a file only the node's user may read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "conect/crdt/error.h"

namespace conect::secret_file {

struct Kind {
  std::string_view noun;       // "identity key"
  std::string_view article;    // "an"
  std::string_view shape;      // "a 64-byte Ed25519 secret key"
  std::string_view open_hint;  // appended when the file cannot be opened
};

// Creates the file (mode 0600, never over an existing one) and fsyncs it.
Status write(const std::filesystem::path& path, const std::uint8_t* secret, std::size_t size, const Kind& kind);

// Reads exactly `size` bytes; refuses a file readable by group or others.
Status read(const std::filesystem::path& path, std::uint8_t* secret, std::size_t size, const Kind& kind);

// Replaces the file's contents durably (a temporary file next to it, mode
// 0600, fsynced, renamed over `path`, the directory fsynced): a crash leaves
// the old contents or the new, never a mix. Used for files that change
// (the seal keyring); key files that never change use write().
Status replace(const std::filesystem::path& path, std::string_view bytes, const Kind& kind);

// The whole file, at most `max_size` bytes; refuses a file readable by group
// or others. not_found when it does not exist.
Result<std::string> read_all(const std::filesystem::path& path, std::size_t max_size, const Kind& kind);

}  // namespace conect::secret_file
