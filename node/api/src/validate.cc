#include "conect/api/validate.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>

namespace conect::api {
namespace {

// ISO 3166-1 officially assigned alpha-2 codes (Debian iso-codes), sorted.
constexpr std::array<std::string_view, 249> kCountries = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX",
    "AZ", "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ",
    "BR", "BS", "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK",
    "CL", "CM", "CN", "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM",
    "DO", "DZ", "EC", "EE", "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR",
    "GA", "GB", "GD", "GE", "GF", "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS",
    "GT", "GU", "GW", "GY", "HK", "HM", "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN",
    "IO", "IQ", "IR", "IS", "IT", "JE", "JM", "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN",
    "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC", "LI", "LK", "LR", "LS", "LT", "LU", "LV",
    "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK", "ML", "MM", "MN", "MO", "MP", "MQ",
    "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA", "NC", "NE", "NF", "NG", "NI",
    "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG", "PH", "PK", "PL", "PM",
    "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW", "SA", "SB", "SC",
    "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS", "ST", "SV",
    "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO", "TR",
    "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
};

bool all_digits(std::string_view s) {
  return std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int to_int(std::string_view s) {
  int v = 0;
  for (char c : s) v = v * 10 + (c - '0');
  return v;
}

}  // namespace

std::optional<std::int32_t> parse_date(std::string_view text) {
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return std::nullopt;
  auto ys = text.substr(0, 4), ms = text.substr(5, 2), ds = text.substr(8, 2);
  if (!all_digits(ys) || !all_digits(ms) || !all_digits(ds)) return std::nullopt;
  int y = to_int(ys);
  if (y < 1900 || y > 2199) return std::nullopt;
  std::chrono::year_month_day ymd{std::chrono::year{y},
                                  std::chrono::month{static_cast<unsigned>(to_int(ms))},
                                  std::chrono::day{static_cast<unsigned>(to_int(ds))}};
  if (!ymd.ok()) return std::nullopt;
  return static_cast<std::int32_t>(std::chrono::sys_days{ymd}.time_since_epoch().count());
}

std::string format_date(std::int32_t days) {
  std::chrono::year_month_day ymd{std::chrono::sys_days{std::chrono::days{days}}};
  char buf[32];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02u", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()));
  return buf;
}

bool is_country_code(std::string_view code) {
  return std::binary_search(kCountries.begin(), kCountries.end(), code);
}

bool is_language_tag(std::string_view tag) {
  if (tag.size() < 2 || tag.size() > 3) return false;
  return std::all_of(tag.begin(), tag.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

std::string format_iso8601_ms(std::uint64_t millis) {
  using namespace std::chrono;
  sys_days day{days{static_cast<std::int64_t>(millis / 86'400'000)}};
  std::uint64_t in_day = millis % 86'400'000;
  year_month_day ymd{day};
  char buf[40];
  std::snprintf(buf, sizeof buf, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", static_cast<int>(ymd.year()),
                static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                static_cast<unsigned>(in_day / 3'600'000), static_cast<unsigned>(in_day / 60'000 % 60),
                static_cast<unsigned>(in_day / 1000 % 60), static_cast<unsigned>(in_day % 1000));
  return buf;
}

std::optional<std::size_t> invalid_utf8_offset(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t n;
    std::uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xe0) == 0xc0) { n = 1; cp = c & 0x1f; }
    else if ((c & 0xf0) == 0xe0) { n = 2; cp = c & 0x0f; }
    else if ((c & 0xf8) == 0xf0) { n = 3; cp = c & 0x07; }
    else return i;
    if (i + n >= s.size()) return i;
    for (std::size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return i;
      cp = (cp << 6) | (cc & 0x3f);
    }
    static constexpr std::uint32_t kMin[] = {0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return i;
    i += n + 1;
  }
  return std::nullopt;
}

bool is_valid_utf8(std::string_view s) { return !invalid_utf8_offset(s).has_value(); }

namespace {

struct Limit {
  std::string_view message, field;
  std::size_t max;
};
// Everything not listed here: 1000 characters.
constexpr std::size_t kDefaultTextLimit = 1000;
constexpr Limit kLimits[] = {
    {"conect.v1.LocalisedText", "text", 200},
    {"conect.v1.LocalisedText", "lang", 3},
    {"conect.v1.LanguageSkill", "lang", 3},
    {"conect.v1.Organisation", "country", 2},
    {"conect.v1.Organisation", "region", 100},
    {"conect.v1.Organisation", "city", 100},
    {"conect.v1.Organisation", "address", 300},
    {"conect.v1.Organisation", "website", 300},
    {"conect.v1.Organisation", "trades", 100},
    {"conect.v1.ExternalIdentifier", "scheme", 32},
    {"conect.v1.ExternalIdentifier", "value", 100},
    {"conect.v1.Placement", "trade", 100},
    {"conect.v1.Placement", "trade_code", 32},
    {"conect.v1.Placement", "tasks", 4000},
    {"conect.v1.Placement", "city", 100},
    {"conect.v1.Placement", "country", 2},
    {"conect.v1.Placement", "accommodation", 1000},
    {"conect.v1.Reservation", "note", 1000},
    {"conect.v1.Participant", "pseudonym", 64},
    {"conect.v1.MobilitySending", "qualification_title", 300},
    {"conect.v1.MobilitySending", "europass_number", 64},
    {"conect.v1.Contact", "display_name", 200},
};

bool is_space_or_control(unsigned char c) { return c <= 0x20 || c == 0x7f; }

}  // namespace

std::size_t text_limit(std::string_view message, std::string_view field) {
  for (const auto& l : kLimits)
    if (l.message == message && l.field == field) return l.max;
  return kDefaultTextLimit;
}

std::size_t personal_text_limit(std::string_view key) {
  if (key == "name") return 200;
  if (key == "email") return 254;
  if (key == "phone") return 16;
  if (key == "notes") return 4000;
  if (key == "birth_date") return 10;
  return 0;
}

std::size_t text_length(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xc0) != 0x80; }));
}

std::optional<std::string> over_limit(std::string_view path, std::string_view s, std::size_t limit) {
  // Bytes bound characters from above: only long text is counted.
  if (s.size() <= limit) return std::nullopt;
  std::size_t n = text_length(s);
  if (n <= limit) return std::nullopt;
  return std::string(path) + ": " + std::to_string(n) + " characters; at most " + std::to_string(limit);
}

bool is_email_address(std::string_view s) {
  if (s.size() > 254) return false;
  auto at = s.find('@');
  if (at == std::string_view::npos || at == 0 || at > 64 || s.find('@', at + 1) != std::string_view::npos) return false;
  if (std::any_of(s.begin(), s.end(), [](char c) { return is_space_or_control(static_cast<unsigned char>(c)); }))
    return false;
  std::string_view domain = s.substr(at + 1);
  // A dot with something on both sides: "example.fi", not ".fi" or "fi.".
  auto dot = domain.find('.', 1);
  return dot != std::string_view::npos && dot + 1 < domain.size();
}

bool is_e164_phone(std::string_view s) {
  if (s.size() < 3 || s.size() > 16 || s[0] != '+' || s[1] < '1' || s[1] > '9') return false;
  return all_digits(s.substr(1));
}

}  // namespace conect::api
