#include "conect/api/json_mapper.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <map>
#include <set>

#include "conect/api/validate.h"
#include "conect/crdt/types.h"

namespace conect::api {
namespace pb = google::protobuf;
using FD = pb::FieldDescriptor;
using nlohmann::json;

namespace {

// Prefixes/suffixes that records.proto adds to keep enum values unique in
// the package; the API drops them ("PLACEMENT_OPEN" -> "open").
struct EnumAffix {
  std::string_view type, prefix, suffix;
};
constexpr EnumAffix kAffixes[] = {
    {"conect.v1.OrganisationType", "", "_ORGANISATION"},
    {"conect.v1.SafetyRequirement", "", "_SAFETY"},
    {"conect.v1.PlacementStatus", "PLACEMENT_", ""},
    {"conect.v1.ReservationDecision", "RESERVATION_", ""},
    {"conect.v1.MobilityStatus", "MOBILITY_", ""},
    {"conect.v1.HostStatus", "HOST_", ""},
    {"conect.v1.ContactRole", "", "_ROLE"},
    {"conect.v1.ConfirmingParty", "PARTY_", ""},
    {"conect.v1.AudienceKind", "AUDIENCE_", ""},
};

Error malformed(const std::string& path, const std::string& what) {
  return Error(Errc::malformed_body, path + ": " + what);
}
Error invalid(const std::string& path, const std::string& what) {
  return Error(Errc::invalid_argument, path + ": " + what);
}

const char* json_type(const json& j) {
  return j.type_name();
}

json scalar_to_json(const pb::Message& m, const FD* f, int index);
json single_to_json(const pb::Message& m, const FD* f, int index) {
  const pb::Reflection* r = m.GetReflection();
  if (f->cpp_type() == FD::CPPTYPE_MESSAGE) {
    const pb::Message& sub = index < 0 ? r->GetMessage(m, f) : r->GetRepeatedMessage(m, f, index);
    return message_to_json(sub);
  }
  return scalar_to_json(m, f, index);
}

json scalar_to_json(const pb::Message& m, const FD* f, int i) {
  const pb::Reflection* r = m.GetReflection();
  bool rep = i >= 0;
  switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32: return rep ? r->GetRepeatedInt32(m, f, i) : r->GetInt32(m, f);
    case FD::CPPTYPE_INT64: return rep ? r->GetRepeatedInt64(m, f, i) : r->GetInt64(m, f);
    case FD::CPPTYPE_UINT32: return rep ? r->GetRepeatedUInt32(m, f, i) : r->GetUInt32(m, f);
    case FD::CPPTYPE_UINT64: return rep ? r->GetRepeatedUInt64(m, f, i) : r->GetUInt64(m, f);
    case FD::CPPTYPE_DOUBLE: return rep ? r->GetRepeatedDouble(m, f, i) : r->GetDouble(m, f);
    case FD::CPPTYPE_FLOAT: return rep ? r->GetRepeatedFloat(m, f, i) : r->GetFloat(m, f);
    case FD::CPPTYPE_BOOL: return rep ? r->GetRepeatedBool(m, f, i) : r->GetBool(m, f);
    case FD::CPPTYPE_ENUM: {
      const auto* v = rep ? r->GetRepeatedEnum(m, f, i) : r->GetEnum(m, f);
      std::string name = enum_json_name(*v);
      if (!name.empty()) return name;
      // An unknown number (a newer peer's value) prints as its number so
      // nothing is silently hidden.
      return v->number() == 0 ? json(nullptr) : json(v->number());
    }
    case FD::CPPTYPE_STRING: {
      std::string s = rep ? r->GetRepeatedString(m, f, i) : r->GetString(m, f);
      if (f->type() == FD::TYPE_BYTES) return to_hex(s);
      return s;
    }
    case FD::CPPTYPE_MESSAGE: break;
  }
  return nullptr;
}

Result<std::int64_t> integer_in(const json& j, const std::string& path, std::int64_t lo,
                                std::int64_t hi) {
  if (!j.is_number_integer()) return malformed(path, std::string("expected an integer, got ") + json_type(j));
  if (j.is_number_unsigned()) {
    auto u = j.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi)) return invalid(path, std::to_string(u) + " is out of range");
    return static_cast<std::int64_t>(u);
  }
  auto v = j.get<std::int64_t>();
  if (v < lo || v > hi) return invalid(path, std::to_string(v) + " is out of range");
  return v;
}

