#include "records_support.h"

#include <sodium.h>

#include <google/protobuf/descriptor.h>

#include <algorithm>
#include <charconv>
#include <set>

#include "conect/api/json_mapper.h"
#include "conect/api/validate.h"
#include "conect/crdt/audience.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/membership.h"
#include "conect/crdt/ops.h"

namespace conect::api {
namespace pb = google::protobuf;
using nlohmann::json;

namespace {
constexpr std::uint64_t kSentinelSerial = ~std::uint64_t{0};
constexpr std::size_t kSaltBytes = 32;

void replace_sentinel(pb::Message& m, std::uint32_t index) {
  if (m.GetDescriptor() == v1::RecordId::descriptor()) {
    auto& id = static_cast<v1::RecordId&>(m);
    if (id.serial() == kSentinelSerial && id.owner() == std::string(32, '\0')) {
      id.clear_owner();
      id.set_serial(index);
    }
    return;
  }
  const auto* r = m.GetReflection();
  std::vector<const pb::FieldDescriptor*> fields;
  r->ListFields(m, &fields);
  for (const auto* f : fields) {
    if (f->cpp_type() != pb::FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (f->is_repeated()) {
      for (int i = 0; i < r->FieldSize(m, f); ++i) replace_sentinel(*r->MutableRepeatedMessage(&m, f, i), index);
    } else {
      replace_sentinel(*r->MutableMessage(&m, f), index);
    }
  }
}

std::vector<std::string> set_elements(const pb::Message& m, const pb::FieldDescriptor* f) {
  const auto* r = m.GetReflection();
  std::vector<std::string> out;
  for (int i = 0; i < r->FieldSize(m, f); ++i) {
    switch (f->cpp_type()) {
      case pb::FieldDescriptor::CPPTYPE_STRING: out.push_back(ops::string_element(r->GetRepeatedString(m, f, i))); break;
      case pb::FieldDescriptor::CPPTYPE_ENUM: out.push_back(ops::enum_element(r->GetRepeatedEnumValue(m, f, i))); break;
      case pb::FieldDescriptor::CPPTYPE_MESSAGE: out.push_back(ops::message_element(r->GetRepeatedMessage(m, f, i))); break;
      default: break;
    }
  }
  return out;
}

json rejected_json(const v1::RecordState& s) {
  json out = json::array();
  for (const auto& r : s.rejected())
    out.push_back({{"rule", r.rule()}, {"detail", r.detail()}, {"origin", to_hex(r.position().origin())},
                   {"seq", r.position().seq()}});
  return out;
}

}  // namespace

Result<RecordKey> key_from_path(v1::RecordType type, const std::string& text) {
  auto key = RecordKey::parse(type, text);
  if (!key) return Error(Errc::malformed_body, "id: \"" + text + "\" is not a record id \"<64 hex>-<serial>\"");
  return *key;
}

Result<v1::RecordState> load_record(HandlerEnv& env, const RecordKey& key) {
  auto r = env.ctx.store->record(key);
  if (!r) return r.error();
  if (!r->has_value() || !(*r)->created())
    return Error(Errc::not_found, "no " + enum_name_of(key.type) + " " + key.text() + " on this node");
  return std::move(**r);
}

NodeId own_id(const HandlerEnv& env) { return env.ctx.key->public_key(); }
bool owned_by_us(const HandlerEnv& env, const RecordKey& key) { return key.owner == own_id(env); }
bool owned_by_us(const HandlerEnv& env, const v1::RecordId& id) { return id.owner() == own_id(env).raw(); }

namespace {
// Null personal data means either "not held here" or "erased by its owner";
// clients are told which.
bool is_erased(const v1::PersonalRef& ref, const v1::RecordState& state) {
  const auto& e = state.erased();
  return !ref.commitment().empty() && std::find(e.begin(), e.end(), ref.commitment()) != e.end();
}

// personal_data, personal_data_status and why (docs/privacy.md "What users
// see"): never a silent empty field. personal_data_erased stays for one
// release (README changelog).
void add_personal(HandlerEnv& env, const RecordKey& key, const v1::RecordState& state, const v1::PersonalRef& ref,
                  json& j) {
  j["personal_data"] = open_personal(env, ref, state);
  j["personal_data_erased"] = is_erased(ref, state);
  auto c = Hash256::from_raw(ref.commitment());
  if (!c) {
    j["personal_data_status"] = nullptr;
    j["personal_data_reason"] = "this record carries no personal data";
    return;
  }
  const NodeId self = own_id(env);
  std::set<NodeId> audience;
  if (state.has_contact()) {
    auto roles = env.ctx.store->member_roles();
    audience = personal_audience(key, state, roles.ok() ? *roles : std::map<NodeId, v1::MemberRole>{});
  } else {
    audience = personal_audience(key, state, {});
  }
  auto blob = env.ctx.store->blob(*c);
  const bool tombstone = blob.ok() && blob->has_value() && (*blob)->empty();
  std::string status, reason;
  if (is_erased(ref, state) || tombstone) {
    status = "erased";
    reason = "its owner erased it; every node that held it drops it and refuses it from then on";
  } else if (!j["personal_data"].is_null()) {
    status = "held";
    reason =
        key.owner == self ? "entered at this node" : "delivered to this node by its owner, checked against the record";
  } else if (!audience.contains(self)) {
    status = "not_shared_with_this_node";
    reason = "shared only with " + audience_description(key, state) + "; this node is not one of them";
  } else {
    auto mine = env.ctx.store->seal_key(self);
    status = "awaiting_delivery";
    reason = mine.ok() && mine->has_value()
                 ? "this node is in the audience; the owner's node delivers it when linked to this node"
                 : "this node is in the audience but has not announced its seal key yet (it does at start)";
  }
  j["personal_data_status"] = status;
  j["personal_data_reason"] = reason;
  if (key.owner != self) return;
  // The owner sees who may hold it, who cannot receive it yet, and who
  // acknowledged holding it (an EnvelopeAck in that member's log, which
  // reached this node with the sync; docs/privacy.md "Carry").
  auto seal_keys = env.ctx.store->seal_keys();
  json list = json::array();
  for (const NodeId& m : audience) {
    auto acked = env.ctx.store->envelope_acknowledged(*c, m);
    list.push_back({{"node_id", m.hex()},
                    {"seal_key_announced", seal_keys.ok() && seal_keys->contains(m)},
                    {"acknowledged", m == self || (acked.ok() && *acked)}});
  }
  j["personal_data_audience"] = std::move(list);
}
}  // namespace

json record_json(HandlerEnv& env, const RecordKey& key, const v1::RecordState& state) {
  json j = json::object();
  switch (state.record_case()) {
    case v1::RecordState::kOrganisation: j = message_to_json(state.organisation()); break;
    case v1::RecordState::kPlacement: j = message_to_json(state.placement()); break;
    case v1::RecordState::kReservation: j = message_to_json(state.reservation()); break;
    case v1::RecordState::kMobility: {
      const auto& m = state.mobility();
      j = message_to_json(m);
      for (std::size_t i = 0; i < j["confirmations"].size(); ++i) {
        const auto& c = m.confirmations(static_cast<int>(i));
        j["confirmations"][i]["current"] = c.agreed_delta() == m.agreed_delta();
      }
      add_personal(env, key, state, m.fixed().participant().personal(), j);
      break;
    }
    case v1::RecordState::kContact:
      j = message_to_json(state.contact());
      if (!state.contact().has_audience()) {
        // Unset reads as the default (DESIGN §5): said, not left null.
        v1::PersonalAudience federation;
        federation.set_kind(v1::AUDIENCE_FEDERATION);
        j["audience"] = message_to_json(federation);
      }
      add_personal(env, key, state, state.contact().personal(), j);
      break;
    default: break;
  }
  j["id"] = key.text();
  j["record_type"] = enum_name_of(key.type);
  j["owner"] = key.owner.hex();
  j["updated"] = state.updated_hlc() ? json(format_iso8601_ms(Hlc{state.updated_hlc()}.millis())) : json(nullptr);
  j["rejected"] = rejected_json(state);
  return j;
}

json placement_json(HandlerEnv& env, const RecordKey& key, const v1::RecordState& state,
                    const std::vector<WindowAvailability>& availability) {
  json j = record_json(env, key, state);
  for (auto& w : j["windows"]) {
    auto id = w["window_id"].get<std::uint32_t>();
    auto it = std::find_if(availability.begin(), availability.end(),
                           [id](const WindowAvailability& a) { return a.window_id == id; });
    WindowAvailability a = it == availability.end() ? WindowAvailability{} : *it;
    if (it == availability.end()) a.available = w["capacity"].get<std::uint32_t>();
    w["confirmed"] = a.confirmed;
    w["pending"] = a.pending;
    w["available"] = a.available;
    w["overbooked"] = a.overbooked_by > 0;
    w["overbooked_by"] = a.overbooked_by;
  }
  return j;
}

Handler plain_route(Handler handler) {
  return [handler = std::move(handler)](const HttpRequest& req, const PathParams& params) {
    if (auto st = check_query(req, {}); !st) return error_response(st.error());
    auto body = body_object(req);
    if (!body) return error_response(body.error());
    if (!body->empty())
      return error_response(Error(Errc::malformed_body, body->begin().key() + ": unknown field (this request takes "
                                                                              "no body)"));
    return handler(req, params);
  };
}

Status check_query(const HttpRequest& req, std::initializer_list<std::string_view> allowed) {
  std::vector<std::string_view> seen;
  for (const auto& [k, v] : req.query) {
    if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return Error(Errc::malformed_body, "query parameter \"" + k + "\" is not supported here" +
                                             (list.empty() ? std::string() : "; use " + list));
    }
    if (std::find(seen.begin(), seen.end(), k) != seen.end())
      return Error(Errc::malformed_body, "query parameter \"" + k + "\" is given twice");
    seen.push_back(k);
  }
  return {};
}

Result<std::size_t> query_limit(const HttpRequest& req) {
  auto v = req.query_param("limit");
  if (!v) return std::size_t{50};
  std::size_t n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n < 1 || n > 500)
    return Error(Errc::invalid_argument, "limit: expected a whole number from 1 to 500");
  return n;
}

