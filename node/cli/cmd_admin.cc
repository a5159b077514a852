// init, card, member, peer, backup, restore: commands that work on the data directory
// itself. LMDB lets them share the store with a running node (the daemon
// picks up roster and peer changes at its next summary round).
#include <sodium.h>
#include <sys/stat.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "conect/config/config.h"
#include "conect/crdt/membership.h"
#include "conect/node/data_dir.h"
#include "conect/node/member_card.h"
#include "conect/node/node_files.h"
#include "conect/node/wall_clock.h"
#include "conect/storage/store.h"

namespace conect::cli {

void print_error(const Global& g, const std::string& code, const std::string& detail) {
  if (g.json) {
    std::cout << nlohmann::json{{"error", code}, {"detail", detail}}.dump() << "\n";
  } else {
    std::cerr << "conect-node: " << detail << "\n";
  }
}

int refuse(const Global& g, const Error& e, int exit_code) {
  print_error(g, errc_name(static_cast<Errc>(e.code.value())), e.detail);
  return exit_code;
}

namespace {

std::string random_hex(std::size_t bytes) {
  std::string raw(bytes, '\0');
  randombytes_buf(raw.data(), raw.size());
  return to_hex(raw);
}

// The peer address partners should dial: the listen address, with a wildcard
// host replaced by loopback (operators set `advertise` for real addresses).
std::string default_advertise(const config::Endpoint& peer_listen) {
  std::string host = peer_listen.host;
  if (host == "0.0.0.0" || host == "::" || host.empty()) host = "127.0.0.1";
  config::Endpoint e{host, peer_listen.port};
  return "ws://" + e.text() + "/sync";
}

}  // namespace

Status check_init_flags(const InitOptions& o) {
  if (o.name.empty() || o.name.size() > 200) return Error(Errc::invalid_argument, "--name must be 1 to 200 characters");
  if (!is_country_code(o.country))
    return Error(Errc::invalid_argument,
                 "--country '" + o.country + "' is not an ISO 3166-1 alpha-2 code (e.g. FI, SE, NO, RU)");
  if (!parse_role(o.role)) return Error(Errc::invalid_argument, "--role must be school, company or auditor");
  if (o.quorum < 1 || o.quorum > 1000) return Error(Errc::invalid_argument, "--admission-quorum must be 1 to 1000");
  if (!o.federation.empty() && !FederationId::from_hex(o.federation))
    return Error(Errc::invalid_argument, "--federation must be 32 hex characters (from a partner's card or node.toml)");
  if (auto e = config::parse_endpoint(o.peer_listen); !e.ok())
    return Error(Errc::invalid_argument, "--peer-listen: " + e.error().detail);
  if (auto e = config::parse_endpoint(o.api_listen); !e.ok())
    return Error(Errc::invalid_argument, "--api-listen: " + e.error().detail);
  for (const auto& a : o.advertise)
    if (a.rfind("ws://", 0) != 0)
      return Error(Errc::invalid_argument, "--advertise '" + a + "' must be a ws://HOST:PORT/sync address");
  return {};
}

Result<InitResult> init_node(const DataDir& dir, const InitOptions& o) {
  // Validate everything before writing anything.
  if (Status st = check_owner(dir); !st.ok()) return st.error();
  if (std::filesystem::exists(dir.identity()))
    return Error(Errc::already_exists, dir.identity().string() +
                                           " exists: this data directory is already initialised "
                                           "(refusing to overwrite an identity; use another --data)");
  if (Status st = check_init_flags(o); !st.ok()) return st.error();
  FederationId federation;
  if (o.federation.empty())
    randombytes_buf(federation.data(), federation.size());
  else
    federation = *FederationId::from_hex(o.federation);
  auto peer_listen = config::parse_endpoint(o.peer_listen);
  auto api_listen = config::parse_endpoint(o.api_listen);

  config::NodeConfig cfg;
  cfg.name = o.name;
  cfg.country = o.country;
  cfg.role = o.role;
  cfg.federation = federation.hex();
  cfg.peer_listen = *peer_listen;
  cfg.api_listen = *api_listen;
  // With port 0 the port is only known once running: advertise nothing then.
  if (!o.advertise.empty())
    cfg.advertise = o.advertise;
  else if (peer_listen->port != 0)
    cfg.advertise = {default_advertise(*peer_listen)};

  std::error_code ec;
  bool created_root = !std::filesystem::exists(dir.root);
  // The directory that will hold the keys is private from its creation on.
  if (dir.root.has_parent_path()) std::filesystem::create_directories(dir.root.parent_path(), ec);
  if (::mkdir(dir.root.c_str(), 0700) != 0 && errno != EEXIST)
    return Error(Errc::io_error, "cannot create " + dir.root.string() + ": " + std::strerror(errno));
  ::chmod(dir.root.c_str(), 0700);  // one that existed already

  auto undo = [&] {
    // Leave nothing half-made behind: a second init must start clean.
    for (const auto& p : {dir.identity(), dir.noise_key(), dir.seal_key(), dir.token(), dir.config()})
      std::filesystem::remove(p, ec);
    std::filesystem::remove_all(dir.store(), ec);
    if (created_root) std::filesystem::remove(dir.root, ec);
  };

  KeyPair key = KeyPair::generate();
  storage::StoreOptions store_options;
  store_options.create = true;
  auto store = storage::Store::open(dir.store(), store_options);
  Status st = store.ok() ? (*store)->initialise(federation, key.public_key()) : Status(store.error());
  if (st.ok()) st = write_noise_key(dir);
  // Personal data is sealed to this key (DESIGN §5); the daemon announces
  // its public half in the node's log at its first start.
  if (st.ok()) st = SealKey::generate().save(dir.seal_key());
  if (st.ok()) st = write_file_atomic(dir.token(), random_hex(32) + "\n", 0600, false);
  if (st.ok()) st = write_file_atomic(dir.config(), config::render(cfg), 0644, false);
  if (st.ok()) {
    // The node trusts itself: its own card is the first roster entry.
    MemberInfo self{key.public_key(),      federation,    cfg.name, cfg.country,
                    *parse_role(cfg.role), cfg.advertise, wall_ms()};
    auto bytes = card_bytes(make_card(key, self));
    v1::MemberCard card;
    card.ParseFromString(*bytes);
    st = (*store)->put_member(key.public_key(), card);
  }
  // A node that founds a federation writes Found{its card, quorum} as its
  // first delta: the replicated roster starts with it (docs/membership.md).
  if (st.ok() && o.federation.empty()) {
    MemberInfo self{key.public_key(),      federation,    cfg.name, cfg.country,
                    *parse_role(cfg.role), cfg.advertise, wall_ms()};
    v1::MemberCard card;
    card.ParseFromString(*card_bytes(make_card(key, self)));
    DeltaDraft draft;
    draft.ops.push_back(membership_ops::found(card, o.quorum));
    auto founded = (*store)->author(key, std::move(draft), wall_ms());
    if (!founded.ok()) st = founded.error();
  }
  // The identity goes last: its presence means "initialised".
  if (st.ok()) st = key.save(dir.identity());
  if (!st.ok()) {
    store = Error(Errc::io_error, "closed");
    undo();
    return st.error();
  }
  return InitResult{key.public_key(), federation};
}

int init(const Global& g, const InitOptions& o) {
  if (o.join) return init_join(g, o);
  DataDir dir = DataDir::resolve(g.data);
  auto made = init_node(dir, o);
  // A flag value init cannot take is a usage error, as CLI11's own are.
  if (!made.ok()) return refuse(g, made.error(), made.error().is(Errc::invalid_argument) ? kUsage : kRefused);
  if (g.json) {
    std::cout << nlohmann::json{{"node_id", made->node_id.hex()},
                                {"federation", made->federation.hex()},
                                {"data", dir.root.string()}}
                     .dump()
              << "\n";
  } else {
    std::cout << "initialised " << dir.root.string() << "\n"
              << "  node id     " << made->node_id.hex() << "\n"
              << "  federation  " << made->federation.hex() << "\n"
              << "next: `conect-node card --data " << dir.root.string() << "` prints the card to give your partners\n";
  }
  // One founder with a quorum above 1 can admit nobody alone: every
  // admission needs that many members, and only this one exists. Said now,
  // with the way out, not after a first invite stays pending for good.
  if (o.federation.empty() && o.quorum > 1)
    std::cerr << "conect-node: note: with --admission-quorum " << o.quorum << " a new member counts once " << o.quorum
              << " members have admitted it, and this school is the only one yet: " << o.quorum - 1
              << " more founder(s) must adopt the roster first (docs/membership.md, \"Founding with a quorum\"), "
              << "or found with quorum 1\n";
  return kOk;
}

int card(const Global& g) {
  auto node = NodeFiles::load(DataDir::resolve(g.data));
  if (!node.ok()) return refuse(g, node.error());
  MemberInfo self{node->key.public_key(),         node->federation,       node->config.name, node->config.country,
                  *parse_role(node->config.role), node->config.advertise, wall_ms()};
  std::cout << make_card(node->key, self) << "\n";
  return kOk;
}

namespace {

Result<std::string> read_card_argument(const std::string& card_or_file) {
  if (card_or_file.rfind(kCardPrefix, 0) == 0) return card_or_file;
  std::ifstream in(card_or_file);
  if (!in)
    return Error(Errc::invalid_argument,
                 "'" + card_or_file.substr(0, 40) + "' is neither a member card (conect-card:...) nor a readable file");
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

nlohmann::json member_json(const MemberInfo& m, bool self) {
  return {{"node_id", m.node_id.hex()}, {"name", m.name},           {"country", m.country},
          {"role", role_name(m.role)},  {"addresses", m.addresses}, {"self", self}};
}

}  // namespace

int member_add(const Global& g, const std::string& card_or_file) {
  auto node = NodeFiles::load(DataDir::resolve(g.data));
  if (!node.ok()) return refuse(g, node.error());
  auto text = read_card_argument(card_or_file);
  if (!text.ok()) return refuse(g, text.error());
  auto bytes = card_bytes(*text);
  if (!bytes.ok()) return refuse(g, bytes.error());
  auto info = parse_card_bytes(*bytes);
  if (!info.ok()) return refuse(g, info.error());
  if (info->federation != node->federation)
    return refuse(
        g, Error(Errc::wrong_federation, "card of " + info->name + " belongs to federation " + info->federation.hex() +
                                             ", this node to " + node->federation.hex()));
  auto store = node->open_store();
  if (!store.ok()) return refuse(g, store.error());
  v1::MemberCard card;
  card.ParseFromString(*bytes);
  if (Status st = (*store)->put_member(info->node_id, card); !st.ok()) return refuse(g, st.error());
  if (g.json)
    std::cout << member_json(*info, info->node_id == node->key.public_key()).dump() << "\n";
  else
    std::cout << "added " << info->name << " (" << info->country << ", " << role_name(info->role) << ") "
              << info->node_id.hex() << "\n";
  return kOk;
}

int member_remove(const Global& g, const std::string& id_text) {
  auto node = NodeFiles::load(DataDir::resolve(g.data));
  if (!node.ok()) return refuse(g, node.error());
  auto id = NodeId::from_hex(id_text);
  if (!id)
    return refuse(
        g,
        Error(Errc::invalid_argument, "'" + id_text + "' is not a 64-hex-character node id (see `member list --json`)"),
        kUsage);
  if (*id == node->key.public_key())
    return refuse(g, Error(Errc::invalid_argument, "a node cannot remove itself from its roster"));
  auto store = node->open_store();
  if (!store.ok()) return refuse(g, store.error());
  if (Status st = (*store)->remove_member(*id); !st.ok()) return refuse(g, st.error());
  if (!g.json)
    std::cout << "removed " << id->hex() << " (its stored deltas stay; new ones are refused)\n";
  else
    std::cout << nlohmann::json{{"removed", id->hex()}}.dump() << "\n";
  return kOk;
}

int peer_add(const Global& g, const std::string& url, const std::string& id_text) {
  auto node = NodeFiles::load(DataDir::resolve(g.data));
  if (!node.ok()) return refuse(g, node.error());
  if (Status st = check_peer_url(url); !st.ok()) return refuse(g, st.error(), kUsage);
  auto store = node->open_store();
  if (!store.ok()) return refuse(g, store.error());
  std::optional<NodeId> id;
  if (!id_text.empty()) {
    id = NodeId::from_hex(id_text);
    if (!id) return refuse(g, Error(Errc::invalid_argument, "--id must be a 64-hex-character node id"), kUsage);
  } else {
    // Take the expected id from the roster member whose card lists this URL:
    // a local override's, or an admitted member's of the replicated roster
    // (a federation grown with invites exchanges no cards by hand).
    auto lists_url = [&url](const v1::MemberCard& card) {
      auto info = parse_card_bytes(card.SerializeAsString());
      return info.ok() && std::find(info->addresses.begin(), info->addresses.end(), url) != info->addresses.end();
    };
    auto members = (*store)->members();
    if (!members.ok()) return refuse(g, members.error());
    for (const auto& [mid, card] : *members)
      if (lists_url(card)) id = mid;
    auto replicated = (*store)->roster();
    if (!replicated.ok()) return refuse(g, replicated.error());
    for (const auto& [mid, m] : (*replicated)->members())
      if (!id && m.admitted && !m.cut && lists_url(m.card)) id = mid;
    if (!id)
      return refuse(g, Error(Errc::invalid_argument, "no roster member's card lists " + url +
                                                         "; add the member's card first or pass --id NODEID "
                                                         "(a dial without an expected id is refused)"));
  }
  // The same node under another address is most often a partner that
  // moved: both stay dialled until the old one is removed, so say so.
  auto known = (*store)->peers();
  if (!known.ok()) return refuse(g, known.error());
  std::vector<std::string> also;
  for (const auto& [other_url, other_id] : *known)
    if (other_id == id->hex() && other_url != url) also.push_back(other_url);
  if (Status st = (*store)->put_peer(url, id->hex()); !st.ok()) return refuse(g, st.error());
  if (g.json) {
    std::cout << nlohmann::json{{"url", url}, {"node_id", id->hex()}, {"also_dialled_at", also}}.dump() << "\n";
  } else {
    std::cout << "will dial " << url << " expecting " << id->hex() << "\n";
    for (const auto& other : also)
      std::cout << "note: the same node is also dialled at " << other << "; if it moved, run `conect-node peer remove "
                << other << "`\n";
  }
  return kOk;
}

int peer_list(const Global& g) {
  auto node = NodeFiles::load(DataDir::resolve(g.data));
  if (!node.ok()) return refuse(g, node.error());
  auto store = node->open_store();
  if (!store.ok()) return refuse(g, store.error());
  auto peers = configured_peers(*node, **store);
  if (!peers.ok()) return refuse(g, peers.error());
  nlohmann::json out = nlohmann::json::array();
  for (const auto& p : *peers) out.push_back({{"url", p.url}, {"node_id", p.node_id.hex()}, {"source", p.source}});
  if (g.json)
    std::cout << out.dump() << "\n";
  else
    for (const auto& p : *peers) std::cout << p.url << "  " << p.node_id.hex() << "  (" << p.source << ")\n";
  return kOk;
}

int peer_remove(const Global& g, const std::string& url_or_id) {
  auto node = NodeFiles::load(DataDir::resolve(g.data));
  if (!node.ok()) return refuse(g, node.error());
  auto store = node->open_store();
  if (!store.ok()) return refuse(g, store.error());
  auto peers = (*store)->peers();
  if (!peers.ok()) return refuse(g, peers.error());
  int removed = 0;
  for (const auto& [url, id] : *peers) {
    if (url == url_or_id || id == url_or_id) {
      if (Status st = (*store)->remove_peer(url); !st.ok()) return refuse(g, st.error());
      ++removed;
    }
  }
  if (removed == 0)
    return refuse(g, Error(Errc::not_found, "no peer added with `peer add` matches '" + url_or_id +
                                                "' (peers from node.toml are removed by editing it)"));
  if (g.json)
    std::cout << nlohmann::json{{"removed", removed}}.dump() << "\n";
  else
    std::cout << "removed " << removed << " peer(s)\n";
  return kOk;
}

namespace {

constexpr std::string_view kDatedPrefix = "conect-";

// DIR/conect-YYYYMMDDTHHMMSSZ (UTC), not yet taken; names sort by time.
std::filesystem::path dated_backup_dir(const std::filesystem::path& parent) {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y%m%dT%H%M%SZ", &utc);
  auto dir = parent / (std::string(kDatedPrefix) + stamp);
  for (int n = 2; std::filesystem::exists(dir); ++n)
    dir = parent / (std::string(kDatedPrefix) + stamp + "-" + std::to_string(n));
  return dir;
}

// Removes all but the `keep` newest dated copies in `parent`; returns them.
std::vector<std::string> prune_dated_backups(const std::filesystem::path& parent, unsigned keep) {
  std::vector<std::filesystem::path> dated;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(parent, ec)) {
    auto name = e.path().filename().string();
    if (e.is_directory(ec) && name.rfind(kDatedPrefix, 0) == 0 && name.size() > kDatedPrefix.size() &&
        std::isdigit(static_cast<unsigned char>(name[kDatedPrefix.size()])))
      dated.push_back(e.path());
  }
  std::sort(dated.begin(), dated.end());
  std::vector<std::string> removed;
  for (std::size_t i = 0; i + keep < dated.size(); ++i) {
    std::filesystem::remove_all(dated[i], ec);
    if (!ec) removed.push_back(dated[i].string());
  }
  return removed;
}

}  // namespace

int backup(const Global& g, const std::string& target_arg, unsigned keep) {
  auto node = NodeFiles::load(DataDir::resolve(g.data));
  if (!node.ok()) return refuse(g, node.error());
  auto store = node->open_store();
  if (!store.ok()) return refuse(g, store.error());
  std::filesystem::path target = target_arg;
  if (keep > 0) target = dated_backup_dir(target);  // Store::backup makes it (and its parents), mode 0700
  if (Status st = (*store)->backup(target, true); !st.ok()) return refuse(g, st.error());
  std::vector<std::string> removed;
  if (keep > 0) removed = prune_dated_backups(target.parent_path(), keep);
  if (g.json) {
    std::cout << nlohmann::json{{"backup", target.string()}, {"removed", removed}}.dump() << "\n";
  } else {
    std::cout << "consistent copy of the store written to " << target.string() << "\n";
    for (const auto& r : removed) std::cout << "removed old copy " << r << "\n";
  }
  return kOk;
}

int restore(const Global& g, const std::string& backup_dir, bool allow_writes_now) {
  auto node = NodeFiles::load(DataDir::resolve(g.data));
  if (!node.ok()) return refuse(g, node.error());
  DataDirLock stopped;
  if (Status st = stopped.take(node->dir); !st.ok()) {
    Error e = st.error();
    e.detail += ": stop it first (it would go on writing to the store moved aside), then restore";
    return refuse(g, e);
  }
  const auto target = node->dir.store();
  if (std::filesystem::exists(target / "data.mdb"))
    return refuse(g, Error(Errc::already_exists,
                           target.string() + " already holds a store; stop the node, move it aside (mv " +
                               target.string() + " " + target.string() + ".old) and run restore again"));
  std::optional<storage::SchemaUpgrade> upgraded;  // a backup of an older build's store
  if (Status st = storage::Store::restore(backup_dir, target, &upgraded); !st.ok()) return refuse(g, st.error());
  auto discard = [&](const Error& why) {
    std::error_code ec;
    std::filesystem::remove_all(target, ec);
    return refuse(g, Error(why.code, backup_dir + ": " + why.detail + "; nothing was restored"));
  };
  {
    // The backup must be this node's own: another node's store under this
    // identity would sign over someone else's chain.
    auto store = node->open_store();
    if (!store.ok()) return discard(store.error());
    if (allow_writes_now)
      if (Status st = (*store)->lift_author_fence(); !st.ok()) return discard(st.error());
  }
  if (g.json) {
    nlohmann::json out{{"restored", backup_dir}, {"fenced", !allow_writes_now}};
    if (upgraded) out["upgraded"] = {{"from_schema", upgraded->from}, {"to_schema", upgraded->to}};
    std::cout << out.dump() << "\n";
    return kOk;
  }
  if (upgraded)
    std::cout << "the backup held schema " << upgraded->from << " of an older conect-node: upgraded to schema "
              << upgraded->to << " in " << upgraded->duration_ms << " ms (the node compacts it at its first start)\n";
  if (allow_writes_now)
    std::cout << "restored " << backup_dir << " into " << target.string()
              << ".\nThe node may write as soon as it runs (--allow-writes-now): if a partner does hold deltas "
                 "it wrote after this backup, it fences itself again when that partner shows them, but any "
                 "write before that reuses a sequence number and freezes its chain.\n";
  else
    std::cout << "restored " << backup_dir << " into " << target.string()
              << ".\nThe node authors nothing until it has fetched its own chain back from a peer: start it with "
                 "`conect-node run` while a partner is reachable (a node no partner ever received later deltas "
                 "from: move the store aside and restore again with --allow-writes-now).\n";
  return kOk;
}

}  // namespace conect::cli
