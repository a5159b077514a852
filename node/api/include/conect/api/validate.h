// Value formats of the JSON API (docs/api.md): calendar dates, country codes,
// language tags, timestamps. Pure functions, no I/O; shared by the JSON mapper,
// the query-string filters and the handlers so every endpoint accepts and
// prints the same forms.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace conect::api {

// "YYYY-MM-DD" of a real calendar day (2026-02-30 is refused) between years
// 1900 and 2199, as days since 1970-01-01. nullopt on anything else.
std::optional<std::int32_t> parse_date(std::string_view text);
std::string format_date(std::int32_t days_since_epoch);

// ISO 3166-1 alpha-2, upper case, from the officially assigned list.
bool is_country_code(std::string_view code);

// A BCP 47 primary language subtag: 2 or 3 lowercase ASCII letters.
bool is_language_tag(std::string_view tag);

// Milliseconds since the epoch as "2026-11-28T16:22:07.123Z".
std::string format_iso8601_ms(std::uint64_t millis);

// Length limits of every string the API accepts (docs/api.md, "Limits"),
// in characters (Unicode code points). Untrusted text is only ever checked
// by these bounded, hand-written functions: no regular expressions (a
// backtracking std::regex recursed once per character, and a 30,000
// character e-mail crashed the node).
inline constexpr std::size_t kMaxListItems = 100;  // elements of any list field
// The limit of string field `field` of message `message` (full protobuf
// name, e.g. "conect.v1.Placement", "tasks").
std::size_t text_limit(std::string_view message, std::string_view field);
// The limit of a personal-data field (name, email, phone, notes; birth_date
// is a date); 0 for an unknown key.
std::size_t personal_text_limit(std::string_view key);
// Characters (code points) of valid UTF-8 text.
std::size_t text_length(std::string_view s);
// "field: 4213 characters; at most 4000" when `s` is over `limit`.
std::optional<std::string> over_limit(std::string_view path, std::string_view s, std::size_t limit);

// An e-mail address as the API accepts it: one '@', a local part of 1-64
// characters, a domain with a dot inside it, no spaces or control
// characters, at most 254 characters in all (RFC 5321's path limit).
bool is_email_address(std::string_view s);
// E.164: '+', a first digit 1-9, then 1-14 more digits.
bool is_e164_phone(std::string_view s);

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or values
// beyond U+10FFFF).
bool is_valid_utf8(std::string_view s);
// Offset of the first byte that starts an invalid sequence, if any.
std::optional<std::size_t> invalid_utf8_offset(std::string_view s);

}  // namespace conect::api
