// The reflection mapper: every record type both ways, the special forms, and
// each kind of bad input with the field it names.
#include <gtest/gtest.h>

#include "conect/api/json_mapper.h"
#include "delta.pb.h"
#include "records.pb.h"

namespace conect::api {
namespace {

using nlohmann::json;
const std::string kOwner(64, 'a');
const std::string kId = kOwner + "-65536";

template <class M>
json round_trip(const json& in, std::vector<std::uint32_t>* fields = nullptr) {
  M m;
  auto r = message_from_json(in, m);
  EXPECT_TRUE(r.ok()) << (r.ok() ? "" : r.error().message());
  if (r.ok() && fields) *fields = *r;
  return message_to_json(m);
}

template <class M>
Error bad(const json& in) {
  M m;
  auto r = message_from_json(in, m);
  EXPECT_FALSE(r.ok()) << in.dump();
  return r.ok() ? Error() : r.error();
}

TEST(JsonMapper, PlacementBothWays) {
  json in = {
      {"host_organisation", kId},
      {"title", {{{"lang", "en"}, {"text", "Welder"}}, {{"lang", "fi"}, {"text", "Hitsaaja"}}}},
      {"trade", "welding"},
      {"trade_code", "7212"},
      {"tasks", "MIG welding of frames"},
      {"city", "Oulu"},
      {"country", "FI"},
      {"windows", {{{"window_id", 1}, {"start", "2026-03-01"}, {"end", "2026-05-31"}, {"capacity", 3}}}},
      {"min_days", 14},
      {"max_days", 90},
      {"languages", {{{"lang", "fi"}, {"level", "B1"}}, {{"lang", "en"}, {"level", "A2"}}}},
      {"safety", {"ppe", "hot_work", "other"}},
      {"minimum_age", 18},
      {"accommodation", "dormitory"},
      {"mentor_contact", kOwner + "-7"},
      {"status", "open"},
  };
  std::vector<std::uint32_t> fields;
  json out = round_trip<v1::Placement>(in, &fields);
  EXPECT_EQ(out, in);
  EXPECT_EQ(fields, (std::vector<std::uint32_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}));

