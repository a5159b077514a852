// Routes of the record resources, and the small ones: status, members,
// organisations, record history.
#include <google/protobuf/descriptor.h>

#include "conect/api/json_mapper.h"
#include "conect/api/validate.h"
#include "conect/crdt/ops.h"
#include "conect/storage/schema.h"
#include "handlers.h"
#include "records_support.h"

namespace conect::api {
namespace {
using nlohmann::json;

constexpr std::string_view kOrgReadOnly[] = {"speaker"};

Status validate_organisation(const v1::Organisation& o) {
  if (o.names_size() == 0) return Error(Errc::invalid_argument, "names: required (at least one {\"lang\", \"text\"})");
  for (int i = 0; i < o.names_size(); ++i)
    if (o.names(i).text().empty())
      return Error(Errc::invalid_argument, "names[" + std::to_string(i) + "].text: required");
  if (o.type() == v1::ORGANISATION_TYPE_UNSPECIFIED) return Error(Errc::invalid_argument, "type: required");
  if (o.country().empty()) return Error(Errc::invalid_argument, "country: required");
  return {};
}

HttpResponse list_organisations(HandlerEnv& env, const HttpRequest& req) {
  if (auto st = check_query(req, {"limit", "cursor"}); !st) return error_response(st.error());
  auto limit = query_limit(req);
  if (!limit) return error_response(limit.error());
  auto page = env.ctx.store->list(v1::ORGANISATION, std::string(req.query_param("cursor").value_or("")), *limit);
  if (!page) return error_response(page.error());
  std::vector<json> items;
  for (const auto& v : page->items) items.push_back(record_json(env, v.key, v.state));
  return list_json(std::move(items), page->next_cursor);
}

HttpResponse create_organisation(HandlerEnv& env, const HttpRequest& req) {
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  v1::Organisation o;
  JsonInputOptions opt;
  opt.read_only = kOrgReadOnly;
  if (auto f = message_from_json(*body, o, opt); !f) return error_response(f.error());
  if (auto st = validate_organisation(o); !st) return error_response(st.error());
  o.set_speaker(own_id(env).raw());
  return create_and_render(env, v1::ORGANISATION, ops::create_organisation(new_record_sentinel(v1::ORGANISATION), o));
}

HttpResponse get_record(HandlerEnv& env, v1::RecordType type, const std::string& id) {
  auto key = key_from_path(type, id);
  if (!key) return error_response(key.error());
  auto state = load_record(env, *key);
  if (!state) return error_response(state.error());
  return json_response(200, render_record(env, *key, *state));
}

HttpResponse patch_organisation(HandlerEnv& env, const HttpRequest& req, const std::string& id) {
  auto key = key_from_path(v1::ORGANISATION, id);
  if (!key) return error_response(key.error());
  auto state = load_record(env, *key);
  if (!state) return error_response(state.error());
  if (!owned_by_us(env, *key)) return not_ours("organisation", *key);
  auto body = body_object(req);
  if (!body) return error_response(body.error());
  v1::Organisation update;
  JsonInputOptions opt;
  opt.read_only = kOrgReadOnly;
  auto fields = message_from_json(*body, update, opt);
  if (!fields) return error_response(fields.error());
  if (auto st = validate_organisation(merged(state->organisation(), update, *fields)); !st) return error_response(st.error());
  auto ops = patch_ops(*key, *state, kGroupOrganisation, state->organisation(), update, *fields,
                       [&](const std::vector<std::uint32_t>& f) { return ops::write_organisation(*key, update, f); });
  return author_and_render(env, *key, std::move(ops), {});
}

HttpResponse status(HandlerEnv& env) {
  json j;
  j["node_id"] = own_id(env).hex();
  j["federation"] = env.ctx.federation.hex();
  NodeStatus ns = env.ctx.status ? env.ctx.status() : NodeStatus{};
  j["name"] = ns.name;
  j["country"] = ns.country;
  j["role"] = ns.role;
  j["peers"] = json::array();
  for (const auto& p : ns.peers)
    j["peers"].push_back({{"node_id", p.id.hex()},
                          {"address", p.address},
                          {"connected", p.connected},
                          {"lag", p.lag_deltas},
                          {"lag_s", p.lag_ms / 1000},
                          {"sync_state", p.sync_state.empty() ? json(nullptr) : json(p.sync_state)},
                          {"refuses_us", p.refuses_us.empty() ? json(nullptr) : json(p.refuses_us)},
                          {"last_seen", p.last_seen_ms ? json(format_iso8601_ms(p.last_seen_ms)) : json(nullptr)},
                          {"last_sync", p.last_sync_ms ? json(format_iso8601_ms(p.last_sync_ms)) : json(nullptr)}});
  j["progress"] = json::array();
  if (env.ctx.progress)
    for (const auto& t : env.ctx.progress->snapshot()) j["progress"].push_back(ProgressBoard::to_json(t));
  auto vv = env.ctx.store->version_vector();
  if (!vv) return error_response(vv.error());
  j["version_vector"] = json::object();
  for (const auto& [origin, head] : *vv)
    j["version_vector"][origin.hex()] = {{"seq", head.seq.value}, {"head", head.id.hex()},
                                         {"frozen_at", head.frozen_at.value ? json(head.frozen_at.value) : json(nullptr)}};
  auto counts = env.ctx.store->counts();
  if (!counts) return error_response(counts.error());
  j["counts"] = json::object();
  for (auto t : {v1::ORGANISATION, v1::PLACEMENT, v1::RESERVATION, v1::MOBILITY, v1::CONTACT}) {
    auto it = counts->find(t);
    j["counts"][enum_name_of(t)] = it == counts->end() ? 0 : it->second;
  }
  auto digest = env.ctx.store->digest();
  if (!digest) return error_response(digest.error());
  j["digest"] = digest->hex();
  // Set after a restore (or a rollback) until a partner has shown this
  // node its own chain back: its writes wait (docs/operations.md).
  auto fence = env.ctx.store->author_fence();
  j["writes_fenced"] = fence ? json(*fence) : json(nullptr);
  // The layout this node's store is in (docs/storage.md): what an upgrade
  // of the store moved it to.
  j["store_schema"] = storage::kSchemaVersion;
  return json_response(200, j);
}

HttpResponse history(HandlerEnv& env, const std::string& id) {
  std::optional<RecordKey> found;
  for (auto t : {v1::ORGANISATION, v1::PLACEMENT, v1::RESERVATION, v1::MOBILITY, v1::CONTACT}) {
    auto key = RecordKey::parse(t, id);
    if (!key) return error_response(Error(Errc::malformed_body, "id: \"" + id + "\" is not a record id \"<64 hex>-<serial>\""));
    auto r = env.ctx.store->record(*key);
    if (!r) return error_response(r.error());
    if (r->has_value()) {
      found = key;
      break;
    }
  }
  if (!found) return error_response(Error(Errc::not_found, "no record " + id + " on this node"));
  auto h = env.ctx.store->history(*found);
  if (!h) return error_response(h.error());
  std::vector<json> deltas;
  for (const auto& d : h->deltas) deltas.push_back(delta_json(env, d, h->ops, *found));
  return json_response(200, {{"id", found->text()}, {"record_type", enum_name_of(found->type)}, {"deltas", std::move(deltas)}});
}

}  // namespace

json delta_json(HandlerEnv& env, const storage::StoredDelta& d, const std::vector<PositionedOp>& ops,
                const RecordKey& key) {
  json j = {{"origin", d.origin.hex()}, {"seq", d.seq.value}, {"delta_id", d.id.hex()}};
  v1::DeltaBody body;
  if (body.ParseFromString(d.signed_delta.body())) {
    Hlc hlc{body.hlc()};
    j["hlc"] = std::to_string(hlc.value);  // beyond 2^53: a string, or JavaScript rounds it
    j["time"] = format_iso8601_ms(hlc.millis());
    j["prev"] = body.prev().empty() ? json(nullptr) : json(to_hex(body.prev()));
    j["deps"] = json::array();
    for (const auto& dep : body.deps()) j["deps"].push_back(message_to_json(dep));
  }
  auto v = verify_single(env.ctx.federation, d.signed_delta);
  j["verification"] = v.ok() ? json{{"ok", true}}
                             : json{{"ok", false},
                                    {"error", errc_name(static_cast<Errc>(v.error().code.value()))},
                                    {"detail", v.error().detail}};
  j["signature"] = to_hex(d.signed_delta.signature());
  j["operations"] = json::array();
  for (const auto& op : ops) {
    if (op.origin != d.origin || op.seq != d.seq) continue;
    json o = message_to_json(op.op);
    o["index"] = op.index;
    j["operations"].push_back(std::move(o));
  }
  (void)key;
  return j;
}

json render_record(HandlerEnv& env, const RecordKey& key, const v1::RecordState& state) {
  if (key.type == v1::PLACEMENT) {
    auto avail = env.ctx.store->availability(key);
    return placement_json(env, key, state, avail ? *avail : std::vector<WindowAvailability>{});
  }
  return record_json(env, key, state);
}

HttpResponse not_ours(std::string_view what, const RecordKey& key) {
  return error_response(403, "not_authorised",
                        std::string(what) + " " + key.text() + " belongs to node " + key.owner.hex().substr(0, 16) +
                            "..; only its owner may change it");
}

HttpResponse author_and_render(HandlerEnv& env, const RecordKey& key, std::vector<v1::Operation> ops,
                               std::vector<v1::DeltaRef> deps) {
  if (ops.empty()) return error_response(Error(Errc::malformed_body, "the request changes nothing"));
  DeltaDraft draft;
  draft.ops = std::move(ops);
  draft.deps = std::move(deps);
  auto d = author(env, std::move(draft));
  if (!d) return error_response(d.error());
  auto state = load_record(env, key);
  if (!state) return error_response(state.error());
  return json_response(200, render_record(env, key, *state));
}

HttpResponse create_and_render(HandlerEnv& env, v1::RecordType type, std::vector<v1::Operation> ops) {
  use_placeholder(ops, 0);
  DeltaDraft draft;
  draft.ops = std::move(ops);
  auto d = author(env, std::move(draft));
  if (!d) return error_response(d.error());
  RecordKey key = RecordKey::mint(type, own_id(env), d->seq, 0);
  auto state = load_record(env, key);
  if (!state) {
    return error_response(500, "internal", "the record was written (delta " + std::to_string(d->seq.value) +
                                               ") but did not take effect; see GET /api/v1/records/" + key.text() +
                                               "/history");
  }
  auto r = json_response(201, render_record(env, key, *state));
  std::string plural = type == v1::MOBILITY ? "mobilities" : enum_name_of(type) + "s";
  r.headers.emplace_back("Location", "/api/v1/" + plural + "/" + key.text());
  return r;
}

HttpResponse create_prepared(HandlerEnv& env, v1::RecordType type, Result<PreparedCreate> prepared) {
  if (!prepared) return error_response(prepared.error());
  std::vector<const PersonalBlob*> blobs;
  if (prepared->personal) blobs.push_back(&*prepared->personal);
  if (auto st = store_personal_blobs(env, blobs); !st) return error_response(st.error());
  auto r = create_and_render(env, type, std::move(prepared->ops));
  if (r.status != 201) drop_personal_blobs(env, blobs);
  return r;
}

google::protobuf::Message* merged_impl(const google::protobuf::Message& current, const google::protobuf::Message& update,
                                       const std::vector<std::uint32_t>& fields, google::protobuf::Message* out) {
  out->CopyFrom(current);
  auto copy = std::unique_ptr<google::protobuf::Message>(update.New());
  copy->CopyFrom(update);
  std::vector<const google::protobuf::FieldDescriptor*> fds;
  for (auto n : fields) fds.push_back(out->GetDescriptor()->FindFieldByNumber(static_cast<int>(n)));
  out->GetReflection()->SwapFields(out, copy.get(), fds);
  return out;
}

void add_record_routes(Router& r, HandlerEnv& env) {
  HandlerEnv* e = &env;
  r.add("GET", "/api/v1/status", plain_route([e](const HttpRequest&, const PathParams&) { return status(*e); }));
  add_membership_routes(r, env);
  r.add("GET", "/api/v1/organisations", [e](const HttpRequest& q, const PathParams&) { return list_organisations(*e, q); });
  r.add("POST", "/api/v1/organisations", [e](const HttpRequest& q, const PathParams&) { return create_organisation(*e, q); });
  r.add("GET", "/api/v1/organisations/{}",
        plain_route([e](const HttpRequest&, const PathParams& p) { return get_record(*e, v1::ORGANISATION, p[0]); }));
  r.add("PATCH", "/api/v1/organisations/{}", [e](const HttpRequest& q, const PathParams& p) {
    return patch_organisation(*e, q, p[0]);
  });
  r.add("GET", "/api/v1/records/{}/history",
        plain_route([e](const HttpRequest&, const PathParams& p) { return history(*e, p[0]); }));
  add_placement_routes(r, env);
  add_mobility_routes(r, env);
  add_import_routes(r, env);
  add_audit_routes(r, env);
}

}  // namespace conect::api