Status set_special(const json& j, pb::Message& m, const std::string& path);
Status fill_message(const json& j, pb::Message& m, const std::string& path,
                    std::span<const std::string_view> read_only, std::vector<std::uint32_t>* present);

// Sets one scalar (i < 0) or appends one element (repeated) from JSON.
Status set_value(const json& j, pb::Message& m, const FD* f, const std::string& path) {
  const pb::Reflection* r = m.GetReflection();
  bool rep = f->is_repeated();
  switch (f->cpp_type()) {
    case FD::CPPTYPE_INT32:
    case FD::CPPTYPE_INT64:
    case FD::CPPTYPE_UINT32:
    case FD::CPPTYPE_UINT64: {
      std::int64_t lo = 0, hi = std::numeric_limits<std::int64_t>::max();
      if (f->cpp_type() == FD::CPPTYPE_INT32) lo = std::numeric_limits<std::int32_t>::min(), hi = std::numeric_limits<std::int32_t>::max();
      if (f->cpp_type() == FD::CPPTYPE_INT64) lo = std::numeric_limits<std::int64_t>::min();
      if (f->cpp_type() == FD::CPPTYPE_UINT32) hi = std::numeric_limits<std::uint32_t>::max();
      auto v = integer_in(j, path, lo, hi);
      if (!v) return v.error();
      switch (f->cpp_type()) {
        case FD::CPPTYPE_INT32: rep ? r->AddInt32(&m, f, static_cast<std::int32_t>(*v)) : r->SetInt32(&m, f, static_cast<std::int32_t>(*v)); break;
        case FD::CPPTYPE_INT64: rep ? r->AddInt64(&m, f, *v) : r->SetInt64(&m, f, *v); break;
        case FD::CPPTYPE_UINT32: rep ? r->AddUInt32(&m, f, static_cast<std::uint32_t>(*v)) : r->SetUInt32(&m, f, static_cast<std::uint32_t>(*v)); break;
        default: rep ? r->AddUInt64(&m, f, static_cast<std::uint64_t>(*v)) : r->SetUInt64(&m, f, static_cast<std::uint64_t>(*v)); break;
      }
      return {};
    }
    case FD::CPPTYPE_DOUBLE:
    case FD::CPPTYPE_FLOAT: {
      if (!j.is_number()) return malformed(path, std::string("expected a number, got ") + json_type(j));
      double d = j.get<double>();
      if (f->cpp_type() == FD::CPPTYPE_DOUBLE) rep ? r->AddDouble(&m, f, d) : r->SetDouble(&m, f, d);
      else rep ? r->AddFloat(&m, f, static_cast<float>(d)) : r->SetFloat(&m, f, static_cast<float>(d));
      return {};
    }
    case FD::CPPTYPE_BOOL:
      if (!j.is_boolean()) return malformed(path, std::string("expected true or false, got ") + json_type(j));
      rep ? r->AddBool(&m, f, j.get<bool>()) : r->SetBool(&m, f, j.get<bool>());
      return {};
    case FD::CPPTYPE_ENUM: {
      if (!j.is_string()) return malformed(path, std::string("expected a string, got ") + json_type(j));
      const auto* v = enum_from_json(*f->enum_type(), j.get_ref<const std::string&>());
      if (!v) {
        std::string allowed;
        for (int k = 1; k < f->enum_type()->value_count(); ++k)
          allowed += (allowed.empty() ? "" : ", ") + enum_json_name(*f->enum_type()->value(k));
        return invalid(path, "\"" + j.get<std::string>() + "\" is not one of " + allowed);
      }
      rep ? r->AddEnum(&m, f, v) : r->SetEnum(&m, f, v);
      return {};
    }
    case FD::CPPTYPE_STRING: {
      if (!j.is_string()) return malformed(path, std::string("expected a string, got ") + json_type(j));
      const auto& s = j.get_ref<const std::string&>();
      // Country and language codes have forms of their own (checked in
      // bounded time below); every other string first meets its limit.
      bool coded = f->name() == "country" || f->name() == "lang";
      if (auto too_long =
              coded ? std::nullopt : over_limit(path, s, text_limit(m.GetDescriptor()->full_name(), f->name())))
        return Error(Errc::invalid_argument, *too_long);
      std::string value = s;
      if (f->type() == FD::TYPE_BYTES) {
        auto raw = from_hex(s);
        if (!raw) return invalid(path, "expected lower-case hex");
        value = std::move(*raw);
      } else if (f->name() == "country" && !s.empty() && !is_country_code(s)) {
        return invalid(path, "\"" + s.substr(0, 40) + "\" is not an ISO 3166-1 alpha-2 country code");
      } else if (f->name() == "lang" && !is_language_tag(s)) {
        return invalid(path, "\"" + s.substr(0, 40) + "\" is not a language code such as \"fi\"");
      }
      rep ? r->AddString(&m, f, std::move(value)) : r->SetString(&m, f, std::move(value));
      return {};
    }
    case FD::CPPTYPE_MESSAGE: {
      pb::Message* sub = rep ? r->AddMessage(&m, f) : r->MutableMessage(&m, f);
      return set_special(j, *sub, path);
    }
  }
  return {};
}

