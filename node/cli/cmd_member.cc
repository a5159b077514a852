// The replicated roster's commands (docs/membership.md): invite, init --join,
// member list. They work on the data directory's store; a running node picks
// up new invites and roster changes within a second (its roster poll).
#include <CLI/CLI.hpp>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "api_client.h"

#include "commands.h"
#include "conect/crdt/membership.h"
#include "conect/net/peer_identity.h"
#include "conect/node/invite.h"
#include "conect/node/member_card.h"
#include "conect/node/node_files.h"
#include "conect/node/wall_clock.h"
#include "conect/node/ws_link.h"
#include "join_client.h"
#include "membership_commands.h"

namespace conect::cli {

namespace {
bool is_loopback_host(std::string_view host) {
  if (host.starts_with('[') && host.ends_with(']')) host = host.substr(1, host.size() - 2);
  return host == "localhost" || host == "::1" || host.starts_with("127.");
}
}  // namespace

int invite(const Global& g, const InviteOptions& o) {
  auto node = NodeFiles::load(DataDir::resolve(g.data));
  if (!node.ok()) return refuse(g, node.error());
  auto lifetime = parse_duration_ms(o.expires);
  if (!lifetime)
    return refuse(g, Error(Errc::invalid_argument, "--expires '" + o.expires + "' must be like 7d, 12h, 30m or 90s"),
                  kUsage);
  auto role = parse_role(o.role);
  if (!role) return refuse(g, Error(Errc::invalid_argument, "--role must be school, company or auditor"), kUsage);
  std::string address = o.address;
  if (address.empty() && !node->config.advertise.empty()) address = node->config.advertise.front();
  if (address.empty())
    return refuse(g, Error(Errc::invalid_argument,
                           "this node advertises no address a new member could dial: pass --address "
                           "ws://HOST:PORT/sync (or set network.advertise in node.toml)"));
  if (Status st = check_peer_url(address); !st.ok()) return refuse(g, st.error(), kUsage);
  // The default address is what init derived from --peer-listen: on a server
  // listening on every interface that is 127.0.0.1, which a school on
  // another machine only finds out about when its join fails.
  if (auto url = node::parse_ws_url(address); o.address.empty() && url.ok() && is_loopback_host(url->host))
    std::cerr << "note: this invite names " << address
              << ", which only this machine can dial; for a partner on another machine pass --address "
                 "ws://HOST:PORT/sync with this server's name (or set network.advertise in node.toml)\n";
  auto store = node->open_store();
  if (!store.ok()) return refuse(g, store.error());
  auto text = issue_invite(*node, **store, *role, address, *lifetime);
  if (!text.ok()) return refuse(g, text.error());
  auto made = parse_invite(*text);
  if (g.json)
    std::cout << nlohmann::json{{"invite", *text},
                                {"expires_ms", made->expires_ms()},
                                {"role", role_name(*role)},
                                {"inviter", node->key.public_key().hex()}}
                     .dump()
              << "\n";
  else
    std::cout << *text << "\n";
  return kOk;
}

Result<InitResult> join_node(const DataDir& dir, const InitOptions& o, const v1::Invite& invite) {
  if (wall_ms() >= invite.expires_ms())
    return Error(Errc::invalid_argument, "the invite expired; ask the member for a new one (`conect-node invite`)");
  const bool existed = std::filesystem::exists(dir.root);
  InitOptions with = o;
  with.federation = FederationId::from_raw(invite.federation())->hex();
  with.join.reset();
  auto made = init_node(dir, with);
  if (!made.ok()) return made.error();
  auto undo = [&](Error e) {
    std::error_code ec;
    if (existed) {
      for (const auto& p : {dir.identity(), dir.noise_key(), dir.seal_key(), dir.token(), dir.config()})
        std::filesystem::remove(p, ec);
      std::filesystem::remove_all(dir.store(), ec);
    } else {
      std::filesystem::remove_all(dir.root, ec);
    }
    e.detail += "; nothing was created";
    return e;
  };
  auto node = NodeFiles::load(dir);
  if (!node.ok()) return undo(node.error());
  auto noise = net::NoiseStaticKey::load(dir.noise_key());
  if (!noise.ok()) return undo(noise.error());
  MemberInfo self{node->key.public_key(),         node->federation,       node->config.name, node->config.country,
                  *parse_role(node->config.role), node->config.advertise, wall_ms()};
  auto card = card_bytes(make_card(node->key, self));
  JoinAttempt attempt{invite, &node->key, &*noise, *card};
  auto response = run_join(attempt);
  if (!response.ok()) return undo(response.error());
  if (!response->admitted())
    return undo(Error(Errc::not_authorised,
                      "the inviter refused the join: " + response->detail() + " (" + response->error() + ")"));
  const NodeId inviter = *NodeId::from_raw(invite.inviter());
  auto store = node->open_store();
  if (!store.ok()) return store.error();
  std::vector<NodeId> boot{inviter};
  for (const auto& raw : response->members())
    if (auto id = NodeId::from_raw(raw)) boot.push_back(*id);
  Status st = (*store)->set_bootstrap(boot);
  if (const NodeId key = invite_signing_key(invite); st.ok() && key != inviter)
    st = (*store)->set_bootstrap_keys({{inviter, key}});
  if (st.ok()) st = (*store)->put_peer(invite.address(), inviter.hex());
  if (!st.ok()) return st.error();
  return made;
}

Result<std::string> issue_invite(const NodeFiles& node, storage::Store& store, v1::MemberRole role,
                                 const std::string& address, std::uint64_t lifetime_ms) {
  auto roster = store.roster();
  if (!roster.ok()) return roster.error();
  if (!(*roster)->admitted(node.key.public_key()))
    return Error(Errc::not_authorised,
                 "this node is not an admitted member of the replicated roster yet, so its admissions would not "
                 "count (a federation made before 0.3 runs `conect-node member upgrade` first)");
  // After a rotation the node's Noise binding is signed with its current
  // key: the invite names it, or the joiner would take the binding for a
  // man in the middle.
  const NodeId signs_with = (*roster)->key_at(node.key.public_key(), Seq{UINT64_MAX});
  NewInvite made =
      mint_invite(node.federation, node.key.public_key(), signs_with, address, role, wall_ms(), lifetime_ms);
  if (Status st = store.put_invite(made.invite.invite_id(), made.stored.SerializeAsString()); !st.ok())
    return st.error();
  return made.text;
}

int init_join(const Global& g, const InitOptions& o) {
  if (o.join->find_first_not_of(" \t\r\n") == std::string::npos)
    return refuse(g,
                  Error(Errc::invalid_argument,
                        "--join was given an empty invite (did the command that should have printed it fail?): ask "
                        "a member for one (`conect-node invite`); nothing was created"),
                  kUsage);
  auto invite = parse_invite(*o.join);
  if (!invite.ok()) return refuse(g, invite.error(), kUsage);
  if (!o.federation.empty())
    return refuse(g, Error(Errc::invalid_argument, "--join names the federation already; drop --federation"), kUsage);
  // A flag value init cannot take is a usage error here too (it exited 1).
  if (Status st = check_init_flags(o); !st.ok()) return refuse(g, st.error(), kUsage);
  DataDir dir = DataDir::resolve(g.data);
  auto made = join_node(dir, o, *invite);
  if (!made.ok()) return refuse(g, made.error());
  const NodeId inviter = *NodeId::from_raw(invite->inviter());
  if (g.json) {
    std::cout << nlohmann::json{{"node_id", made->node_id.hex()},
                                {"federation", made->federation.hex()},
                                {"admitted_by", inviter.hex()},
                                {"data", dir.root.string()}}
                     .dump()
              << "\n";
  } else {
    std::cout << "joined federation " << made->federation.hex() << "\n"
              << "  node id      " << made->node_id.hex() << "\n"
              << "  admitted by  " << inviter.hex() << " (" << invite->address() << ")\n"
              << "next: `conect-node run --data " << dir.root.string() << "` catches up from the federation\n";
  }
  return kOk;
}

int member_upgrade(const Global& g, std::uint32_t quorum) {
  auto node = NodeFiles::load(DataDir::resolve(g.data));
  if (!node.ok()) return refuse(g, node.error());
  if (quorum < 1 || quorum > 1000)
    return refuse(g, Error(Errc::invalid_argument, "--admission-quorum must be 1 to 1000"), kUsage);
  auto store = node->open_store();
  if (!store.ok()) return refuse(g, store.error());
  auto roster = (*store)->roster();
  if (!roster.ok()) return refuse(g, roster.error());
  const NodeId self = node->key.public_key();
  if ((*roster)->admitted(self) && (*roster)->member(self)->founder)
    return refuse(g, Error(Errc::already_exists, "this node already adopted the replicated roster"));
  // A member admitted through the roster (an invited school) founds
  // nothing: its Found would name the federation's admission quorum for
  // every node (the smallest named counts), so one member could lower the
  // quorum alone and then expel anyone by itself.
  if ((*roster)->admitted(self))
    return refuse(g, Error(Errc::already_exists,
                           "this node is already an admitted member of the federation's replicated roster; `member "
                           "upgrade` is for the members of a federation made before 0.3 (and a Found written now "
                           "would set the admission quorum of the whole federation); nothing was written"));
  const std::uint32_t federation_quorum = (*roster)->quorum();
  if (federation_quorum > 0 && quorum < federation_quorum)
    return refuse(g,
                  Error(Errc::invalid_argument,
                        "the federation's roster admits with quorum " + std::to_string(federation_quorum) +
                            " already; an upgrading member agrees to it or to a larger one (--admission-quorum " +
                            std::to_string(federation_quorum) + "), never a smaller; nothing was written"),
                  kUsage);
  auto overrides = (*store)->members();
  if (!overrides.ok()) return refuse(g, overrides.error());
  // DESIGN §2: each member of a federation made before the replicated roster
  // founds it with its own card and admits the cards it already trusts.
  MemberInfo info{self,
                  node->federation,
                  node->config.name,
                  node->config.country,
                  *parse_role(node->config.role),
                  node->config.advertise,
                  wall_ms()};
  v1::MemberCard own;
  own.ParseFromString(*card_bytes(make_card(node->key, info)));
  DeltaDraft draft;
  draft.ops.push_back(membership_ops::found(own, quorum));
  std::size_t admitted = 0;
  for (const auto& [id, card] : *overrides) {
    if (id == self || !parse_card_bytes(card.SerializeAsString()).ok()) continue;
    draft.ops.push_back(membership_ops::admit(card));
    ++admitted;
  }
  auto deps = (*store)->membership_deps();
  if (!deps.ok()) return refuse(g, deps.error());
  draft.deps = std::move(*deps);
  auto delta = (*store)->author(node->key, std::move(draft), wall_ms());
  if (!delta.ok()) return refuse(g, delta.error());
  if (g.json)
    std::cout << nlohmann::json{{"founded", true}, {"admitted", admitted}, {"seq", delta->seq.value}}.dump() << "\n";
  else
    std::cout << "adopted the replicated roster: Found with quorum " << quorum << " and " << admitted
              << " admission(s) of the cards this node trusted (delta " << delta->seq.value << ")\n";
  return kOk;
}

namespace {

nlohmann::json card_json(const v1::MemberCard& card) {
  auto info = parse_card_bytes(card.SerializeAsString());
  if (!info.ok()) return {{"name", ""}, {"country", ""}, {"role", ""}, {"addresses", nlohmann::json::array()}};
  return {{"name", info->name},
          {"country", info->country},
          {"role", role_name(info->role)},
          {"addresses", info->addresses}};
}

}  // namespace

int member_list(const Global& g) {
  auto node = NodeFiles::load(DataDir::resolve(g.data));
  if (!node.ok()) return refuse(g, node.error());
  auto store = node->open_store();
  if (!store.ok()) return refuse(g, store.error());
  auto roster = (*store)->roster();
  if (!roster.ok()) return refuse(g, roster.error());
  auto overrides = (*store)->members();
  if (!overrides.ok()) return refuse(g, overrides.error());
  const NodeId self = node->key.public_key();
  nlohmann::json out = nlohmann::json::array();
  for (const auto& [id, m] : (*roster)->members()) {
    nlohmann::json j = card_json(m.card);
    j["node_id"] = id.hex();
    j["self"] = id == self;
    j["status"] = m.cut ? m.cut_reason : m.admitted ? "admitted" : "pending";
    j["admissions"] = m.founder ? 0 : m.admitted_by.size();
    j["removal_votes"] = m.removal_votes.size();
    j["founder"] = m.founder;
    j["quorum"] = (*roster)->quorum();
    if (m.cut) j["last_seq"] = m.cut->value;
    j["keys"] = m.keys.size();
    out.push_back(std::move(j));
  }
  // Local overrides (`member add`) of members the replicated roster has not admitted.
  for (const auto& [id, card] : *overrides) {
    if ((*roster)->admitted(id)) continue;
    nlohmann::json j = card_json(card);
    j["node_id"] = id.hex();
    j["self"] = id == self;
    j["status"] = "override";
    bool merged = false;
    for (auto& e : out)
      if (e["node_id"] == id.hex()) {
        e["status"] = "override";  // pending in the replicated roster, trusted here
        merged = true;
      }
    if (!merged) out.push_back(std::move(j));
  }
  if (g.json) {
    std::cout << out.dump() << "\n";
    return kOk;
  }
  for (const auto& m : out) {
    std::string status = m["status"].get<std::string>();
    if (status == "pending")
      status += " (" + std::to_string(m["admissions"].get<std::size_t>()) + "/" +
                std::to_string(m["quorum"].get<std::uint32_t>()) + " admissions)";
    if (status == "admitted" && m.value("removal_votes", 0u) > 0)
      status += " (" + std::to_string(m["removal_votes"].get<std::size_t>()) + "/" +
                std::to_string(m["quorum"].get<std::uint32_t>()) + " votes to expel)";
    std::cout << m["node_id"].get<std::string>().substr(0, 16) << "  " << m["country"].get<std::string>() << "  "
              << m["role"].get<std::string>() << "\t" << m["name"].get<std::string>() << "  [" << status << "]"
              << (m["self"].get<bool>() ? "  (this node)" : "") << "\n";
  }
  return kOk;
}

namespace {

// `member list` shows 16 hex digits of each id: a unique start of an id (8
// hex digits or more) stands for the whole of it.
Result<std::string> whole_member_id(const Global& g, const std::string& text) {
  const bool hex = !text.empty() && text.find_first_not_of("0123456789abcdef") == std::string::npos;
  if (!hex || text.size() < 8 || text.size() >= 64) return text;
  auto client = ApiClient::for_data_dir(DataDir::resolve(g.data));
  if (!client.ok()) return client.error();
  auto reply = client->get("/api/v1/members");
  if (!reply.ok()) return reply.error();
  std::vector<std::string> found;
  if (reply->status == 200 && reply->body.contains("items"))
    for (const auto& m : reply->body["items"])
      if (auto id = m.value("node_id", ""); id.starts_with(text)) found.push_back(id);
  if (found.size() == 1) return found.front();
  if (found.empty())
    return Error(Errc::not_found, "no member id starts with " + text + " (`conect-node member list` shows them)");
  return Error(Errc::invalid_argument,
               text + " is the start of " + std::to_string(found.size()) + " member ids: give more of it");
}

// One membership write through the running node's API (its writer pushes
// the delta to peers at once).
int api_write(const Global& g, const std::string& target, const nlohmann::json& body, const std::string& done) {
  auto client = ApiClient::for_data_dir(DataDir::resolve(g.data));
  if (!client.ok()) return refuse(g, client.error());
  auto reply = client->post(target, body);
  if (!reply.ok()) return refuse(g, reply.error());
  if (reply->status >= 400) {
    bool structured = reply->body.is_object();
    print_error(g, structured ? reply->body.value("error", "error") : "http_" + std::to_string(reply->status),
                structured ? reply->body.value("detail", "") : reply->raw);
    return reply->status == 400 || reply->status == 422 ? kUsage : kRefused;
  }
  if (g.json) {
    std::cout << reply->body.dump() << "\n";
  } else if (reply->body.contains("rejected")) {
    print_error(g, reply->body["rejected"].value("rule", "rejected"),
                "written but it does not count: " + reply->body["rejected"].value("detail", ""));
    return kRefused;
  } else {
    std::cout << done << " (delta " << reply->body["delta"].value("seq", 0) << ")\n";
  }
  return kOk;
}

}  // namespace

void add_member_commands(CLI::App& member, Global& g, int& code) {
  static std::string card_arg, id_arg;
  static std::uint64_t last_seq = 0;
  auto* admit = member.add_subcommand(
      "admit", "Admit a new member: CARD text, a FILE holding it, or a pending member's ID (one admission)");
  admit
      ->add_option("card", card_arg, "conect-card:..., a file, or the id of a pending member (or a unique start of it)")
      ->required();
  admit->callback([&] {
    std::string text = card_arg;
    if (text.rfind(kCardPrefix, 0) != 0 && !std::filesystem::exists(text)) {
      auto whole = whole_member_id(g, text);
      if (!whole.ok()) {
        code = refuse(g, whole.error());
        return;
      }
      text = *whole;
    }
    if (NodeId::from_hex(text) && !std::filesystem::exists(text)) {
      code = api_write(g, "/api/v1/members/admit", {{"member", text}}, "admission written");
      return;
    }
    if (text.rfind(kCardPrefix, 0) != 0) {
      std::ifstream in(text);
      std::stringstream s;
      s << in.rdbuf();
      text = s.str();
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    }
    code = api_write(g, "/api/v1/members/admit", {{"card", text}}, "admission written");
  });
  auto* expel = member.add_subcommand("expel", "Vote to remove a member (its deltas after the cut count nowhere)");
  expel->add_option("id", id_arg, "Member id (64 hex, or a unique start of it as `member list` shows)")->required();
  auto* ls =
      expel->add_option("--last-seq", last_seq, "The cut: its last delta that stays valid (default: its head here)");
  expel->callback([&, ls] {
    nlohmann::json body = nlohmann::json::object();
    if (ls->count() > 0) body["last_seq"] = last_seq;
    auto whole = whole_member_id(g, id_arg);
    if (!whole.ok()) {
      code = refuse(g, whole.error());
      return;
    }
    code = api_write(g, "/api/v1/members/" + *whole + "/expel", body, "removal vote written");
  });
  member.add_subcommand("leave", "Leave the federation: nothing this node writes later counts")->callback([&] {
    code = api_write(g, "/api/v1/members/leave", nlohmann::json::object(), "left the federation");
  });
}

void add_key_commands(CLI::App& app, Global& g, int& code) {
  auto* key = app.add_subcommand("key", "This node's identity and seal keys");
  key->require_subcommand(1);
  key->add_subcommand(
         "rotate",
         "Sign with a new key and receive personal data under a new seal key from now on (a Rotate signed by "
         "the current key; the old seal key is kept 30 days for envelopes sealed to it)")
      ->callback([&] {
        code = api_write(g, "/api/v1/keys/rotate", nlohmann::json::object(),
                         "rotated the signing, Noise and seal keys (the member id stays)");
      });
  // The member whose key is lost or stolen: a new key, and the one-line offer
  // the quorum's `key replace` needs (docs/membership.md "Lost keys").
  key->add_subcommand("offer", "Make a new key for the quorum to replace this member's lost key with (node stopped)")
      ->callback([&] { code = key_offer(g); });
  static std::string member_arg, offer_arg;
  static std::uint64_t replace_last_seq = 0;
  auto* replace = key->add_subcommand(
      "replace", "Vote to replace another member's lost key by the one it offered (a Rekey; quorum votes)");
  replace->add_option("--member", member_arg, "The member whose key is replaced (64 hex)")->required();
  replace->add_option("--key", offer_arg, "The member's key offer (conect-key:..., from `key offer` on it)")
      ->required();
  auto* rls = replace->add_option("--last-seq", replace_last_seq,
                                  "Its last delta signed by the old key that stays valid (default: its head here)");
  replace->callback([&, rls] {
    nlohmann::json body = {{"offer", offer_arg}};
    if (rls->count() > 0) body["last_seq"] = replace_last_seq;
    code = api_write(g, "/api/v1/members/" + member_arg + "/rekey", body, "key replacement vote written");
  });
}

int key_offer(const Global& g) {
  auto dir = DataDir::resolve(g.data);
  auto node = NodeFiles::load(dir);
  if (!node.ok()) return refuse(g, node.error());
  if (ApiClient::for_data_dir(dir).ok())
    return refuse(g, Error(Errc::invalid_argument,
                           "the node is running: stop it first (key offer changes the key it signs with)"));
  const NodeId member = node->key.public_key();
  KeyPair next = KeyPair::generate();
  // The new key signs from the next start on; until the quorum's Rekey
  // reaches this node its writes are refused (the store signs only with the
  // key the roster names), and peers that hold the Rekey accept its links.
  const auto signing = node->signing_key();
  std::error_code ec;
  if (std::filesystem::exists(signing)) {
    std::filesystem::rename(signing, signing.string() + ".old", ec);
    if (ec) return refuse(g, Error(Errc::io_error, "could not keep " + signing.string() + " as .old: " + ec.message()));
  }
  if (Status st = next.save(signing); !st.ok()) return refuse(g, st.error());
  const std::string offer = format_key_offer(member, next);
  if (g.json)
    std::cout << nlohmann::json{{"member", member.hex()}, {"key", next.public_key().hex()}, {"offer", offer}}.dump()
              << "\n";
  else {
    std::cout << offer << "\n";  // alone on stdout, like `card`
    std::cerr << "give this line to the members; each runs: conect-node key replace --member " << member.hex()
              << " --key LINE\n";
  }
  return kOk;
}

}  // namespace conect::cli
