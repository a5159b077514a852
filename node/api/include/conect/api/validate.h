// Value formats of the JSON API (docs/api.md): calendar dates, country codes,
// language tags, timestamps. Pure functions, no I/O; shared by the JSON mapper,
// the query-string filters and the handlers so every endpoint accepts and
// prints the same forms.
#pragma once

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

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or values
// beyond U+10FFFF).
bool is_valid_utf8(std::string_view s);
// Offset of the first byte that starts an invalid sequence, if any.
std::optional<std::size_t> invalid_utf8_offset(std::string_view s);

}  // namespace conect::api
