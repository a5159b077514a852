// Every record endpoint's success and error paths over real HTTP, a real
// store and real signatures.
#include <atomic>
#include <thread>

#include "api_fixture.h"
#include "conect/api/events.h"
#include "conect/api/validate.h"

namespace conect::api::test {
namespace {

using nlohmann::json;

class RecordsTest : public ApiFixture {};

TEST_F(RecordsTest, OrganisationsCreateReadListPatch) {
  auto c = client();
  auto r = c.post("/api/v1/organisations", {{"names", {{{"lang", "fi"}, {"text", "Lapin ammattiopisto"}}}},
                                            {"type", "vet_school"},
                                            {"country", "FI"},
                                            {"city", "Rovaniemi"},
                                            {"trades", {"welding", "cooking"}}});
  ASSERT_EQ(r.status, 201) << r.body;
  auto org = r.json();
  std::string id = org["id"];
  EXPECT_EQ(id, me_.public_key().hex() + "-65536");  // seq 1, op 0
  EXPECT_EQ(r.header("location"), "/api/v1/organisations/" + id);
  EXPECT_EQ(org["owner"], me_.public_key().hex());
  EXPECT_EQ(org["speaker"], me_.public_key().hex());
  EXPECT_EQ(org["type"], "vet_school");
  EXPECT_EQ(org["trades"], json({"cooking", "welding"}));
  EXPECT_EQ(org["rejected"], json::array());
  EXPECT_TRUE(org["updated"].get<std::string>().ends_with("Z"));

  EXPECT_EQ(c.get("/api/v1/organisations/" + id).json(), org);
  auto list = c.get("/api/v1/organisations").json();
  ASSERT_EQ(list["items"].size(), 1u);
  EXPECT_EQ(list["items"][0]["id"], id);
  EXPECT_TRUE(list["next_cursor"].is_null());

  auto p = c.patch("/api/v1/organisations/" + id, {{"city", "Kemi"}, {"trades", {"welding", "logistics"}}});
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(p.json()["city"], "Kemi");
  EXPECT_EQ(p.json()["trades"], json({"logistics", "welding"}));
  EXPECT_EQ(p.json()["names"], org["names"]);

  std::uint64_t head = own_head();
  auto missing = c.post("/api/v1/organisations", {{"names", {{{"lang", "en"}, {"text", "X"}}}}, {"type", "sme"}});
  EXPECT_EQ(missing.status, 422);
  EXPECT_EQ(missing.json()["detail"], "country: required");
  auto speaker = c.post("/api/v1/organisations", {{"speaker", other_.public_key().hex()}});
  EXPECT_EQ(speaker.status, 400);
  EXPECT_EQ(speaker.json()["detail"], "speaker: is read-only");
  EXPECT_EQ(c.patch("/api/v1/organisations/" + id, {{"country", nullptr}}).status, 422);
  EXPECT_EQ(c.get("/api/v1/organisations/" + me_.public_key().hex() + "-99").status, 404);
  EXPECT_EQ(c.get("/api/v1/organisations/nonsense").status, 400);
  EXPECT_EQ(c.get("/api/v1/organisations?colour=red").status, 400);
  EXPECT_EQ(c.get("/api/v1/organisations?limit=0").status, 422);
  EXPECT_EQ(own_head(), head);
}

TEST_F(RecordsTest, PlacementsShowAvailabilityPerWindow) {
  auto c = client();
  std::string org = create_org(c);
  auto r = c.post("/api/v1/placements", placement_body(org, 3));
  ASSERT_EQ(r.status, 201) << r.body;
  auto p = r.json();
  EXPECT_EQ(p["status"], "open");  // the default
  ASSERT_EQ(p["windows"].size(), 1u);
  EXPECT_EQ(p["windows"][0], json({{"window_id", 1}, {"start", "2026-03-01"}, {"end", "2026-05-31"}, {"capacity", 3},
                                   {"confirmed", 0}, {"pending", 0}, {"available", 3}, {"overbooked", false},
                                   {"overbooked_by", 0}}));
  std::string id = p["id"];
  EXPECT_EQ(c.get("/api/v1/placements/" + id).json(), p);

  auto patched = c.patch("/api/v1/placements/" + id, {{"tasks", "TIG"}, {"languages", {{{"lang", "en"}, {"level", "A2"}}}}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json()["tasks"], "TIG");
  EXPECT_EQ(patched.json()["languages"], json({{{"lang", "en"}, {"level", "A2"}}}));

  std::uint64_t head = own_head();
  auto dup = placement_body(org);
  dup["windows"].push_back({{"window_id", 1}, {"start", "2026-06-01"}, {"end", "2026-06-30"}, {"capacity", 1}});
  EXPECT_EQ(c.post("/api/v1/placements", dup).json()["detail"], "windows[1].window_id: 1 is used twice");
  auto backwards = placement_body(org);
  backwards["windows"][0]["end"] = "2026-02-01";
  EXPECT_EQ(c.post("/api/v1/placements", backwards).json()["detail"], "windows[0].end: before start");
  auto too_short = placement_body(org);  // a window no stay of min_days fits in
  too_short["windows"][0]["end"] = too_short["windows"][0]["start"];
  too_short["min_days"] = 14;
  EXPECT_EQ(c.post("/api/v1/placements", too_short).json()["detail"],
            "windows[0]: 1 day long, shorter than min_days 14: no stay could fit in it (lengthen the window or lower "
            "min_days)");
  auto no_host = placement_body(me_.public_key().hex() + "-12345");
  EXPECT_EQ(c.post("/api/v1/placements", no_host).status, 422);
  EXPECT_EQ(own_head(), head);

  auto closed = c.request("POST", "/api/v1/placements/" + id + "/close");
  ASSERT_EQ(closed.status, 200);
  EXPECT_EQ(closed.json()["status"], "closed");
  auto late = c.post("/api/v1/placements/" + id + "/reservations", {{"window_id", 1}, {"slots", 1}});
  EXPECT_EQ(late.status, 409);
}

TEST_F(RecordsTest, ReservationsFlowAndCapacity) {
  auto c = client();
  std::string org = create_org(c);
  std::string pl = create_placement(c, org, 3);
  auto a = c.post("/api/v1/placements/" + pl + "/reservations", {{"window_id", 1}, {"slots", 2}, {"note", "two"}});
  ASSERT_EQ(a.status, 201) << a.body;
  EXPECT_EQ(a.json()["decision"], "pending");
  EXPECT_EQ(a.json()["placement"], pl);
  std::string ra = a.json()["id"];
  EXPECT_EQ(c.get("/api/v1/placements/" + pl).json()["windows"][0]["pending"], 2);

  auto conf = c.request("POST", "/api/v1/reservations/" + ra + "/confirm");
  ASSERT_EQ(conf.status, 200) << conf.body;
  EXPECT_EQ(conf.json()["decision"], "confirmed");
  auto w = c.get("/api/v1/placements/" + pl).json()["windows"][0];
  EXPECT_EQ(w["confirmed"], 2);
  EXPECT_EQ(w["available"], 1);

  std::string rb = c.post("/api/v1/placements/" + pl + "/reservations", {{"window_id", 1}, {"slots", 2}}).json()["id"];
  std::uint64_t head = own_head();
  auto over = c.request("POST", "/api/v1/reservations/" + rb + "/confirm");
  EXPECT_EQ(over.status, 409);
  EXPECT_EQ(over.json()["error"], "over_capacity");
  EXPECT_EQ(own_head(), head);
  EXPECT_EQ(c.request("POST", "/api/v1/reservations/" + rb + "/reject").json()["decision"], "rejected");

  auto cancel = c.request("POST", "/api/v1/reservations/" + ra + "/cancel");
  ASSERT_EQ(cancel.status, 200);
  EXPECT_EQ(cancel.json()["decision"], "cancelled");
  EXPECT_EQ(c.request("POST", "/api/v1/reservations/" + ra + "/cancel").status, 409);
  EXPECT_EQ(c.request("POST", "/api/v1/reservations/" + ra + "/confirm").status, 409);
  EXPECT_EQ(c.get("/api/v1/placements/" + pl).json()["windows"][0]["available"], 3);
  EXPECT_EQ(c.get("/api/v1/reservations/" + rb).json()["decision"], "rejected");
  auto list = c.get("/api/v1/placements/" + pl + "/reservations").json();
  EXPECT_EQ(list["items"].size(), 2u);

  EXPECT_EQ(c.post("/api/v1/placements/" + pl + "/reservations", {{"window_id", 9}, {"slots", 1}}).status, 422);
  EXPECT_EQ(c.post("/api/v1/placements/" + pl + "/reservations", {{"window_id", 1}, {"slots", 0}}).status, 422);
  EXPECT_EQ(c.post("/api/v1/placements/" + pl + "/reservations", {{"window_id", 1}, {"slots", 1}, {"decision", "confirmed"}}).status, 400);
  EXPECT_EQ(c.get("/api/v1/reservations/" + me_.public_key().hex() + "-1").status, 404);
}

TEST_F(RecordsTest, AnotherNodesRecordsAreReadOnlyHere) {
  auto c = client();
  RecordKey org = other_org();
  RecordKey pkey = other_placement(org);

  auto shown = c.get("/api/v1/placements/" + pkey.text());
  ASSERT_EQ(shown.status, 200) << shown.body;
  EXPECT_EQ(shown.json()["owner"], other_.public_key().hex());
  std::uint64_t head = own_head();
  auto patch = c.patch("/api/v1/placements/" + pkey.text(), {{"tasks", "mine now"}});
  EXPECT_EQ(patch.status, 403);
  EXPECT_EQ(patch.json()["error"], "not_authorised");
  EXPECT_EQ(c.request("POST", "/api/v1/placements/" + pkey.text() + "/close").status, 403);
  EXPECT_EQ(c.patch("/api/v1/organisations/" + org.text(), {{"city", "x"}}).status, 403);
  EXPECT_EQ(own_head(), head);

  // We may request a slot on their placement, but only they decide it.
  auto req = c.post("/api/v1/placements/" + pkey.text() + "/reservations", {{"window_id", 1}, {"slots", 1}});
  ASSERT_EQ(req.status, 201) << req.body;
  std::string rid = req.json()["id"];
  EXPECT_EQ(c.request("POST", "/api/v1/reservations/" + rid + "/confirm").status, 403);
  EXPECT_EQ(c.request("POST", "/api/v1/reservations/" + rid + "/reject").status, 403);

  // Their request on our placement: we decide, they cancel.
  std::string ours = create_placement(c, create_org(c), 1);
  RecordKey theirs = other_request(ours);
  EXPECT_EQ(c.request("POST", "/api/v1/reservations/" + theirs.text() + "/cancel").status, 403);
  EXPECT_EQ(c.request("POST", "/api/v1/reservations/" + theirs.text() + "/confirm").json()["decision"], "confirmed");
}

// What a request gives that the route does not take is refused, not
// ignored: a reason sent with a close, a query parameter on a read by id.
TEST_F(RecordsTest, ARequestThatTakesNothingRefusesWhatItIsGiven) {
  auto c = client();
  std::string pl = create_placement(c, create_org(c), 1);
  std::uint64_t head = own_head();
  auto r = c.post("/api/v1/placements/" + pl + "/close", {{"reason", "season over"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.json()["detail"], "reason: unknown field (this request takes no body)");
  EXPECT_EQ(own_head(), head);
  EXPECT_EQ(c.get("/api/v1/placements/" + pl + "?fields=all").json()["detail"],
            "query parameter \"fields\" is not supported here");
  EXPECT_EQ(c.get("/api/v1/members?limit=1").status, 400);
  EXPECT_EQ(c.post("/api/v1/placements/" + pl + "/close", json::object()).status, 200);  // {} is no body
}

TEST_F(RecordsTest, ConcurrentConfirmsNeverOverbook) {
  auto c = client();
  std::string pl = create_placement(c, create_org(c), 1);
  std::vector<std::string> ids;
  for (int i = 0; i < 8; ++i) ids.push_back(other_request(pl).text());
  std::atomic<int> ok{0}, over{0}, other{0};
  std::vector<std::thread> threads;
  for (const auto& id : ids) {
    threads.emplace_back([&, id] {
      Client t = client();
      int s = t.request("POST", "/api/v1/reservations/" + id + "/confirm").status;
      (s == 200 ? ok : s == 409 ? over : other)++;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), 1);
  EXPECT_EQ(over.load(), 7);
  EXPECT_EQ(other.load(), 0);
  auto w = c.get("/api/v1/placements/" + pl).json()["windows"][0];
  EXPECT_EQ(w["confirmed"], 1);
  EXPECT_EQ(w["available"], 0);
  EXPECT_EQ(w["overbooked"], false);
}

TEST_F(RecordsTest, ChangeEventsNameTheDeltasAndRecords) {
  auto c = client();
  std::string org = create_org(c);
  std::string pl = create_placement(c, org);
  auto raw = store_->deltas_from(me_.public_key(), Seq{1}, 10, 1 << 20);
  ASSERT_TRUE(raw.ok());
  ASSERT_EQ(raw->size(), 2u);
  std::vector<VerifiedDelta> deltas;
  for (const auto& bytes : *raw) deltas.push_back(*decode_delta(federation_, bytes));
  auto event = json::parse(change_event_json(deltas));
  ASSERT_EQ(event["deltas"].size(), 2u);
  EXPECT_EQ(event["deltas"][1]["seq"], 2);
  EXPECT_EQ(event["deltas"][1]["origin"], me_.public_key().hex());
  EXPECT_EQ(event["records"], json({{{"id", org}, {"record_type", "organisation"}}, {{"id", pl}, {"record_type", "placement"}}}));
  EXPECT_EQ(change_event_json(deltas).find('\n'), std::string::npos);
}

}  // namespace
}  // namespace conect::api::test
