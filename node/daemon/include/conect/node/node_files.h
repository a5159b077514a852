// Everything a command or the daemon reads from a data directory, loaded and
// checked in one place: the config, the identity key, the Noise static key,
// the API token, and the store.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "conect/config/config.h"
#include "conect/crdt/identity.h"
#include "conect/node/data_dir.h"
#include "conect/storage/store.h"

namespace conect {

struct NodeFiles {
  DataDir dir;
  config::NodeConfig config;
  KeyPair key;
  FederationId federation;
  std::string token;
  // After `key rotate` (docs/membership.md): the key that signs now,
  // DIR/signing.key; the member id stays identity.key's public key.
  std::optional<KeyPair> rotated;
  const KeyPair& signer() const { return rotated ? *rotated : key; }
  std::filesystem::path signing_key() const { return dir.root / "signing.key"; }
  // A rotation in flight: written before the Rotate delta, renamed to
  // signing.key once that delta is stored (the daemon settles it at start).
  std::filesystem::path signing_key_pending() const { return dir.root / "signing.key.pending"; }
  // The seal key a rotation in flight makes: renamed to seal.key (the old one
  // moving to seal.keyring) once the Rotate that carries it is stored.
  std::filesystem::path seal_key_pending() const { return dir.root / "seal.key.pending"; }
  // The Noise static key a rotation in flight makes: renamed to noise.key
  // once the Rotate that carries its public half is stored.
  std::filesystem::path noise_key_pending() const { return dir.root / "noise.key.pending"; }

  // Errors name the file and say what to do (run init, chmod 600, ...).
  static Result<NodeFiles> load(const DataDir& dir);
  // `upgrade`: migrate a store of an older schema in place (the daemon does;
  // other commands refuse it and say to start the node).
  Result<std::unique_ptr<storage::Store>> open_store(bool upgrade = false) const;
  // The 32-byte X25519 private key of the node's Noise static key.
  Result<std::array<std::uint8_t, 32>> noise_private_key() const;
};

// Creates DIR/noise.key (mode 0600) with a fresh X25519 private key.
Status write_noise_key(const DataDir& dir);

// ws://HOST:PORT/PATH with a numeric port.
Status check_peer_url(const std::string& url);

struct ConfiguredPeer {
  std::string url;
  NodeId node_id;
  std::string source;  // "peer add" | "node.toml"
};
// Peers to dial: those added with `peer add` and those in node.toml.
Result<std::vector<ConfiguredPeer>> configured_peers(const NodeFiles& node, const storage::Store& store);

}  // namespace conect
