#include <gtest/gtest.h>

#include "conect/api/http.h"
#include "conect/api/validate.h"

namespace conect::api {
namespace {

TEST(Validate, DatesAreRealCalendarDays) {
  EXPECT_EQ(parse_date("1970-01-01"), 0);
  EXPECT_EQ(parse_date("1970-01-02"), 1);
  EXPECT_EQ(parse_date("2024-02-29"), 19782);
  EXPECT_EQ(parse_date("1969-12-31"), -1);
  for (const char* bad : {"2026-02-30", "2025-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-1-01",
                          "26-01-01", "2026/01/01", "2026-01-01T00:00", "", "abcd-ef-gh", "1899-12-31",
                          "2200-01-01", "+026-01-01"})
    EXPECT_FALSE(parse_date(bad).has_value()) << bad;
  for (std::int32_t d : {-25567, 0, 1, 19782, 20000, 60000}) EXPECT_EQ(parse_date(format_date(d)), d);
  EXPECT_EQ(format_date(20454), "2026-01-01");
}

TEST(Validate, CountriesComeFromTheIsoList) {
  for (const char* ok : {"FI", "SE", "NO", "RU", "DE", "AX", "SJ"}) EXPECT_TRUE(is_country_code(ok)) << ok;
  for (const char* bad : {"fi", "XX", "UK", "EU", "FIN", "F", ""}) EXPECT_FALSE(is_country_code(bad)) << bad;
}

TEST(Validate, LanguageTags) {
  EXPECT_TRUE(is_language_tag("fi"));
  EXPECT_TRUE(is_language_tag("sme"));
  EXPECT_FALSE(is_language_tag("FI"));
  EXPECT_FALSE(is_language_tag("f"));
  EXPECT_FALSE(is_language_tag("fi-FI"));
}

TEST(Validate, Iso8601) {
  EXPECT_EQ(format_iso8601_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso8601_ms(1'795'882'927'123ULL), "2026-11-28T16:22:07.123Z");
}

TEST(Validate, Utf8) {
  EXPECT_TRUE(is_valid_utf8("plain"));
  EXPECT_TRUE(is_valid_utf8("Tromsø Оулу 😀"));
  EXPECT_FALSE(is_valid_utf8("\xff"));
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("ab\xe2\x82"));        // truncated
  EXPECT_EQ(invalid_utf8_offset("ab\xe2\x82"), 2u);
}

TEST(Http, TargetsAreSplitAndDecoded) {
  HttpRequest r;
  ASSERT_TRUE(parse_target("/api/v1/placements?trade=hot+work&country=FI&x=%C3%B8&flag", r));
  EXPECT_EQ(r.path, "/api/v1/placements");
  ASSERT_EQ(r.query.size(), 4u);
  EXPECT_EQ(r.query_param("trade"), "hot work");
  EXPECT_EQ(r.query_param("x"), "ø");
  EXPECT_EQ(r.query_param("flag"), "");
  EXPECT_FALSE(parse_target("/a?x=%ff", r));
  EXPECT_FALSE(parse_target("/a?x=%2", r));
  EXPECT_FALSE(parse_target("/a%00b", r));
  EXPECT_FALSE(parse_target("a", r));
}

TEST(Http, ErrorsMapToStatuses) {
  EXPECT_EQ(http_status_for(Error(Errc::malformed_body, "")), 400);
  EXPECT_EQ(http_status_for(Error(Errc::not_authorised, "")), 403);
  EXPECT_EQ(http_status_for(Error(Errc::not_found, "")), 404);
  EXPECT_EQ(http_status_for(Error(Errc::fixed_field, "")), 409);
  EXPECT_EQ(http_status_for(Error(Errc::over_capacity, "")), 409);
  EXPECT_EQ(http_status_for(Error(Errc::invalid_argument, "")), 422);
  auto r = error_response(Error(Errc::over_capacity, "window 1 has 0 free slots"));
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(r.body, R"({"detail":"window 1 has 0 free slots","error":"over_capacity"})");
}

}  // namespace
}  // namespace conect::api