// Messages with a JSON form of their own, else a nested object.
Status set_special(const json& j, pb::Message& m, const std::string& path) {
  const std::string& type = m.GetDescriptor()->full_name();
  if (type == "conect.v1.RecordId") {
    if (!j.is_string()) return malformed(path, std::string("expected a record id string, got ") + json_type(j));
    auto id = parse_record_id(j.get_ref<const std::string&>());
    if (!id) return invalid(path, "expected a record id \"<64 hex>-<serial>\"");
    m.CopyFrom(*id);
    return {};
  }
  if (type == "conect.v1.Date") {
    if (!j.is_string()) return malformed(path, std::string("expected a date string, got ") + json_type(j));
    auto days = parse_date(j.get_ref<const std::string&>());
    if (!days) return invalid(path, j.get<std::string>() + " is not a calendar date YYYY-MM-DD");
    static_cast<v1::Date&>(m).set_days(*days);
    return {};
  }
  return fill_message(j, m, path, {}, nullptr);
}

Status fill_message(const json& j, pb::Message& m, const std::string& path,
                    std::span<const std::string_view> read_only, std::vector<std::uint32_t>* present) {
  if (!j.is_object()) return malformed(path.empty() ? "body" : path, std::string("expected an object, got ") + json_type(j));
  const pb::Descriptor* d = m.GetDescriptor();
  const pb::Reflection* r = m.GetReflection();
  std::string prefix = path.empty() ? "" : path + ".";
  for (const auto& [key, value] : j.items()) {
    const FD* f = d->FindFieldByName(key);
    std::string fpath = prefix + key;
    if (!f) return malformed(fpath, "unknown field");
    if (std::find(read_only.begin(), read_only.end(), key) != read_only.end())
      return malformed(fpath, "is read-only");
    if (present) present->push_back(static_cast<std::uint32_t>(f->number()));
    r->ClearField(&m, f);
    if (value.is_null()) continue;
    if (!f->is_repeated()) {
      if (auto st = set_value(value, m, f, fpath); !st) return st;
      continue;
    }
    if (!value.is_array()) return malformed(fpath, std::string("expected an array, got ") + json_type(value));
    if (value.size() > kMaxListItems)
      return invalid(fpath, std::to_string(value.size()) + " items; at most " + std::to_string(kMaxListItems));
    // A list of texts or skills by language (names, title, languages) gives
    // each language once: a second one would be shown or counted beside the
    // first, and which one a reader sees would depend on the order.
    std::map<std::string, std::size_t> langs;
    for (std::size_t i = 0; i < value.size(); ++i) {
      const std::string ipath = fpath + "[" + std::to_string(i) + "]";
      if (auto st = set_value(value[i], m, f, ipath); !st) return st;
      if (value[i].is_object() && value[i].contains("lang") && value[i]["lang"].is_string())
        if (auto [at, fresh] = langs.emplace(value[i]["lang"].get<std::string>(), i); !fresh)
          return invalid(ipath + ".lang", "'" + at->first + "' is given twice (items " + std::to_string(at->second) +
                                              " and " + std::to_string(i) + "); give each language once");
    }
  }
  if (present) std::sort(present->begin(), present->end());
  return {};
}

}  // namespace

std::string record_id_text(const v1::RecordId& id) {
  return to_hex(id.owner()) + "-" + std::to_string(id.serial());
}

std::optional<v1::RecordId> parse_record_id(std::string_view text) {
  if (text.size() < 66 || text[64] != '-') return std::nullopt;
  auto owner = from_hex(text.substr(0, 64));
  if (!owner) return std::nullopt;
  auto digits = text.substr(65);
  if (digits.size() > 20 || (digits.size() > 1 && digits[0] == '0')) return std::nullopt;
  std::uint64_t serial = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), serial);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) return std::nullopt;
  v1::RecordId id;
  id.set_owner(std::move(*owner));
  id.set_serial(serial);
  return id;
}

