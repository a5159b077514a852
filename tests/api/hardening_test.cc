// Untrusted input at the API: every string has a length limit and is checked
// by bounded code (a 30,000-character e-mail once crashed the node through a
// recursing std::regex), and references the merge would refuse are refused
// here first, with a reason.
#include <gtest/gtest.h>

#include <google/protobuf/unknown_field_set.h>

#include "api_fixture.h"
#include "conect/api/validate.h"

namespace conect::api::test {
namespace {

using nlohmann::json;

class Hardening : public ApiFixture {};

TEST_F(Hardening, AHugeEmailOrPhoneIsRefusedAndTheNodeKeepsServing) {
  auto c = client();
  std::string org = create_org(c);
  const std::string huge = std::string(30'000, 'a') + "@example.fi";
  json contact = {{"organisation", org}, {"display_name", "Coordinator"}, {"personal_data", {{"email", huge}}}};
  auto r = c.post("/api/v1/contacts", contact);
  EXPECT_EQ(r.status, 422) << r.body.substr(0, 300);
  EXPECT_NE(r.body.find("personal_data.email: 30011 characters; at most 254"), std::string::npos)
      << r.body.substr(0, 300);
  EXPECT_LT(r.body.size(), 1000u);  // the reply does not echo the 30 KB back
  contact["personal_data"] = {{"phone", "+" + std::string(30'000, '1')}};
  EXPECT_EQ(c.post("/api/v1/contacts", contact).status, 422);
  // The spreadsheet import goes through the same checks.
  contact["personal_data"] = {{"email", huge}};
  auto imported = c.post("/api/v1/import/contacts", {{"rows", json::array({contact})}});
  EXPECT_EQ(imported.status, 422) << imported.body.substr(0, 300);
  EXPECT_EQ(c.get("/healthz").status, 200);
  // Addresses at the limits are fine.
  contact["personal_data"] = {{"email", std::string(64, 'a') + "@" + std::string(185, 'b') + ".fi"},
                              {"phone", "+358401234567"}};
  EXPECT_EQ(c.post("/api/v1/contacts", contact).status, 201);
}

TEST_F(Hardening, EveryStringAndListHasALimit) {
  auto c = client();
  std::string org = create_org(c);
  json p = placement_body(org);
  p["tasks"] = std::string(4001, 't');
  auto r = c.post("/api/v1/placements", p);
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("tasks: 4001 characters; at most 4000"), std::string::npos) << r.body;
  p["tasks"] = std::string(4000, 't');
  EXPECT_EQ(c.post("/api/v1/placements", p).status, 201);
  // Characters, not bytes: 200 Cyrillic letters are 400 bytes and fit.
  std::string cyrillic;
  for (int i = 0; i < 200; ++i) cyrillic += "я";
  p["title"] = {{{"lang", "ru"}, {"text", cyrillic}}};
  EXPECT_EQ(c.post("/api/v1/placements", p).status, 201);
  p["title"] = {{{"lang", "ru"}, {"text", cyrillic + "я"}}};
  r = c.post("/api/v1/placements", p);
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("title[0].text: 201 characters; at most 200"), std::string::npos) << r.body;
  // Fields without a limit of their own: 1000 characters.
  json o = {{"names", {{{"lang", "en"}, {"text", "X"}}}}, {"type", "sme"}, {"country", "FI"}};
  o["identifiers"] = {{{"scheme", "PIC"}, {"value", std::string(101, '9')}}};
  EXPECT_EQ(c.post("/api/v1/organisations", o).status, 422);
  // Lists: at most 100 elements.
  json windows = json::array();
  for (int i = 1; i <= 101; ++i)
    windows.push_back({{"window_id", i}, {"start", "2026-03-01"}, {"end", "2026-03-12"}, {"capacity", 1}});
  p = placement_body(org);
  p["windows"] = windows;
  r = c.post("/api/v1/placements", p);
  EXPECT_EQ(r.status, 422);
  EXPECT_NE(r.body.find("windows: 101 items; at most 100"), std::string::npos) << r.body;
}

TEST_F(Hardening, ContactsAndMentorsOnlyOfThisNodesOwn) {
  auto c = client();
  std::string org = create_org(c);
  RecordKey theirs = other_org();
  auto r = c.post("/api/v1/contacts", {{"organisation", theirs.text()}, {"display_name", "Their coordinator"}});
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("spoken for by another node"), std::string::npos) << r.body;

  RecordKey their_contact = other_next_key(v1::CONTACT);
  v1::Contact ct;
  *ct.mutable_organisation() = theirs.to_proto();
  ct.set_display_name("Handledare");
  other_author(ops::create_contact(their_contact, ct));
  json p = placement_body(org);
  p["mentor_contact"] = their_contact.text();
  r = c.post("/api/v1/placements", p);
  EXPECT_EQ(r.status, 403) << r.body;
  p["mentor_contact"] = RecordKey::mint(v1::CONTACT, me_.public_key(), Seq{99}, 0).text();
  EXPECT_EQ(c.post("/api/v1/placements", p).status, 422);
  auto mine = c.post("/api/v1/contacts", {{"organisation", org}, {"display_name", "Workplace mentor"}});
  ASSERT_EQ(mine.status, 201) << mine.body;
  p["mentor_contact"] = mine.json()["id"];
  r = c.post("/api/v1/placements", p);
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["mentor_contact"], mine.json()["id"]);
  EXPECT_TRUE(r.json()["rejected"].empty());
}

// A delta of a newer version holds an operation this one does not know: it
// is stored with its delta, changes nothing and shows in /metrics.
TEST_F(Hardening, UnknownOperationsAreCountedInMetrics) {
  v1::Operation future;
  future.GetReflection()->MutableUnknownFields(&future)->AddVarint(41, 7);
  other_author({future});
  auto m = client().get("/metrics");
  EXPECT_NE(m.body.find("conect_operations_unknown 1"), std::string::npos) << m.body;
}

TEST(Validate, EmailAndPhoneAreCheckedWithoutBacktracking) {
  EXPECT_TRUE(is_email_address("aino@example.fi"));
  EXPECT_TRUE(is_email_address("a.b+c@mail.example.co.uk"));
  for (const char* bad : {"", "aino", "@example.fi", "aino@", "aino@example", "aino@.fi", "aino@fi.", "a b@example.fi",
                          "aino@exa mple.fi", "aino@@example.fi", "a@b@example.fi", "aino@example.fi\n"})
    EXPECT_FALSE(is_email_address(bad)) << bad;
  EXPECT_FALSE(is_email_address(std::string(65, 'a') + "@example.fi"));  // local part over 64
  EXPECT_FALSE(is_email_address(std::string(1'000'000, 'a') + "@example.fi"));
  EXPECT_TRUE(is_e164_phone("+358401234567"));
  EXPECT_TRUE(is_e164_phone("+12"));
  for (const char* bad : {"", "+", "+0123", "358401234567", "+35840 123", "+1234567890123456", "+35840123456a"})
    EXPECT_FALSE(is_e164_phone(bad)) << bad;
  EXPECT_EQ(text_length("Luleå"), 5u);
  EXPECT_EQ(over_limit("x", "Luleå", 5), std::nullopt);
  EXPECT_EQ(over_limit("x", "Luleåå", 5), "x: 6 characters; at most 5");
}

}  // namespace
}  // namespace conect::api::test
