// All-or-nothing imports of placements, mobilities and contacts; the list of
// all reservations; contact patches.
#include "api_fixture.h"

namespace conect::api::test {
namespace {

using nlohmann::json;

class ImportsTest : public ApiFixture {
 protected:
  json mobility_row(const std::string& sending, const std::string& receiving, const std::string& pseudonym) {
    return {{"fixed",
             {{"sending_organisation", sending},
              {"receiving_organisation", receiving},
              {"participant", {{"pseudonym", pseudonym}}},
              {"type", "learner_otj_company"},
              {"category", "ivet_learner"}}},
            {"sending", {{"planned_start", "2026-03-02"}, {"planned_end", "2026-03-13"}}},
            {"personal_data", {{"name", "Name of " + pseudonym}}}};
  }
  std::size_t count(const std::string& path) {
    auto c = client();
    return c.get(path + "?limit=500").json()["items"].size();
  }
};

TEST_F(ImportsTest, PlacementsImportAsOneDeltaWithMintedIds) {
  auto c = client();
  std::string org = create_org(c);
  std::uint64_t head = own_head();
  auto r = c.post("/api/v1/import/placements", {{"rows", {placement_body(org, 2), placement_body(org, 5)}}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["imported"], 2);
  EXPECT_EQ(own_head(), head + 1);  // one delta for the whole sheet
  json ids = r.json()["ids"];
  for (const auto& id : ids) {
    auto p = c.get("/api/v1/placements/" + id.get<std::string>());
    ASSERT_EQ(p.status, 200) << p.body;
    EXPECT_EQ(p.json()["trade"], "welding");
  }
  auto second = c.get("/api/v1/placements/" + r.json()["ids"][1].get<std::string>()).json();
  EXPECT_EQ(second["windows"][0]["available"], 5);
}

TEST_F(ImportsTest, MobilitiesImportWithTheirPersonalData) {
  auto c = client();
  std::string ours = create_org(c);
  RecordKey theirs = other_org();
  auto r = c.post("/api/v1/import/mobilities",
                  {{"rows",
                    {mobility_row(ours, theirs.text(), "P-1"), mobility_row(ours, theirs.text(), "P-2"),
                     mobility_row(ours, theirs.text(), "P-3")}}});
  ASSERT_EQ(r.status, 201) << r.body;
  ASSERT_EQ(r.json()["ids"].size(), 3u);
  auto m = c.get("/api/v1/mobilities/" + r.json()["ids"][2].get<std::string>()).json();
  EXPECT_EQ(m["fixed"]["participant"]["pseudonym"], "P-3");
  EXPECT_EQ(m["sending"]["status"], "draft");
  EXPECT_EQ(m["personal_data"]["name"], "Name of P-3");  // the blob was stored with the record
  EXPECT_EQ(count("/api/v1/mobilities"), 3u);
}

TEST_F(ImportsTest, ContactsImport) {
  auto c = client();
  std::string org = create_org(c);
  json row = {{"organisation", org},
              {"display_name", "Мастер участка"},
              {"roles", {"mentor"}},
              {"personal_data", {{"name", "Ольга"}, {"phone", "+79001234567"}}}};
  auto r = c.post("/api/v1/import/contacts", {{"rows", {row}}});
  ASSERT_EQ(r.status, 201) << r.body;
  auto got = c.get("/api/v1/contacts/" + r.json()["ids"][0].get<std::string>()).json();
  EXPECT_EQ(got["display_name"], "Мастер участка");
  EXPECT_EQ(got["personal_data"]["name"], "Ольга");
}

TEST_F(ImportsTest, EveryBadRowIsNamedAndNothingIsWritten) {
  auto c = client();
  std::string ours = create_org(c);
  RecordKey theirs = other_org();
  json bad_date = mobility_row(ours, theirs.text(), "P-2");
  bad_date["sending"]["planned_end"] = "2026-02-30";
  json not_ours = mobility_row(theirs.text(), ours, "P-4");
  json rows = {mobility_row(ours, theirs.text(), "P-1"), bad_date, mobility_row(ours, theirs.text(), "P-3"), not_ours,
               "not an object"};
  std::uint64_t head = own_head();
  auto r = c.post("/api/v1/import/mobilities", {{"rows", rows}});
  ASSERT_EQ(r.status, 422) << r.body;
  EXPECT_EQ(r.json()["detail"], "3 of 5 rows are invalid; nothing was imported");
  json problems = r.json()["rows"];
  ASSERT_EQ(problems.size(), 3u) << r.body;
  EXPECT_EQ(problems[0]["row"], 1);
  EXPECT_NE(problems[0]["detail"].get<std::string>().find("planned_end"), std::string::npos) << problems[0];
  EXPECT_EQ(problems[1]["row"], 3);
  EXPECT_EQ(problems[1]["error"], "not_authorised");
  EXPECT_EQ(problems[2]["row"], 4);
  EXPECT_EQ(problems[2]["error"], "malformed_body");
  EXPECT_EQ(own_head(), head);
  EXPECT_EQ(count("/api/v1/mobilities"), 0u);

  auto contacts = c.post("/api/v1/import/contacts",
                         {{"rows",
                           {{{"organisation", ours}, {"display_name", "ok"}},
                            {{"organisation", ours}, {"display_name", "x"}, {"personal_data", {{"phone", "040"}}}}}}});
  ASSERT_EQ(contacts.status, 422) << contacts.body;
  EXPECT_EQ(contacts.json()["rows"][0]["row"], 1);
  EXPECT_EQ(own_head(), head);
}

TEST_F(ImportsTest, MalformedImportBodies) {
  auto c = client();
  EXPECT_EQ(c.post("/api/v1/import/contacts", json::object()).status, 400);
  EXPECT_EQ(c.post("/api/v1/import/contacts", {{"rows", json::array()}}).status, 400);
  EXPECT_EQ(c.post("/api/v1/import/contacts", {{"rows", {json::object()}}, {"extra", 1}}).json()["detail"],
            "extra: unknown field");
  EXPECT_EQ(c.post("/api/v1/import/organisations", {{"rows", {json::object()}}}).status, 404);
}

TEST_F(ImportsTest, AnImportLargerThanOneDeltaIsRefusedWithAHint) {
  auto c = client();
  std::string org = create_org(c);
  json row = placement_body(org);
  row["tasks"] = std::string(4'000, 't');  // the longest allowed
  json rows = json::array();
  for (int i = 0; i < 70; ++i) rows.push_back(row);  // ~280 kB: under the body limit, over one delta
  std::uint64_t head = own_head();
  auto r = c.post("/api/v1/import/placements", {{"rows", rows}});
  ASSERT_EQ(r.status, 413) << r.body;
  EXPECT_EQ(r.json()["error"], "limit_exceeded");
  EXPECT_NE(r.json()["detail"].get<std::string>().find("rows at a time"), std::string::npos) << r.body;
  EXPECT_EQ(own_head(), head);
}

TEST_F(ImportsTest, ReservationsListFiltersByDecisionRoleAndPlacement) {
  auto c = client();
  std::string org = create_org(c);
  std::string a = create_placement(c, org, 5);
  std::string b = create_placement(c, org, 5);
  // Ours, for our own placements.
  std::string r1 = c.post("/api/v1/placements/" + a + "/reservations", {{"window_id", 1}, {"slots", 1}}).json()["id"];
  std::string r2 = c.post("/api/v1/placements/" + b + "/reservations", {{"window_id", 1}, {"slots", 1}}).json()["id"];
  ASSERT_EQ(c.post("/api/v1/reservations/" + r1 + "/confirm", json::object()).status, 200);
  // The other node's request for our placement a.
  RecordKey theirs = other_request(a, 2);
  // Our request for the other node's placement.
  RecordKey their_pl = other_placement(other_org(), 3);
  std::string r4 =
      c.post("/api/v1/placements/" + their_pl.text() + "/reservations", {{"window_id", 1}, {"slots", 1}}).json()["id"];

  auto ids = [&](const std::string& query) {
    std::set<std::string> out;
    auto r = c.get("/api/v1/reservations" + query);
    EXPECT_EQ(r.status, 200) << r.body;
    json page = r.json();
    for (const auto& item : page["items"]) out.insert(item["id"].get<std::string>());
    return out;
  };
  EXPECT_EQ(ids(""), (std::set<std::string>{r1, r2, theirs.text(), r4}));
  EXPECT_EQ(ids("?decision=pending"), (std::set<std::string>{r2, theirs.text(), r4}));
  EXPECT_EQ(ids("?decision=confirmed"), (std::set<std::string>{r1}));
  EXPECT_EQ(ids("?role=incoming"), (std::set<std::string>{r1, r2, theirs.text()}));
  EXPECT_EQ(ids("?role=outgoing"), (std::set<std::string>{r1, r2, r4}));
  EXPECT_EQ(ids("?role=incoming&decision=pending&placement=" + a), (std::set<std::string>{theirs.text()}));

  // Pages hold `limit` matches and together hold each match once.
  std::set<std::string> paged;
  std::string cursor;
  int pages = 0;
  do {
    auto r = c.get("/api/v1/reservations?decision=pending&limit=1" + (cursor.empty() ? "" : "&cursor=" + cursor));
    ASSERT_EQ(r.status, 200) << r.body;
    json page = r.json();
    ASSERT_LE(page["items"].size(), 1u);
    for (const auto& item : page["items"]) EXPECT_TRUE(paged.insert(item["id"].get<std::string>()).second);
    cursor = page["next_cursor"].is_string() ? page["next_cursor"].get<std::string>() : "";
    ++pages;
  } while (!cursor.empty() && pages < 10);
  EXPECT_EQ(paged, (std::set<std::string>{r2, theirs.text(), r4}));

  EXPECT_EQ(c.get("/api/v1/reservations?decision=maybe").status, 422);
  EXPECT_EQ(c.get("/api/v1/reservations?role=mine").status, 422);
  EXPECT_EQ(c.get("/api/v1/reservations?placement=nope").status, 422);
  EXPECT_EQ(c.get("/api/v1/reservations?colour=red").status, 400);
}

TEST_F(ImportsTest, ContactPatch) {
  auto c = client();
  std::string org = create_org(c);
  auto created = c.post("/api/v1/contacts", {{"organisation", org},
                                             {"display_name", "Coordinator"},
                                             {"roles", {"mobility_coordinator", "mentor"}},
                                             {"personal_data", {{"name", "Matti"}}}});
  ASSERT_EQ(created.status, 201) << created.body;
  std::string id = created.json()["id"];
  std::string old_commitment = created.json()["personal"]["commitment"];

  auto r = c.patch("/api/v1/contacts/" + id,
                   {{"display_name", "Coordinator, Lapland VET"},
                    {"roles", {"mobility_coordinator", "signatory"}},
                    {"personal_data", {{"name", "Matti Virtanen"}, {"phone", "+358 (40) 123-4567"}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  // As typed, kept in E.164 form.
  EXPECT_EQ(r.json()["personal_data"]["phone"], "+358401234567");
  EXPECT_EQ(r.json()["display_name"], "Coordinator, Lapland VET");
  auto roles = r.json()["roles"].get<std::set<std::string>>();
  EXPECT_EQ(roles, (std::set<std::string>{"mobility_coordinator", "signatory"}));
  EXPECT_EQ(r.json()["personal_data"]["name"], "Matti Virtanen");
  EXPECT_NE(r.json()["personal"]["commitment"], old_commitment);

  std::uint64_t head = own_head();
  EXPECT_EQ(c.patch("/api/v1/contacts/" + id, {{"organisation", org}}).status, 409);
  EXPECT_EQ(c.patch("/api/v1/contacts/" + id, {{"display_name", ""}}).status, 422);
  EXPECT_EQ(c.patch("/api/v1/contacts/" + id, {{"personal_data", {{"phone", "12"}}}}).status, 422);
  EXPECT_EQ(c.patch("/api/v1/contacts/" + id, {{"personal", {{"commitment", "00"}}}}).status, 400);
  EXPECT_EQ(c.patch("/api/v1/contacts/" + id, json::object()).status, 400);  // changes nothing
  EXPECT_EQ(own_head(), head);

  // Another node's contact is not ours to change.
  RecordKey their_org = other_org();
  auto theirs = other_next_key(v1::CONTACT);
  v1::Contact ct;
  *ct.mutable_organisation() = their_org.to_proto();
  ct.set_display_name("Handledare");
  other_author(ops::create_contact(theirs, ct));
  EXPECT_EQ(c.patch("/api/v1/contacts/" + theirs.text(), {{"display_name", "mine now"}}).status, 403);
  EXPECT_EQ(own_head(), head);
}

}  // namespace
}  // namespace conect::api::test