  v1::Placement p;
  ASSERT_TRUE(message_from_json(in, p).ok());
  EXPECT_EQ(p.status(), v1::PLACEMENT_OPEN);
  EXPECT_EQ(p.windows(0).start().days(), 20513);
  EXPECT_EQ(p.languages(0).level(), v1::B1);
  EXPECT_EQ(p.safety(2), v1::OTHER_SAFETY);
  EXPECT_EQ(p.host_organisation().owner(), std::string(32, '\xaa'));
  EXPECT_EQ(p.host_organisation().serial(), 65536u);
}

TEST(JsonMapper, OrganisationContactReservationMobilityBothWays) {
  json org = {{"names", {{{"lang", "sv"}, {"text", "Luleå yrkesskola"}}}},
              {"type", "other"},
              {"country", "SE"},
              {"region", "Norrbotten"},
              {"city", "Luleå"},
              {"address", "Storgatan 1"},
              {"website", "https://example.se"},
              {"identifiers", {{{"scheme", "PIC"}, {"value", "999999999"}}}},
              {"trades", {"welding", "cooking"}},
              {"speaker", kOwner}};
  EXPECT_EQ(round_trip<v1::Organisation>(org), org);
  v1::Organisation o;
  ASSERT_TRUE(message_from_json(org, o).ok());
  EXPECT_EQ(o.type(), v1::OTHER_ORGANISATION);

  json contact = {{"organisation", kId},
                  {"display_name", "Coordinator"},
                  {"roles", {"mobility_coordinator", "teacher", "expert"}},
                  {"languages", {{{"lang", "nb"}, {"level", "C2"}}}},
                  {"personal", {{"commitment", std::string(64, '0')}}},
                  {"audience", {{"kind", "members"}, {"members", {kOwner}}}}};
  EXPECT_EQ(round_trip<v1::Contact>(contact), contact);
  v1::Contact c;
  ASSERT_TRUE(message_from_json(contact, c).ok());
  EXPECT_EQ(c.audience().kind(), v1::AUDIENCE_MEMBERS);

  json reservation = {{"placement", kId}, {"window_id", 2}, {"slots", 1}, {"mobility", nullptr},
                      {"note", "two welders"}, {"decision", "pending"}};
  EXPECT_EQ(round_trip<v1::Reservation>(reservation), reservation);

  json mobility = {
      {"fixed",
       {{"sending_organisation", kId},
        {"receiving_organisation", kOwner + "-9"},
        {"participant", {{"pseudonym", "P-17"}, {"personal", {{"commitment", std::string(64, 'b')}}}}},
        {"type", "learner_otj_company"},
        {"category", "ivet_learner"}}},
      {"sending",
       {{"placement", kId}, {"window_id", 1}, {"planned_start", "2026-03-02"}, {"planned_end", "2026-04-30"},
        {"qualification_title", "Welder"}, {"eqf_level", 4}, {"languages", json::array()},
        {"status", "nominated"}, {"safety_briefing", nullptr}, {"europass_number", ""}}},
      {"host",
       {{"host_status", "accepted"}, {"mentor", nullptr}, {"actual_arrival", "2026-03-02"},
        {"actual_departure", nullptr}, {"attendance_confirmed", true}, {"units_achieved", 3},
        {"assessment_date", nullptr}}},
      {"confirmations",
       {{{"party", "sending"}, {"signer", kOwner}, {"agreed_delta", std::string(64, 'c')},
         {"signature", std::string(128, 'd')}}}},
      {"agreed_delta", std::string(64, 'e')}};
  EXPECT_EQ(round_trip<v1::Mobility>(mobility), mobility);
}

TEST(JsonMapper, OutputHasOneShapePerType) {
  json out = message_to_json(v1::Placement());
  EXPECT_TRUE(out["host_organisation"].is_null());
  EXPECT_TRUE(out["status"].is_null());
  EXPECT_EQ(out["windows"], json::array());
  EXPECT_EQ(out["min_days"], 0);
  EXPECT_EQ(out["trade"], "");
  EXPECT_EQ(out.size(), 16u);
}

TEST(JsonMapper, EnumNamesDropTheirPrefixes) {
  EXPECT_EQ(enum_name_of(v1::PLACEMENT_WITHDRAWN), "withdrawn");
  EXPECT_EQ(enum_name_of(v1::RESERVATION_CONFIRMED), "confirmed");
  EXPECT_EQ(enum_name_of(v1::MOBILITY_RECOGNISED), "recognised");
  EXPECT_EQ(enum_name_of(v1::HOST_REJECTED), "rejected");
  EXPECT_EQ(enum_name_of(v1::LANGUAGE_CULTURE_TRAINING), "language_culture_training");
  EXPECT_EQ(enum_name_of(v1::TEACHER_ROLE), "teacher");
  EXPECT_EQ(enum_name_of(v1::VET_SCHOOL), "vet_school");
  EXPECT_EQ(enum_name_of(v1::C1), "C1");
  EXPECT_EQ(enum_name_of(v1::PLACEMENT), "placement");
  EXPECT_EQ(enum_name_of(v1::PLACEMENT_STATUS_UNSPECIFIED), "");
  // Every non-zero value of every enum has a distinct name within its type.
  for (const auto* e : {v1::OrganisationType_descriptor(), v1::SafetyRequirement_descriptor(),
                        v1::PlacementStatus_descriptor(), v1::ReservationDecision_descriptor(),
                        v1::MobilityType_descriptor(), v1::ParticipantCategory_descriptor(),
                        v1::MobilityStatus_descriptor(), v1::HostStatus_descriptor(), v1::ContactRole_descriptor(),
                        v1::ConfirmingParty_descriptor(), v1::CefrLevel_descriptor()}) {
    for (int i = 1; i < e->value_count(); ++i)
      EXPECT_EQ(enum_from_json(*e, enum_json_name(*e->value(i))), e->value(i)) << e->value(i)->name();
  }
}

TEST(JsonMapper, UnknownFieldsAreMalformedAndNamed) {
  auto e = bad<v1::Placement>({{"trade", "x"}, {"colour", "red"}});
  EXPECT_TRUE(e.is(Errc::malformed_body));
  EXPECT_EQ(e.detail, "colour: unknown field");
  e = bad<v1::Placement>({{"windows", {{{"window_id", 1}, {"size", 2}}}}});
  EXPECT_EQ(e.detail, "windows[0].size: unknown field");
}

TEST(JsonMapper, WrongTypesAreMalformed) {
  struct Case {
    json in;
    std::string detail;
  } cases[] = {
      {{{"min_days", "14"}}, "min_days: expected an integer, got string"},
      {{{"min_days", 1.5}}, "min_days: expected an integer, got number"},
      {{{"trade", 7}}, "trade: expected a string, got number"},
      {{{"windows", {{"window_id", 1}}}}, "windows: expected an array, got object"},
      {{{"windows", {1}}}, "windows[0]: expected an object, got number"},
      {{{"status", 2}}, "status: expected a string, got number"},
      {{{"host_organisation", 5}}, "host_organisation: expected a record id string, got number"},
      {{{"windows", {{{"start", 20000}}}}}, "windows[0].start: expected a date string, got number"},
  };
  for (const auto& c : cases) {
    auto e = bad<v1::Placement>(c.in);
    EXPECT_TRUE(e.is(Errc::malformed_body)) << c.in.dump();
    EXPECT_EQ(e.detail, c.detail);
  }
  EXPECT_EQ(bad<v1::MobilityHost>({{"attendance_confirmed", "yes"}}).detail,
            "attendance_confirmed: expected true or false, got string");
}

TEST(JsonMapper, InvalidValuesAre422AndNamed) {
  struct Case {
    json in;
    std::string detail;
  } cases[] = {
      {{{"windows", {{{"start", "2026-02-30"}}}}}, "windows[0].start: 2026-02-30 is not a calendar date YYYY-MM-DD"},
      {{{"country", "XX"}}, "country: \"XX\" is not an ISO 3166-1 alpha-2 country code"},
      {{{"country", "fi"}}, "country: \"fi\" is not an ISO 3166-1 alpha-2 country code"},
      {{{"languages", {{{"lang", "Finnish"}}}}},
       "languages[0].lang: \"Finnish\" is not a language code such as \"fi\""},
      {{{"status", "opened"}}, "status: \"opened\" is not one of draft, open, closed, withdrawn"},
      {{{"min_days", -1}}, "min_days: -1 is out of range"},
      {{{"min_days", 4294967296LL}}, "min_days: 4294967296 is out of range"},
      {{{"host_organisation", "abc-1"}}, "host_organisation: expected a record id \"<64 hex>-<serial>\""},
      {{{"host_organisation", kOwner + "-01"}}, "host_organisation: expected a record id \"<64 hex>-<serial>\""},
      {{{"languages", {{{"lang", "fi"}, {"level", "b1"}}}}},
       "languages[0].level: \"b1\" is not one of A1, A2, B1, B2, C1, C2"},
      {{{"languages",
         {{{"lang", "fi"}, {"level", "C2"}}, {{"lang", "sv"}, {"level", "A2"}}, {{"lang", "fi"}, {"level", "B1"}}}}},
       "languages[2].lang: 'fi' is given twice (items 0 and 2); give each language once"},
      {{{"title", {{{"lang", "en"}, {"text", "Welder"}}, {{"lang", "en"}, {"text", "Welding"}}}}},
       "title[1].lang: 'en' is given twice (items 0 and 1); give each language once"},
  };
  for (const auto& c : cases) {
    auto e = bad<v1::Placement>(c.in);
    EXPECT_TRUE(e.is(Errc::invalid_argument)) << c.in.dump() << " " << e.message();
    EXPECT_EQ(e.detail, c.detail);
  }
  EXPECT_EQ(bad<v1::Organisation>({{"speaker", "zz"}}).detail, "speaker: expected lower-case hex");
}

TEST(JsonMapper, ReadOnlyFieldsAreRefused) {
  static constexpr std::string_view kRo[] = {"decision"};
  v1::Reservation r;
  JsonInputOptions opt;
  opt.read_only = kRo;
  auto res = message_from_json({{"slots", 1}, {"decision", "confirmed"}}, r, opt);
  ASSERT_FALSE(res.ok());
  EXPECT_EQ(res.error().detail, "decision: is read-only");
  opt.path = "request";
  res = message_from_json({{"slotz", 1}}, r, opt);
  EXPECT_EQ(res.error().detail, "request.slotz: unknown field");
}

TEST(JsonMapper, NullClearsAndIsReportedAsPresent) {
  v1::Placement p;
  p.set_trade("x");
  auto r = message_from_json({{"trade", nullptr}, {"windows", nullptr}}, p);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(p.trade(), "");
  EXPECT_EQ(*r, (std::vector<std::uint32_t>{3, 8}));
}

TEST(JsonMapper, BodiesMustBeUtf8JsonObjects) {
  EXPECT_TRUE(parse_json_object(R"({"a": "Tromsø"})").ok());
  auto e = parse_json_object("{\"a\": \"\xff\"}");
  ASSERT_FALSE(e.ok());
  EXPECT_TRUE(e.error().is(Errc::malformed_body));
  EXPECT_EQ(e.error().detail, "body is not valid UTF-8 (byte 7)");
  e = parse_json_object("{\"a\": ");
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.error().detail.find("not valid JSON"), std::string::npos);
  e = parse_json_object("[1,2]");
  EXPECT_EQ(e.error().detail, "body: expected a JSON object, got array");
  EXPECT_FALSE(parse_json_object("").ok());
  // A key twice in one object (the last would win unseen), also nested;
  // the same key in two objects is fine.
  e = parse_json_object(R"({"trade": "welding", "trade": "masonry"})");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().detail, "body: key \"trade\" is given twice in one object; give it once");
  EXPECT_FALSE(parse_json_object(R"({"windows": [{"capacity": 3, "capacity": 999}]})").ok());
  EXPECT_TRUE(parse_json_object(R"({"windows": [{"capacity": 3}, {"capacity": 4}], "capacity": 1})").ok());
}

TEST(JsonMapper, RecordIdText) {
  auto id = parse_record_id(kOwner + "-18446744073709551615");
  ASSERT_TRUE(id);
  EXPECT_EQ(id->serial(), 18446744073709551615ULL);
  EXPECT_EQ(record_id_text(*id), kOwner + "-18446744073709551615");
  EXPECT_FALSE(parse_record_id(kOwner + "-18446744073709551616"));
  EXPECT_FALSE(parse_record_id(kOwner + "-"));
  EXPECT_FALSE(parse_record_id(kOwner + "-1x"));
  EXPECT_FALSE(parse_record_id(kOwner + "--1"));
  EXPECT_FALSE(parse_record_id(std::string(63, 'a') + "-1"));
  EXPECT_TRUE(parse_record_id(kOwner + "-0"));
}

}  // namespace
}  // namespace conect::api
