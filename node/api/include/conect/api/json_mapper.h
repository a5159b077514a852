// One reflection-based mapping between the record messages of records.proto
// and the API's JSON, so all five record types (and anything added later)
// read and print the same way. docs/api.md describes the forms.
//
// Special forms, applied wherever the type appears at any depth:
//   conect.v1.RecordId   <-> "<64 hex owner>-<serial>"
//   conect.v1.Date       <-> "YYYY-MM-DD" (real calendar days only)
//   enums                <-> lower-case names without their type prefix
//                            ("open", "learner_otj_company"); CEFR levels as
//                            "A1".."C2"; the zero value prints as null
//   bytes                <-> lower-case hex
//   string `country`     <-  must be an ISO 3166-1 alpha-2 code
//   string `lang`        <-  must be a 2-3 letter language subtag
// Output prints every field (unset messages and zero enums as null, empty
// repeated fields as []), so clients see one shape per record type.
//
// Input is strict: an unknown field or a value of the wrong JSON type is
// malformed_body (HTTP 400), a well-typed but invalid value (bad date,
// unknown enum name, out-of-range number, unknown country) is
// invalid_argument (HTTP 422); the detail always names the field path, e.g.
// "windows[1].start: 2026-02-30 is not a calendar date".
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <google/protobuf/message.h>
#include <nlohmann/json.hpp>

#include "records.pb.h"
#include "conect/crdt/error.h"

namespace conect::api {

std::string record_id_text(const v1::RecordId& id);
std::optional<v1::RecordId> parse_record_id(std::string_view text);

// "" for the zero value.
std::string enum_json_name(const google::protobuf::EnumValueDescriptor& value);
// nullptr when `name` names no non-zero value of `type`.
const google::protobuf::EnumValueDescriptor* enum_from_json(
    const google::protobuf::EnumDescriptor& type, std::string_view name);
// Convenience for a generated enum: enum_json_name(T_descriptor()->FindValueByNumber(v)).
template <class E>
std::string enum_name_of(E value);

nlohmann::json message_to_json(const google::protobuf::Message& message);

struct JsonInputOptions {
  // Top-level fields the client may not write (derived or server-set); naming
  // one is malformed_body "FIELD is read-only".
  std::span<const std::string_view> read_only;
  // Prefix for error paths, e.g. "sending." when mapping a nested object.
  std::string path;
};

// Fills `message` from a JSON object and returns the numbers of the
// top-level fields the object named (in field order), which is exactly the
// FieldWrite.fields list of a create or a patch. `message` is left in an
// unspecified state on error.
Result<std::vector<std::uint32_t>> message_from_json(const nlohmann::json& json,
                                                     google::protobuf::Message& message,
                                                     const JsonInputOptions& options = {});

// Parses a request body that must be one JSON object. Errors (malformed_body)
// say what is wrong: invalid UTF-8 (with the byte offset), a syntax error
// (with the byte offset), or a non-object.
Result<nlohmann::json> parse_json_object(std::string_view body);

// Serialises for a response; invalid UTF-8 in stored strings is replaced
// rather than throwing.
std::string dump_json(const nlohmann::json& json);

template <class E>
std::string enum_name_of(E value) {
  const auto* d = google::protobuf::GetEnumDescriptor<E>()->FindValueByNumber(static_cast<int>(value));
  return d ? enum_json_name(*d) : std::string();
}

}  // namespace conect::api
