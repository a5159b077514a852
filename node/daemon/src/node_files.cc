#include "conect/node/node_files.h"

#include <sodium.h>

#include "conect/node/ws_link.h"

namespace conect {

Result<NodeFiles> NodeFiles::load(const DataDir& dir) {
  if (Status st = check_owner(dir); !st.ok()) return st.error();
  if (!std::filesystem::exists(dir.identity()))
    return Error(Errc::not_found, dir.root.string() +
                                      " is not an initialised data directory (no identity.key); "
                                      "run `conect-node init --data " +
                                      dir.root.string() + " ...` or pass the right --data");
  auto cfg = config::load(dir.config());
  if (!cfg.ok()) return cfg.error();
  auto key = KeyPair::load(dir.identity());
  if (!key.ok()) return key.error();
  auto federation = FederationId::from_hex(cfg->federation);
  if (!federation)
    return Error(Errc::invalid_argument, dir.config().string() + ": node.federation must be 32 hex characters");
  auto token = read_small_file(dir.token(), true);
  if (!token.ok()) return token.error();
  while (!token->empty() && (token->back() == '\n' || token->back() == '\r')) token->pop_back();
  NodeFiles files{dir, std::move(*cfg), std::move(*key), *federation, std::move(*token), std::nullopt};
  if (std::filesystem::exists(files.signing_key())) {
    auto rotated = KeyPair::load(files.signing_key());
    if (!rotated.ok()) return rotated.error();
    files.rotated = std::move(*rotated);
  }
  return files;
}

Result<std::unique_ptr<storage::Store>> NodeFiles::open_store(bool upgrade) const {
  storage::StoreOptions options;
  options.upgrade = upgrade;
  options.map_size = config.map_size_mib << 20;
  // A full map doubles (sparse address space, not disk) rather than stopping
  // the node; past 16 times the configured size it reports storage_full.
  options.max_map_size = options.map_size * 16;
  auto store = storage::Store::open(dir.store(), options);
  if (!store.ok()) return store.error();
  auto own = (*store)->own_id();
  if (!own || *own != key.public_key())
    return Error(Errc::schema_mismatch,
                 "the store in " + dir.store().string() + " belongs to another node than the one whose identity is " +
                     dir.identity().string() +
                     " (a store, or a backup restored into it, is used only by the node that wrote it)");
  return store;
}

Result<std::array<std::uint8_t, 32>> NodeFiles::noise_private_key() const {
  auto raw = read_small_file(dir.noise_key(), true);
  if (!raw.ok()) return raw.error();
  if (raw->size() != 32) return Error(Errc::malformed_body, dir.noise_key().string() + " is not a 32-byte X25519 key");
  std::array<std::uint8_t, 32> out{};
  std::copy(raw->begin(), raw->end(), out.begin());
  sodium_memzero(raw->data(), raw->size());
  return out;
}

Status write_noise_key(const DataDir& dir) {
  std::string secret(32, '\0');
  randombytes_buf(secret.data(), secret.size());
  Status st = write_file_atomic(dir.noise_key(), secret, 0600, false);
  sodium_memzero(secret.data(), secret.size());
  return st;
}

Status check_peer_url(const std::string& url) {
  auto parsed = node::parse_ws_url(url);
  if (!parsed.ok()) return parsed.error();
  return {};
}

Result<std::vector<ConfiguredPeer>> configured_peers(const NodeFiles& node, const storage::Store& store) {
  std::vector<ConfiguredPeer> out;
  auto added = store.peers();
  if (!added.ok()) return added.error();
  for (const auto& [url, id_hex] : *added)
    if (auto id = NodeId::from_hex(id_hex)) out.push_back({url, *id, "peer add"});
  for (const auto& p : node.config.peers) {
    auto id = NodeId::from_hex(p.node_id);
    if (!id) return Error(Errc::invalid_argument, node.dir.config().string() + ": peer " + p.url + " has a bad id");
    out.push_back({p.url, *id, "node.toml"});
  }
  return out;
}

}  // namespace conect
