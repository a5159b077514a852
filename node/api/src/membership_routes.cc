// The replicated roster's routes (docs/api.md "Members"; docs/membership.md):
//   GET  /api/v1/members                 admitted, pending, removed members and local overrides
//   POST /api/v1/members/admit           {"card": "conect-card:..."} or {"member": ID}   Admit{card}
//   POST /api/v1/members/{id}/expel      {"last_seq": N}? (default: its stored head)  Remove{id, last_seq}
//   POST /api/v1/members/leave           Leave{}
//   POST /api/v1/members/{id}/rekey      {"offer": "conect-key:...", "last_seq": N?}  Rekey{id, key, last_seq}
// Each write is one membership delta of this node, naming in deps the newest
// membership delta of every origin it holds (so it counts on every node).
#include "conect/api/json_mapper.h"
#include "conect/api/validate.h"
#include "conect/crdt/membership.h"
#include "conect/crdt/seal.h"
#include "conect/node/member_card.h"
#include "handlers.h"

namespace conect::api {
namespace {

using json = nlohmann::json;

json card_fields(const v1::MemberCard& card) {
  v1::MemberCardBody body;
  json m;
  if (body.ParseFromString(card.body())) {
    m["name"] = body.name();
    m["country"] = body.country();
    m["role"] = enum_name_of(body.role());
    m["addresses"] = body.addresses();
    m["issued"] = body.issued_ms() ? json(format_iso8601_ms(body.issued_ms())) : json(nullptr);
  }
  return m;
}

HttpResponse list_members(HandlerEnv& env) {
  auto roster = env.ctx.store->roster();
  if (!roster) return error_response(roster.error());
  auto overrides = env.ctx.store->members();
  if (!overrides) return error_response(overrides.error());
  auto seal_keys = env.ctx.store->seal_keys();
  if (!seal_keys) return error_response(seal_keys.error());
  // A member that announced no seal key can receive no personal data
  // (docs/privacy.md): said for each member.
  auto add_seal_key = [&](json& j, const NodeId& id) {
    auto seal = seal_keys->find(id);
    j["seal_key"] = seal == seal_keys->end() ? json(nullptr) : json(seal->second.hex());
    if (seal != seal_keys->end())
      j["personal_data"] = "can receive personal data (announced its seal key)";
    else if (j.value("role", "") == "auditor")
      j["personal_data"] = "receives no personal data (auditor)";
    else
      j["personal_data"] =
          "can receive no personal data yet: it has announced no seal key (it does at its first start)";
  };
  std::vector<json> items;
  for (const auto& [id, m] : (*roster)->members()) {
    json j = card_fields(m.card);
    j["node_id"] = id.hex();
    j["self"] = id == own_id(env);
    j["status"] = m.cut ? m.cut_reason : m.admitted ? "admitted" : "pending";
    j["founder"] = m.founder;
    j["admissions"] = m.admitted_by.size();
    j["removal_votes"] = m.removal_votes.size();
    j["removal_voted_by_self"] = m.removal_votes.contains(own_id(env));
    j["quorum"] = (*roster)->quorum();
    j["last_seq"] = m.cut ? json(m.cut->value) : json(nullptr);
    j["key_changes"] = m.keys.empty() ? 0 : m.keys.size() - 1;
    add_seal_key(j, id);
    items.push_back(std::move(j));
  }
  for (const auto& [id, card] : *overrides) {
    if ((*roster)->admitted(id)) continue;
    bool pending = false;
    for (auto& j : items)
      if (j["node_id"] == id.hex()) {
        j["status"] = "override";
        pending = true;
      }
    if (pending) continue;
    json j = card_fields(card);
    j["node_id"] = id.hex();
    j["self"] = id == own_id(env);
    j["status"] = "override";
    add_seal_key(j, id);
    items.push_back(std::move(j));
  }
  return list_json(std::move(items), "");
}

HttpResponse author_membership(HandlerEnv& env, v1::Operation op) {
  DeltaDraft draft;
  draft.ops.push_back(std::move(op));
  auto deps = env.ctx.store->membership_deps();
  if (!deps) return error_response(deps.error());
  draft.deps = std::move(*deps);
  auto d = author(env, std::move(draft));
  if (!d) return error_response(d.error());
  auto roster = env.ctx.store->roster();
  json out = {{"delta", {{"origin", d->origin.hex()}, {"seq", d->seq.value}, {"id", d->id.hex()}}}};
  if (roster) {
    const auto& r = **roster;
    if (!r.rejected().empty() && r.rejected().back().origin == d->origin && r.rejected().back().seq == d->seq)
      out["rejected"] = {{"rule", std::string(errc_name(r.rejected().back().rule))},
                         {"detail", r.rejected().back().detail}};
  }
  return json_response(201, out);
}

Result<NodeId> admitted_member(HandlerEnv& env, const std::string& text) {
  auto id = NodeId::from_hex(text);
  if (!id) return Error(Errc::malformed_body, "\"" + text + "\" is not a 64-hex-character member id");
  auto roster = env.ctx.store->roster();
  if (!roster) return roster.error();
  if (!(*roster)->admitted(*id)) return Error(Errc::not_found, "no admitted member " + text);
  return *id;
}

// "left at seq 7" / "removed at seq 5" when the member is cut off, else empty.
std::string cut_off(const ReplicatedRoster& roster, const NodeId& id) {
  const MemberState* m = roster.member(id);
  if (!m || !m->cut) return {};
  return m->cut_reason + " at seq " + std::to_string(m->cut->value);
}

HttpResponse comes_back_only_as_new(const std::string& id_text, const std::string& cut) {
  return error_response(409, "invalid_state",
                        "member " + id_text + " is no longer a member (" + cut +
                            "): a removed member comes back only under a new identity (conect-node init, then an "
                            "invite or its new card)");
}

// A pending member's card, as the admissions so far named it: a further
// admission by id needs no card exchange.
Result<v1::MemberCard> pending_card(HandlerEnv& env, const std::string& text) {
  auto id = NodeId::from_hex(text);
  if (!id) return Error(Errc::malformed_body, "member: \"" + text + "\" is not a 64-hex-character member id");
  auto roster = env.ctx.store->roster();
  if (!roster) return roster.error();
  const MemberState* m = (*roster)->member(*id);
  if (m && m->admitted) return Error(Errc::already_exists, "member " + text + " is admitted already");
  if (!m || m->card.body().empty() || m->cut)
    return Error(Errc::not_found, "no pending member " + text +
                                      " (nobody admitted it yet): admit it with its card (conect-node card on it)");
  return m->card;
}

// The last sequence number of the member that stays valid after a removal or
// a key replacement: the body's last_seq, or by default what this node holds
// of the member now.
Result<Seq> cut_of(HandlerEnv& env, const json& body, const NodeId& id) {
  if (body.contains("last_seq")) {
    if (!body["last_seq"].is_number_unsigned())
      return Error(Errc::malformed_body, "last_seq: a sequence number (0 or more)");
    return Seq{body["last_seq"].get<std::uint64_t>()};
  }
  auto head = env.ctx.store->head(id);
  if (!head) return head.error();
  return Seq{*head ? (*head)->seq.value : 0};
}

// This node's admission of a pending member counts once: a second one was
// written, answered "admission written" and changed nothing (1 of 2 still).
std::optional<HttpResponse> admitted_by_us_already(HandlerEnv& env, const ReplicatedRoster& roster, const NodeId& id) {
  const MemberState* m = roster.member(id);
  if (!m || m->admitted || !m->admissions.contains(own_id(env))) return std::nullopt;
  return error_response(Error(Errc::already_exists,
                              "this node admitted member " + id.hex().substr(0, 16) + " already (" +
                                  std::to_string(m->admissions.size()) + " of " + std::to_string(roster.quorum()) +
                                  " admissions): each member admits once, so the next admission is another member's "
                                  "(conect-node member admit " +
                                  id.hex().substr(0, 16) + " on its node)"));
}

HttpResponse admit(HandlerEnv& env, const HttpRequest& req) {
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  // A removed member's admission would be written and count nowhere.
  auto roster = env.ctx.store->roster();
  if (!roster) return error_response(roster.error());
  if (body->contains("member") && (*body)["member"].is_string()) {
    const std::string text = (*body)["member"].get<std::string>();
    if (auto id = NodeId::from_hex(text))
      if (auto cut = cut_off(**roster, *id); !cut.empty()) return comes_back_only_as_new(text, cut);
    auto card = pending_card(env, text);
    if (!card) return error_response(card.error());
    if (auto id = NodeId::from_hex(text))
      if (auto refused = admitted_by_us_already(env, **roster, *id)) return *refused;
    return author_membership(env, membership_ops::admit(*card));
  }
  if (!body->contains("card") || !(*body)["card"].is_string())
    return error_response(
        Error(Errc::malformed_body,
              "card: a member card (\"conect-card:...\") is required, or member: a pending member's id"));
  auto bytes = card_bytes((*body)["card"].get<std::string>());
  if (!bytes) return error_response(bytes.error());
  auto info = parse_card_bytes(*bytes);
  if (!info) return error_response(info.error());
  if (info->federation != env.ctx.federation)
    return error_response(Error(Errc::wrong_federation, "card: the card belongs to another federation"));
  if (auto cut = cut_off(**roster, info->node_id); !cut.empty())
    return comes_back_only_as_new(info->node_id.hex(), cut);
  if (auto refused = admitted_by_us_already(env, **roster, info->node_id)) return *refused;
  v1::MemberCard card;
  card.ParseFromString(*bytes);
  return author_membership(env, membership_ops::admit(card));
}

HttpResponse expel(HandlerEnv& env, const HttpRequest& req, const std::string& id_text) {
  auto id = admitted_member(env, id_text);
  if (!id) return error_response(id.error());
  if (*id == own_id(env))
    return error_response(
        Error(Errc::invalid_argument,
              "a member does not expel itself: to leave the federation, use `conect-node member leave` (POST "
              "/api/v1/members/leave)"));
  // A decided cut is final and a voter's first vote is its vote: the roster
  // would not count this one (docs/membership.md), so it is not written.
  auto roster = env.ctx.store->roster();
  if (!roster) return error_response(roster.error());
  if (auto cut = cut_off(**roster, *id); !cut.empty())
    return error_response(
        409, "invalid_state",
        "member " + id_text + " is no longer a member (" + cut +
            "; its later deltas count nowhere): a decided cut is final, another vote would not count");
  if (const MemberState* m = (*roster)->member(*id); m && m->removal_votes.contains(own_id(env)))
    return error_response(409, "invalid_state",
                          "this node voted to expel " + id_text + " already (after its seq " +
                              std::to_string(m->removal_votes.at(own_id(env)).value) +
                              "): a member's first vote is its vote, a second one would not count");
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  auto last_seq = cut_of(env, *body, *id);
  if (!last_seq) return error_response(last_seq.error());
  return author_membership(env, membership_ops::remove(*id, *last_seq));
}

HttpResponse leave(HandlerEnv& env) { return author_membership(env, membership_ops::leave()); }

HttpResponse rotate(HandlerEnv& env) {
  if (!env.ctx.rotate_key) return error_response(Error(Errc::not_found, "this node cannot rotate its key here"));
  auto d = env.ctx.rotate_key();
  if (!d) return error_response(d.error());
  auto roster = env.ctx.store->roster();
  json out = {{"delta", {{"origin", d->origin.hex()}, {"seq", d->seq.value}, {"id", d->id.hex()}}}};
  if (roster) out["key"] = (*roster)->key_at(d->origin, d->seq.next()).hex();
  // The new seal key the Rotate carries (none at an auditor).
  out["seal_key"] = nullptr;
  out["noise_static_key"] = nullptr;
  for (const auto& op : d->body.ops())
    if (op.has_rotate()) {
      if (auto seal = rotated_seal_key(op.rotate())) out["seal_key"] = seal->hex();
      // The new Noise static key (every node, auditors too).
      if (auto noise = SealPublicKey::from_raw(op.rotate().new_noise_static_key()))
        out["noise_static_key"] = noise->hex();
    }
  return json_response(201, out);
}

// `key replace` (docs/membership.md "Lost keys"): one vote of the quorum to
// replace an admitted member's key by the one the member offered.
HttpResponse rekey(HandlerEnv& env, const HttpRequest& req, const std::string& id_text) {
  auto id = NodeId::from_hex(id_text);
  if (!id)
    return error_response(Error(Errc::malformed_body, "\"" + id_text + "\" is not a 64-hex-character member id"));
  if (*id == own_id(env))
    return error_response(Error(Errc::invalid_argument,
                                "this node holds its own key: it rotates it (POST /api/v1/keys/rotate, "
                                "conect-node key rotate); key replace is for another member's lost key"));
  auto roster = env.ctx.store->roster();
  if (!roster) return error_response(roster.error());
  const MemberState* m = (*roster)->member(*id);
  if (!m || (!m->admitted && m->admitted_by.empty() && !m->cut))
    return error_response(Error(Errc::not_found, "no member " + id_text + " in the roster: nobody admitted it"));
  if (m->cut)
    return error_response(Error(Errc::already_exists, "member " + id_text + " " + m->cut_reason + " after seq " +
                                                          std::to_string(m->cut->value) +
                                                          ": a removed member's key is not replaced (it comes back "
                                                          "under a new identity)"));
  if (!m->admitted)
    return error_response(Error(Errc::already_exists, "member " + id_text + " is pending (admitted by " +
                                                          std::to_string(m->admitted_by.size()) + " of " +
                                                          std::to_string((*roster)->quorum()) +
                                                          "): only an admitted member's key is replaced"));
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  if (!body->contains("offer") || !(*body)["offer"].is_string())
    return error_response(
        Error(Errc::malformed_body,
              "offer: the member's key offer (\"conect-key:...\", from `conect-node key offer` on it) "
              "is required"));
  auto offer = parse_key_offer((*body)["offer"].get<std::string>());
  if (!offer) {
    if (offer.error().is(Errc::bad_signature))
      return error_response(400, "bad_signature", "offer: " + offer.error().detail);
    return error_response(Error(offer.error().code, "offer: " + offer.error().detail));
  }
  if (offer->member != *id)
    return error_response(
        Error(Errc::invalid_argument, "offer: the offer is for member " + offer->member.hex() + ", not " + id_text));
  for (const auto& [other, state] : (*roster)->members()) {
    bool used = other == offer->key;
    for (const auto& [from, k] : state.keys) used = used || k == offer->key;
    if (used)
      return error_response(Error(Errc::already_exists, "offer: the new key is already member " +
                                                            other.hex().substr(0, 16) +
                                                            "'s id or key; the member makes a fresh offer"));
  }
  auto last_seq = cut_of(env, *body, *id);
  if (!last_seq) return error_response(last_seq.error());
  return author_membership(env, membership_ops::rekey(*offer, *last_seq));
}

}  // namespace

void add_membership_routes(Router& r, HandlerEnv& env) {
  HandlerEnv* e = &env;
  r.add("GET", "/api/v1/members", plain_route([e](const HttpRequest&, const PathParams&) { return list_members(*e); }));
  r.add("POST", "/api/v1/members/admit", [e](const HttpRequest& q, const PathParams&) { return admit(*e, q); });
  r.add("POST", "/api/v1/members/leave", plain_route([e](const HttpRequest&, const PathParams&) { return leave(*e); }));
  r.add("POST", "/api/v1/keys/rotate", plain_route([e](const HttpRequest&, const PathParams&) { return rotate(*e); }));
  r.add("POST", "/api/v1/members/{}/expel",
        [e](const HttpRequest& q, const PathParams& p) { return expel(*e, q, p[0]); });
  r.add("POST", "/api/v1/members/{}/rekey",
        [e](const HttpRequest& q, const PathParams& p) { return rekey(*e, q, p[0]); });
}

}  // namespace conect::api
