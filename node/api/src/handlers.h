// Shared pieces of the record handlers (records.cc, placements.cc,
// mobilities.cc).
#pragma once

#include <memory>
#include <vector>

#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include "api.h"
#include "conect/storage/store.h"
#include "records_support.h"
#include "router.h"

namespace conect::api {

void add_placement_routes(Router& r, HandlerEnv& env);
void add_mobility_routes(Router& r, HandlerEnv& env);
void add_import_routes(Router& r, HandlerEnv& env);
void add_audit_routes(Router& r, HandlerEnv& env);
void add_membership_routes(Router& r, HandlerEnv& env);

// Validation of one create, shared by POST /api/v1/<kind> and the
// all-or-nothing imports.
Result<PreparedCreate> prepare_placement(HandlerEnv& env, const nlohmann::json& body);
Result<PreparedCreate> prepare_mobility(HandlerEnv& env, const nlohmann::json& body);
Result<PreparedCreate> prepare_contact(HandlerEnv& env, const nlohmann::json& body);

// The record as the API shows it (placements with availability).
nlohmann::json render_record(HandlerEnv& env, const RecordKey& key, const v1::RecordState& state);
nlohmann::json delta_json(HandlerEnv& env, const storage::StoredDelta& d, const std::vector<PositionedOp>& ops,
                          const RecordKey& key);

// 403 for a change to another node's record.
HttpResponse not_ours(std::string_view what, const RecordKey& key);

// Authors `ops` (built with new_record_sentinel) as a new record created by
// operation 0 and answers 201 with the stored record.
HttpResponse create_and_render(HandlerEnv& env, v1::RecordType type, std::vector<v1::Operation> ops);
// The same for a prepared create: its personal data is stored first and
// removed again if the record is not written.
HttpResponse create_prepared(HandlerEnv& env, v1::RecordType type, Result<PreparedCreate> prepared);
// Authors `ops` on an existing record and answers 200 with it.
HttpResponse author_and_render(HandlerEnv& env, const RecordKey& key, std::vector<v1::Operation> ops,
                               std::vector<v1::DeltaRef> deps);

// `current` with the listed fields taken from `update` (what a patch would
// leave), for validation before authoring.
google::protobuf::Message* merged_impl(const google::protobuf::Message& current,
                                       const google::protobuf::Message& update,
                                       const std::vector<std::uint32_t>& fields, google::protobuf::Message* out);
template <class M>
M merged(const M& current, const M& update, const std::vector<std::uint32_t>& fields) {
  M out;
  merged_impl(current, update, fields, &out);
  return out;
}

}  // namespace conect::api