Result<std::optional<std::int32_t>> query_date(const HttpRequest& req, std::string_view name) {
  auto v = req.query_param(name);
  if (!v) return std::optional<std::int32_t>();
  auto d = parse_date(*v);
  if (!d) return Error(Errc::invalid_argument, std::string(name) + ": " + std::string(*v) +
                                                   " is not a calendar date YYYY-MM-DD");
  return std::optional<std::int32_t>(*d);
}

Result<json> body_object(const HttpRequest& req) {
  if (req.body.empty()) return json::object();
  return parse_json_object(req.body);
}

RecordKey new_record_sentinel(v1::RecordType type) { return RecordKey{type, NodeId{}, kSentinelSerial}; }

void use_placeholder(std::vector<v1::Operation>& ops, std::uint32_t index) {
  for (auto& op : ops) replace_sentinel(op, index);
}

Result<VerifiedDelta> author(HandlerEnv& env, DeltaDraft draft) {
  // A node the federation removed (or that left) would write deltas no
  // node counts, and the operator would read "written but it did not take
  // effect": say what happened instead, and write nothing.
  if (auto roster = env.ctx.store->roster(); roster.ok())
    if (const MemberState* self = (*roster)->member(own_id(env)); self && self->cut)
      return Error(Errc::not_authorised, "this node is no longer a member of the federation (" + self->cut_reason +
                                             " after its delta " + std::to_string(self->cut->value) +
                                             "): nothing it writes counts on any node, so nothing was written; it "
                                             "comes back only under a new identity (conect-node init and an invite)");
  auto d = env.ctx.author(std::move(draft));
  if (!d) {
    env.metrics.counter("conect_api_writes_failed_total", "API writes the store refused",
                        {{"reason", errc_name(static_cast<Errc>(d.error().code.value()))}}).inc();
  }
  return d;
}

