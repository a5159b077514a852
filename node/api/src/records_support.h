// Helpers shared by the record handlers: path ids, loading, rendering,
// query parameters, authoring a draft, and personal-data blobs.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "api.h"
#include "conect/crdt/merge.h"
#include "conect/storage/store.h"

namespace conect::api {

// HTTP-shaped failure a handler returns early with.
using Reply = HttpResponse;

// The record `text` names, or 400 naming the path part.
Result<RecordKey> key_from_path(v1::RecordType type, const std::string& text);
// The created record, or not_found.
Result<v1::RecordState> load_record(HandlerEnv& env, const RecordKey& key);
NodeId own_id(const HandlerEnv& env);

// A record named by a path segment ("<64 hex>-<serial>"), with its state.
// Errors: malformed_body (not an id), not_found.
struct Loaded {
  RecordKey key;
  v1::RecordState state;
};
Result<Loaded> load(HandlerEnv& env, v1::RecordType type, const std::string& id);
bool owned_by_us(const HandlerEnv& env, const RecordKey& key);
bool owned_by_us(const HandlerEnv& env, const v1::RecordId& id);

// id, type, owner, updated, rejected + the record's fields at the top level
// (placements also get per-window availability, mobilities the personal
// data this node holds).
nlohmann::json record_json(HandlerEnv& env, const RecordKey& key, const v1::RecordState& state);
nlohmann::json placement_json(HandlerEnv& env, const RecordKey& key, const v1::RecordState& state,
                              const std::vector<WindowAvailability>& availability);

// Query parameters: every name must be one of `allowed` (400 naming it).
Status check_query(const HttpRequest& req, std::initializer_list<std::string_view> allowed);
Result<std::size_t> query_limit(const HttpRequest& req);
Result<std::optional<std::int32_t>> query_date(const HttpRequest& req, std::string_view name);

// Parses the body as a JSON object (400 on failure); an empty body is {}.
Result<nlohmann::json> body_object(const HttpRequest& req);

// A route that takes no query parameters and no body (a read by id; an
// action such as /cancel): one given is refused (400), not ignored (a
// "reason" sent with a cancel was dropped unseen). An empty body or {} is
// no body.
Handler plain_route(Handler handler);

// A placeholder id for a record created by operation `index` of the draft
// being authored: the writer fills owner and serial (= seq << 16 | index).
// Build the ops with kNewRecord, then call use_placeholder().
RecordKey new_record_sentinel(v1::RecordType type);
void use_placeholder(std::vector<v1::Operation>& ops, std::uint32_t index);

// Authors the draft through the daemon's write path (durable on return).
Result<VerifiedDelta> author(HandlerEnv& env, DeltaDraft draft);

// Ops changing the listed fields of `update` against `current`: one
// last-writer-wins write (built by `write`) for plain fields, and OR-set
// adds/removes for set fields.
std::vector<v1::Operation> patch_ops(const RecordKey& key, const v1::RecordState& state, std::uint32_t group,
                                     const google::protobuf::Message& current, const google::protobuf::Message& update,
                                     const std::vector<std::uint32_t>& fields,
                                     const std::function<v1::Operation(const std::vector<std::uint32_t>&)>& write);

// Personal data (DESIGN §5): stored as a local blob, referenced from the
// record only by its salted commitment.
struct PersonalBlob {
  Hash256 commitment;
  std::string bytes;  // salt (32) || canonical JSON content
};
PersonalBlob seal_personal(const nlohmann::json& content);
// The JSON content of a held blob, or null when absent or erased.
nlohmann::json open_personal(HandlerEnv& env, const v1::PersonalRef& ref, const v1::RecordState& state);

// A validated create, not yet authored: the operations that make the record
// (built on new_record_sentinel, operation 0 creates it) and the personal
// data they commit to, stored only when the record is written.
struct PreparedCreate {
  std::vector<v1::Operation> ops;
  std::optional<PersonalBlob> personal;
};
// Checks one create's JSON body as POST /api/v1/<kind> takes it.
using CreatePreparer = Result<PreparedCreate> (*)(HandlerEnv& env, const nlohmann::json& body);

// Stores the prepared blobs in one transaction, all or none.
Status store_personal_blobs(HandlerEnv& env, const std::vector<const PersonalBlob*>& blobs);
void drop_personal_blobs(HandlerEnv& env, const std::vector<const PersonalBlob*>& blobs);

HttpResponse list_json(std::vector<nlohmann::json> items, const std::string& next_cursor);

}  // namespace conect::api
