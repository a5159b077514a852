// The data directory's fixed layout (DESIGN §8). Scripts, tests and operators
// rely on these names; change them only with a changelog entry.
//
//   DIR/node.toml      configuration (documented defaults)
//   DIR/identity.key   Ed25519 secret key, mode 0600
//   DIR/noise.key      Noise static X25519 secret key, mode 0600
//   DIR/seal.key       X25519 seal key (personal data is sealed to it), 0600
//   DIR/seal.keyring   seal keys rotated away from, kept 30 days, 0600
//   DIR/api.token      API bearer token, mode 0600
//   DIR/store/         the LMDB environment
//   DIR/ports.json     the ports `run` listens on, written once listening
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>

#include "conect/crdt/error.h"

namespace conect {

struct DataDir {
  std::filesystem::path root;

  std::filesystem::path config() const { return root / "node.toml"; }
  std::filesystem::path identity() const { return root / "identity.key"; }
  std::filesystem::path noise_key() const { return root / "noise.key"; }
  std::filesystem::path seal_key() const { return root / "seal.key"; }
  // Retired seal secrets (crdt/seal.h SealKeyring), after `key rotate`.
  std::filesystem::path seal_keyring() const { return root / "seal.keyring"; }
  std::filesystem::path token() const { return root / "api.token"; }
  std::filesystem::path store() const { return root / "store"; }
  std::filesystem::path ports() const { return root / "ports.json"; }

  // --data DIR, else $CONECT_DATA, else ./conect-data.
  static DataDir resolve(const std::string& flag) {
    if (!flag.empty()) return {flag};
    if (const char* env = std::getenv("CONECT_DATA"); env && *env) return {env};
    return {"conect-data"};
  }
};

// Refuses (insecure_permissions) when this process runs as root on a data
// directory that belongs to another user, e.g. the packaged service's
// `conect`: files root creates there (lock.mdb, a new store) would lock the
// service out later. The message says to run the command as the owner.
Status check_owner(const DataDir& dir);

// Writes `content` to a new file with the given mode, durably (write to a
// temporary name, fsync, rename, fsync the directory). Refuses to overwrite
// unless `replace` (already_exists). Never writes through a symlink: the
// temporary file is created with O_EXCL|O_NOFOLLOW, and the rename replaces
// a symlink at `path` rather than following it.
Status write_file_atomic(const std::filesystem::path& path, std::string_view content, unsigned mode, bool replace);
// Reads a whole small file; refuses (insecure_permissions) when `secret` and
// the file is readable by group or others.
Result<std::string> read_small_file(const std::filesystem::path& path, bool secret);

}  // namespace conect