std::vector<v1::Operation> patch_ops(const RecordKey& key, const v1::RecordState& state, std::uint32_t group,
                                     const pb::Message& current, const pb::Message& update,
                                     const std::vector<std::uint32_t>& fields,
                                     const std::function<v1::Operation(const std::vector<std::uint32_t>&)>& write) {
  std::vector<v1::Operation> out;
  std::vector<std::uint32_t> plain;
  for (auto number : fields) {
    if (!is_set_field(group, number)) {
      plain.push_back(number);
      continue;
    }
    const auto* f = update.GetDescriptor()->FindFieldByNumber(static_cast<int>(number));
    auto now = set_elements(current, f);
    auto want = set_elements(update, f);
    for (const auto& e : want)
      if (std::find(now.begin(), now.end(), e) == now.end()) out.push_back(ops::set_add(key, group, number, e));
    for (const auto& e : now)
      if (std::find(want.begin(), want.end(), e) == want.end())
        out.push_back(ops::set_remove_live(key, state, group, number, e));
  }
  if (!plain.empty()) out.insert(out.begin(), write(plain));
  return out;
}

PersonalBlob seal_personal(const json& content) {
  std::string salt(kSaltBytes, '\0');
  randombytes_buf(salt.data(), salt.size());
  PersonalBlob b;
  b.bytes = salt + content.dump();
  b.commitment = blake2b256(b.bytes);
  return b;
}

Status store_personal_blobs(HandlerEnv& env, const std::vector<const PersonalBlob*>& blobs) {
  std::vector<std::pair<Hash256, std::string>> batch;
  for (const auto* b : blobs) batch.emplace_back(b->commitment, b->bytes);
  return batch.empty() ? Status{} : env.ctx.store->put_blobs(batch);
}

void drop_personal_blobs(HandlerEnv& env, const std::vector<const PersonalBlob*>& blobs) {
  for (const auto* b : blobs) (void)env.ctx.store->erase_blob(b->commitment);
}

json open_personal(HandlerEnv& env, const v1::PersonalRef& ref, const v1::RecordState& state) {
  auto c = Hash256::from_raw(ref.commitment());
  if (!c || is_erased(ref, state)) return nullptr;
  auto blob = env.ctx.store->blob(*c);
  if (!blob || !blob->has_value() || (*blob)->size() < kSaltBytes) return nullptr;
  json j = json::parse((*blob)->substr(kSaltBytes), nullptr, false);
  return j.is_discarded() ? json(nullptr) : j;
}

HttpResponse list_json(std::vector<json> items, const std::string& next_cursor) {
  json j = {{"items", std::move(items)}, {"next_cursor", next_cursor.empty() ? json(nullptr) : json(next_cursor)}};
  return json_response(200, j);
}

Result<Loaded> load(HandlerEnv& env, v1::RecordType type, const std::string& id) {
  auto key = key_from_path(type, id);
  if (!key) return key.error();
  auto state = load_record(env, *key);
  if (!state) return state.error();
  return Loaded{*key, std::move(*state)};
}

}  // namespace conect::api
