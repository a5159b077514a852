// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
// civil_from_days), for report periods and export times.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace conect::audit::detail {

struct CivilDate {
  std::int64_t year;
  unsigned month, day;
};

inline CivilDate civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {m <= 2 ? y + 1 : y, m, d};
}

inline std::string iso8601_ms(std::uint64_t ms) {
  const auto secs = static_cast<std::int64_t>(ms / 1000);
  const CivilDate c = civil_from_days(secs / 86400);
  const std::int64_t s = secs % 86400;
  char buf[48];
  std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02lld:%02lld:%02lldZ", static_cast<long long>(c.year), c.month,
                c.day, static_cast<long long>(s / 3600), static_cast<long long>(s / 60 % 60),
                static_cast<long long>(s % 60));
  return buf;
}

}  // namespace conect::audit::detail