std::string enum_json_name(const pb::EnumValueDescriptor& value) {
  if (value.number() == 0) return {};
  std::string name = value.name();
  const std::string& type = value.type()->full_name();
  if (type == "conect.v1.CefrLevel") return name;
  for (const auto& a : kAffixes) {
    if (a.type != type) continue;
    if (!a.prefix.empty() && name.starts_with(a.prefix)) name.erase(0, a.prefix.size());
    if (!a.suffix.empty() && name.ends_with(a.suffix)) name.erase(name.size() - a.suffix.size());
  }
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return name;
}

const pb::EnumValueDescriptor* enum_from_json(const pb::EnumDescriptor& type, std::string_view name) {
  for (int i = 0; i < type.value_count(); ++i) {
    const auto* v = type.value(i);
    if (v->number() != 0 && enum_json_name(*v) == name) return v;
  }
  return nullptr;
}

json message_to_json(const pb::Message& m) {
  const std::string& type = m.GetDescriptor()->full_name();
  if (type == "conect.v1.RecordId") {
    const auto& id = static_cast<const v1::RecordId&>(m);
    if (id.owner().empty()) return nullptr;
    return record_id_text(id);
  }
  if (type == "conect.v1.Date") {
    const auto& d = static_cast<const v1::Date&>(m);
    return d.days() == 0 ? json(nullptr) : json(format_date(d.days()));
  }
  json out = json::object();
  const pb::Descriptor* d = m.GetDescriptor();
  const pb::Reflection* r = m.GetReflection();
  for (int i = 0; i < d->field_count(); ++i) {
    const FD* f = d->field(i);
    // Only the set member of a oneof is printed (operations in history).
    if (f->real_containing_oneof() && !r->HasField(m, f)) continue;
    if (f->is_repeated()) {
      json arr = json::array();
      for (int k = 0; k < r->FieldSize(m, f); ++k) arr.push_back(single_to_json(m, f, k));
      out[f->name()] = std::move(arr);
    } else if (f->cpp_type() == FD::CPPTYPE_MESSAGE && !r->HasField(m, f)) {
      out[f->name()] = nullptr;
    } else {
      out[f->name()] = single_to_json(m, f, -1);
    }
  }
  return out;
}

Result<std::vector<std::uint32_t>> message_from_json(const json& j, pb::Message& m,
                                                     const JsonInputOptions& options) {
  std::vector<std::uint32_t> present;
  if (auto st = fill_message(j, m, options.path, options.read_only, &present); !st) return st.error();
  return present;
}

Result<json> parse_json_object(std::string_view body) {
  if (auto bad = invalid_utf8_offset(body))
    return Error(Errc::malformed_body, "body is not valid UTF-8 (byte " + std::to_string(*bad) + ")");
  // A key given twice in one object is refused: the parser keeps the last,
  // and a proxy or log that reads the first sees another request than the
  // one the node signs.
  struct DuplicateKey {
    std::string key;
  };
  std::vector<std::set<std::string>> keys;  // one set per open object
  auto no_duplicates = [&keys](int, json::parse_event_t event, json& parsed) {
    if (event == json::parse_event_t::object_start) keys.emplace_back();
    if (event == json::parse_event_t::object_end && !keys.empty()) keys.pop_back();
    if (event == json::parse_event_t::key && !keys.empty() && !keys.back().insert(parsed.get<std::string>()).second)
      throw DuplicateKey{parsed.get<std::string>()};
    return true;
  };
  json j;
  try {
    j = json::parse(body, no_duplicates);
  } catch (const DuplicateKey& d) {
    return Error(Errc::malformed_body, "body: key \"" + d.key + "\" is given twice in one object; give it once");
  } catch (const json::exception& e) {
    auto* pe = dynamic_cast<const json::parse_error*>(&e);
    return Error(Errc::malformed_body, "body is not valid JSON" +
                                           (pe ? " (syntax error at byte " + std::to_string(pe->byte) + ")"
                                               : std::string()));
  }
  if (!j.is_object()) return Error(Errc::malformed_body, std::string("body: expected a JSON object, got ") + j.type_name());
  return j;
}

std::string dump_json(const json& j) {
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace conect::api
