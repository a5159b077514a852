// Mobilities, contacts, personal data, history, status and bad input.
#include <functional>
#include <thread>

#include "api_fixture.h"
#include "conect/api/validate.h"
#include "conect/crdt/identity.h"

namespace conect::api::test {
namespace {

using nlohmann::json;

class MobilitiesTest : public ApiFixture {
 protected:
  json mobility_body(const std::string& sending, const std::string& receiving) {
    return {{"fixed", {{"sending_organisation", sending},
                       {"receiving_organisation", receiving},
                       {"participant", {{"pseudonym", "P-0042"}}},
                       {"type", "learner_otj_company"},
                       {"category", "ivet_learner"}}},
            {"sending", {{"planned_start", "2026-03-02"}, {"planned_end", "2026-04-30"}, {"qualification_title", "Welder"},
                         {"eqf_level", 4}, {"languages", {{{"lang", "sv"}, {"level", "A2"}}}}}},
            {"personal_data", {{"name", "Aino Virtanen"}, {"birth_date", "2007-05-14"}, {"email", "aino@example.fi"}}}};
  }
  // A teacher's mobility the other node creates, from `sending` to `receiving`.
  RecordKey other_mobility(const RecordKey& sending, const RecordKey& receiving, const std::string& pseudonym,
                           v1::MobilityType type, v1::MobilityStatus status = v1::MOBILITY_STATUS_UNSPECIFIED) {
    auto key = other_next_key(v1::MOBILITY);
    v1::MobilityFixed f;
    *f.mutable_sending_organisation() = sending.to_proto();
    *f.mutable_receiving_organisation() = receiving.to_proto();
    f.mutable_participant()->set_pseudonym(pseudonym);
    f.set_type(type);
    f.set_category(v1::TEACHER);
    v1::MobilitySending s;
    s.set_status(status);
    other_author(ops::create_mobility(key, f, &s));
    return key;
  }
  // A nominated mobility the other node sends to a new organisation of ours.
  RecordKey incoming_mobility(Client& c, const std::string& pseudonym) {
    std::string ours = create_org(c);
    return other_mobility(other_org(), *RecordKey::parse(v1::ORGANISATION, ours), pseudonym, v1::JOB_SHADOWING,
                          v1::MOBILITY_NOMINATED);
  }
};

TEST_F(MobilitiesTest, CreateKeepsPersonalDataOutOfTheDelta) {
  auto c = client();
  std::string ours = create_org(c);
  RecordKey theirs = other_org();
  auto r = c.post("/api/v1/mobilities", mobility_body(ours, theirs.text()));
  ASSERT_EQ(r.status, 201) << r.body;
  auto m = r.json();
  std::string id = m["id"];
  EXPECT_EQ(r.header("location"), "/api/v1/mobilities/" + id);
  EXPECT_EQ(m["fixed"]["type"], "learner_otj_company");
  EXPECT_EQ(m["sending"]["status"], "draft");
  EXPECT_EQ(m["sending"]["languages"], json({{{"lang", "sv"}, {"level", "A2"}}}));
  EXPECT_EQ(m["personal_data"], json({{"name", "Aino Virtanen"}, {"birth_date", "2007-05-14"}, {"email", "aino@example.fi"}}));
  std::string commitment_hex = m["fixed"]["participant"]["personal"]["commitment"];
  auto commitment = Hash256::from_hex(commitment_hex);
  ASSERT_TRUE(commitment);
  auto blob = store_->blob(*commitment);
  ASSERT_TRUE(blob.ok() && blob->has_value());
  EXPECT_EQ(blake2b256(**blob), *commitment);  // BLAKE2b-256(salt || content)

  auto key = *RecordKey::parse(v1::MOBILITY, id);
  auto h = store_->history(key);
  ASSERT_TRUE(h.ok());
  ASSERT_FALSE(h->deltas.empty());
  for (const auto& d : h->deltas) {
    EXPECT_EQ(d.signed_delta.body().find("Aino"), std::string::npos);
    EXPECT_EQ(d.signed_delta.body().find("aino@example.fi"), std::string::npos);
    EXPECT_NE(d.signed_delta.body().find(commitment->raw()), std::string::npos);
  }
}

TEST_F(MobilitiesTest, FieldGroupsHaveOneWriterEach) {
  auto c = client();
  std::string ours = create_org(c);
  RecordKey theirs = other_org();
  std::string id = c.post("/api/v1/mobilities", mobility_body(ours, theirs.text())).json()["id"];
  std::uint64_t head = own_head();
  auto fixed = c.patch("/api/v1/mobilities/" + id, {{"fixed", {{"type", "study_visit"}}}});
  EXPECT_EQ(fixed.status, 409);
  EXPECT_EQ(fixed.json()["error"], "fixed_field");
  auto host = c.patch("/api/v1/mobilities/" + id, {{"host", {{"host_status", "accepted"}}}});
  EXPECT_EQ(host.status, 403);
  EXPECT_EQ(c.patch("/api/v1/mobilities/" + id, {{"agreed_delta", std::string(64, '0')}}).status, 400);
  EXPECT_EQ(own_head(), head);

  auto nominated = c.patch("/api/v1/mobilities/" + id, {{"sending", {{"status", "nominated"}, {"europass_number", "EP-1"}}}});
  ASSERT_EQ(nominated.status, 200) << nominated.body;
  EXPECT_EQ(nominated.json()["sending"]["status"], "nominated");
  auto back = c.patch("/api/v1/mobilities/" + id, {{"sending", {{"status", "draft"}}}});
  EXPECT_EQ(back.status, 422);
  EXPECT_EQ(back.json()["detail"], "sending.status: cannot move from nominated to draft; status only moves forward");
}

TEST_F(MobilitiesTest, ConfirmCompleteCancel) {
  auto c = client();
  std::string ours = create_org(c);
  RecordKey theirs = other_org();
  std::string id = c.post("/api/v1/mobilities", mobility_body(ours, theirs.text())).json()["id"];
  auto key = *RecordKey::parse(v1::MOBILITY, id);
  auto conf = c.request("POST", "/api/v1/mobilities/" + id + "/confirm");
  ASSERT_EQ(conf.status, 200) << conf.body;
  auto m = conf.json();
  ASSERT_EQ(m["confirmations"].size(), 1u);
  EXPECT_EQ(m["confirmations"][0]["party"], "sending");
  EXPECT_EQ(m["confirmations"][0]["signer"], me_.public_key().hex());
  EXPECT_EQ(m["confirmations"][0]["current"], true);
  v1::Mobility stored = (*store_->record(key))->mobility();
  ASSERT_EQ(stored.confirmations_size(), 1);
  EXPECT_TRUE(verify_confirmation(key, stored.confirmations(0)));
  EXPECT_EQ(c.request("POST", "/api/v1/mobilities/" + id + "/confirm", R"({"party":"host"})").status, 403);

  // An agreed-field change shows the confirmation as no longer current.
  auto moved = c.patch("/api/v1/mobilities/" + id, {{"sending", {{"planned_end", "2026-05-15"}}}});
  ASSERT_EQ(moved.status, 200);
  EXPECT_EQ(moved.json()["confirmations"][0]["current"], false);

  ASSERT_EQ(c.patch("/api/v1/mobilities/" + id, {{"sending", {{"status", "nominated"}}}}).status, 200);
  EXPECT_EQ(c.request("POST", "/api/v1/mobilities/" + id + "/complete").json()["sending"]["status"], "completed");
  EXPECT_EQ(c.request("POST", "/api/v1/mobilities/" + id + "/cancel").json()["sending"]["status"], "cancelled");
  EXPECT_EQ(c.request("POST", "/api/v1/mobilities/" + id + "/cancel").status, 409);
  EXPECT_EQ(c.request("POST", "/api/v1/mobilities/" + id + "/complete").status, 409);
}

// The steps the sending side may sign (docs/api.md, `sending.status`): a
// completed mobility that was never nominated, or a cancelled one whose
// learning was recognised, would be counted wrongly by every report.
TEST_F(MobilitiesTest, StatusMovesOneStepAtATime) {
  auto c = client();
  std::string ours = create_org(c);
  RecordKey theirs = other_org();
  std::string id = c.post("/api/v1/mobilities", mobility_body(ours, theirs.text())).json()["id"];
  std::string path = "/api/v1/mobilities/" + id;
  auto status = [&](const std::string& s) { return c.patch(path, {{"sending", {{"status", s}}}}); };
  std::uint64_t head = own_head();

  auto complete = c.request("POST", path + "/complete");
  EXPECT_EQ(complete.status, 409);
  EXPECT_EQ(complete.json()["detail"],
            "mobility " + id + " is draft: nominate it first; a mobility nobody nominated did not take place");
  EXPECT_EQ(status("completed").status, 409);
  EXPECT_EQ(status("live").json()["detail"], "mobility " + id + " is draft: nominate it before it starts");
  EXPECT_EQ(status("recognised").status, 409);
  EXPECT_EQ(own_head(), head);

  ASSERT_EQ(status("nominated").status, 200);
  auto early = status("recognised");
  EXPECT_EQ(early.status, 409);
  EXPECT_EQ(early.json()["detail"], "mobility " + id +
                                        " is nominated: mark it completed first; only a completed mobility's learning "
                                        "is recognised");
  ASSERT_EQ(status("live").status, 200);
  ASSERT_EQ(c.request("POST", path + "/complete").status, 200);
  ASSERT_EQ(status("recognised").status, 200);
  head = own_head();
  auto cancel = c.request("POST", path + "/cancel");
  EXPECT_EQ(cancel.status, 409);
  EXPECT_EQ(cancel.json()["detail"], "mobility " + id +
                                         " is recognised: its learning was recognised, so it took place and cannot be "
                                         "cancelled");
  EXPECT_EQ(status("cancelled").status, 409);
  EXPECT_EQ(own_head(), head);
  EXPECT_EQ(c.get(path).json()["sending"]["status"], "recognised");

  // Not completed before its planned start (the node's clock: 2026-09-21).
  json later = mobility_body(ours, theirs.text());
  later["sending"]["planned_start"] = "2027-03-01";
  later["sending"]["planned_end"] = "2027-03-12";
  std::string next = c.post("/api/v1/mobilities", later).json()["id"];
  ASSERT_EQ(c.patch("/api/v1/mobilities/" + next, {{"sending", {{"status", "nominated"}}}}).status, 200);
  auto early_end = c.request("POST", "/api/v1/mobilities/" + next + "/complete");
  EXPECT_EQ(early_end.status, 409);
  EXPECT_EQ(early_end.json()["detail"], "mobility " + next +
                                            " is nominated: it starts on 2027-03-01, so it cannot be completed yet "
                                            "(change the planned dates if it took place earlier)");
}

// Cancelling a mobility releases, in the same signed delta, the
// reservations this node requested for it; a reservation that names no
// mobility stays booked for the next participant.
// Two writes at once on one mobility (a student-system sync script and a
// coordinator in the dashboard): each is checked against what the other
// wrote, so the node never signs a step its rules forbid and never answers
// 200 for a change the merge then drops.
TEST_F(MobilitiesTest, ConcurrentWritesToOneMobilityAreCheckedOneAfterTheOther) {
  auto c = client();
  std::string ours = create_org(c);
  RecordKey theirs = other_org();
  for (int round = 0; round < 6; ++round) {
    json body = mobility_body(ours, theirs.text());
    body["sending"]["status"] = "nominated";
    std::string path = "/api/v1/mobilities/" + c.post("/api/v1/mobilities", body).json()["id"].get<std::string>();
    // Each write's status, by position.
    auto at_once = [&](std::vector<std::function<int(Client&)>> writes) {
      std::vector<int> status(writes.size());
      std::vector<std::thread> threads;
      for (std::size_t i = 0; i < writes.size(); ++i)
        threads.emplace_back([&, i] {
          Client t = client();
          status[i] = writes[i](t);
        });
      for (auto& t : threads) t.join();
      return status;
    };
    auto cancel = [&](Client& t) { return t.request("POST", path + "/cancel").status; };
    std::vector<int> got;
    if (round % 2 == 0)  // a PATCH against a cancel
      got = at_once({[&](Client& t) {
                       return t.patch(path, {{"sending", {{"status", "live"}, {"europass_number", "EP-1"}}}}).status;
                     },
                     cancel});
    else  // two cancels and a complete
      got = at_once({cancel, cancel, [&](Client& t) { return t.request("POST", path + "/complete").status; }});
    auto m = c.get(path).json();
    EXPECT_EQ(m["rejected"], json::array()) << "round " << round << ": the node signed a step its rules refuse: " << m;
    EXPECT_EQ(m["sending"]["status"], "cancelled") << m;
    if (round % 2 == 0 && got[0] == 200) {  // the PATCH came first: it took effect
      EXPECT_EQ(m["sending"]["europass_number"], "EP-1") << m;
    }
    if (round % 2 == 1) {
      EXPECT_EQ((got[0] == 200) + (got[1] == 200), 1) << "round " << round << ": a mobility is cancelled once";
    }
  }
}

TEST_F(MobilitiesTest, CancelReleasesTheReservationsNamingIt) {
  auto c = client();
  std::string ours = create_org(c);
  RecordKey theirs = other_org();
  RecordKey placement = other_placement(theirs, 2);
  std::string id = c.post("/api/v1/mobilities", mobility_body(ours, theirs.text())).json()["id"];
  std::string other_id = c.post("/api/v1/mobilities", mobility_body(ours, theirs.text())).json()["id"];
  auto reserve = [&](const nlohmann::json& extra) {
    nlohmann::json body = {{"window_id", 1}, {"slots", 1}};
    body.update(extra);
    auto r = c.post("/api/v1/placements/" + placement.text() + "/reservations", body);
    EXPECT_EQ(r.status, 201) << r.body;
    return *RecordKey::parse(v1::RESERVATION, r.json()["id"].get<std::string>());
  };
  RecordKey for_it = reserve({{"mobility", id}});
  RecordKey unnamed = reserve(nlohmann::json::object());
  RecordKey for_other = reserve({{"mobility", other_id}});
  // The host confirms the first two (the window holds 2).
  for (const RecordKey& r : {for_it, unnamed})
    other_author({ops::decide(r, (*store_->record(r))->reservation(), v1::RESERVATION_CONFIRMED)});
  auto decision = [&](const RecordKey& r) {
    return c.get("/api/v1/reservations/" + r.text()).json()["decision"].get<std::string>();
  };
  ASSERT_EQ(decision(for_it), "confirmed");
  ASSERT_EQ(decision(unnamed), "confirmed");

  std::uint64_t head = own_head();
  auto cancelled = c.request("POST", "/api/v1/mobilities/" + id + "/cancel");
  ASSERT_EQ(cancelled.status, 200) << cancelled.body;
  EXPECT_EQ(cancelled.json()["sending"]["status"], "cancelled");
  EXPECT_EQ(own_head(), head + 1);  // one delta: the status and the release
  EXPECT_EQ(decision(for_it), "cancelled");
  EXPECT_EQ(decision(unnamed), "confirmed");
  EXPECT_EQ(decision(for_other), "pending");
  auto windows = c.get("/api/v1/placements/" + placement.text()).json()["windows"];
  EXPECT_EQ(windows[0]["available"], 1) << windows.dump();

  // The same through PATCH; a reservation already cancelled is left as it is.
  auto patched = c.patch("/api/v1/mobilities/" + other_id, {{"sending", {{"status", "cancelled"}}}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(decision(for_other), "cancelled");
  EXPECT_EQ(own_head(), head + 2);
}

TEST_F(MobilitiesTest, HostSideWritesAndConfirmsAnIncomingMobility) {
  auto c = client();
  RecordKey mkey = incoming_mobility(c, "SE-7");

  std::uint64_t head = own_head();
  EXPECT_EQ(c.patch("/api/v1/mobilities/" + mkey.text(), {{"sending", {{"status", "live"}}}}).status, 403);
  EXPECT_EQ(c.request("POST", "/api/v1/mobilities/" + mkey.text() + "/cancel").status, 403);
  EXPECT_EQ(own_head(), head);
  auto h = c.patch("/api/v1/mobilities/" + mkey.text(),
                   {{"host", {{"host_status", "accepted"}, {"actual_arrival", "2026-03-02"}}}});
  ASSERT_EQ(h.status, 200) << h.body;
  EXPECT_EQ(h.json()["host"]["host_status"], "accepted");
  EXPECT_EQ(h.json()["host"]["actual_arrival"], "2026-03-02");
  EXPECT_EQ(h.json()["rejected"], json::array());
  auto conf = c.request("POST", "/api/v1/mobilities/" + mkey.text() + "/confirm");
  ASSERT_EQ(conf.status, 200) << conf.body;
  EXPECT_EQ(conf.json()["confirmations"][0]["party"], "host");
  EXPECT_TRUE(conf.json()["personal_data"].is_null());  // not ours to hold
}

// Values the API took and should not have: a departure before the arrival,
// a mentor that is no contact of the host, an EQF level 0 (it cleared an
// agreed field), a window of no placement.
TEST_F(MobilitiesTest, HostDatesMentorEqfAndWindowAreChecked) {
  auto c = client();
  RecordKey mkey = incoming_mobility(c, "SE-9");
  const std::string path = "/api/v1/mobilities/" + mkey.text();
  std::uint64_t head = own_head();
  auto r = c.patch(path, {{"host", {{"actual_arrival", "2026-03-02"}, {"actual_departure", "2026-01-01"}}}});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.json()["detail"], "host.actual_departure: before actual_arrival");
  const std::string nobody = std::string(64, 'a') + "-1";
  r = c.patch(path, {{"host", {{"mentor", nobody}}}});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.json()["detail"], "host.mentor: " + nobody +
                                    " is not a contact of this node; name one of this node's "
                                    "contacts as mobility " +
                                    mkey.text() + "'s mentor (add the contact first)");
  EXPECT_EQ(own_head(), head);
  std::string org = create_org(c);
  std::string mentor =
      c.post("/api/v1/contacts", {{"organisation", org}, {"display_name", "Workshop mentor"}}).json()["id"];
  r = c.patch(path,
              {{"host", {{"mentor", mentor}, {"actual_arrival", "2026-03-02"}, {"actual_departure", "2026-03-13"}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.json()["host"]["mentor"], mentor);

  std::string ours = create_org(c);
  json body = mobility_body(ours, other_org().text());
  body["sending"]["eqf_level"] = 0;
  r = c.post("/api/v1/mobilities", body);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.json()["detail"], "sending.eqf_level: 1 to 8 (null leaves it unset)");
  body["sending"]["eqf_level"] = 4;
  body["sending"]["window_id"] = 1;
  r = c.post("/api/v1/mobilities", body);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.json()["detail"], "sending.window_id: names a window, but no placement; give the placement too");
  body["sending"].erase("window_id");
  std::string id = c.post("/api/v1/mobilities", body).json()["id"];
  EXPECT_EQ(c.patch("/api/v1/mobilities/" + id, {{"sending", {{"eqf_level", 0}}}}).status, 422);
  auto cleared = c.patch("/api/v1/mobilities/" + id, {{"sending", {{"eqf_level", nullptr}}}});
  ASSERT_EQ(cleared.status, 200) << cleared.body;
  EXPECT_EQ(cleared.json()["sending"]["eqf_level"], 0);
}

// The host signs only what it accepted, and its answer is no longer changed
// once the sending side has completed the mobility (a record that said both
// "it took place" and "the host refused it" was written and counted).
TEST_F(MobilitiesTest, TheHostSignsWhatItAcceptedAndAnswersOnlyWhatIsToCome) {
  auto c = client();
  RecordKey mkey = incoming_mobility(c, "SE-8");
  std::string path = "/api/v1/mobilities/" + mkey.text();
  auto answer = [&](const std::string& s) { return c.patch(path, {{"host", {{"host_status", s}}}}); };
  ASSERT_EQ(answer("rejected").status, 200);
  std::uint64_t head = own_head();
  auto sign = c.request("POST", path + "/confirm", R"({"party":"host"})");
  EXPECT_EQ(sign.status, 409);
  EXPECT_EQ(sign.json()["detail"], "this node rejected mobility " + mkey.text() +
                                       " as its host: accept it first (host status) to sign what was agreed");
  EXPECT_EQ(own_head(), head);
  ASSERT_EQ(answer("accepted").status, 200);
  ASSERT_EQ(c.request("POST", path + "/confirm", R"({"party":"host"})").status, 200);

  v1::MobilitySending done;
  done.set_status(v1::MOBILITY_COMPLETED);
  other_author({ops::write_mobility_sending(mkey, done, {v1::MobilitySending::kStatusFieldNumber})});
  head = own_head();
  auto late = answer("rejected");
  EXPECT_EQ(late.status, 409);
  EXPECT_EQ(late.json()["detail"], "mobility " + mkey.text() +
                                       " is completed by its sending side: the host's answer (accepted) is no longer "
                                       "changed");
  EXPECT_EQ(own_head(), head);
  // Its other fields (arrival, departure, assessment) are still the host's to write.
  EXPECT_EQ(c.patch(path, {{"host", {{"actual_arrival", "2026-03-02"}}}}).status, 200);
}

// A node that is neither side of a mobility is told so when it tries to
// sign it, and nothing is written.
TEST_F(MobilitiesTest, ANodeThatIsNeitherSideIsToldSoWhenItConfirms) {
  auto c = client();
  create_org(c);
  RecordKey sending = other_org();
  RecordKey receiving = other_org("NO");
  RecordKey mkey = other_mobility(sending, receiving, "SE-9", v1::STUDY_VISIT);
  std::uint64_t head = own_head();
  auto r = c.request("POST", "/api/v1/mobilities/" + mkey.text() + "/confirm");
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(r.json()["detail"], "this node is neither the sending nor the host party of mobility " + mkey.text() +
                                    ": only their two nodes sign what they agreed");
  EXPECT_EQ(own_head(), head);
}

// A mobility booked on a placement goes to the node that offers it: a
// receiving organisation spoken for by another node is refused, at create
// and when a PATCH names a placement, and nothing is written.
TEST_F(MobilitiesTest, APlacementMustBeOfferedByTheReceivingOrganisationsNode) {
  auto c = client();
  std::string ours = create_org(c);
  std::string our_placement = create_placement(c, ours);
  RecordKey theirs = other_org();
  RecordKey their_placement = other_placement(theirs);
  std::uint64_t head = own_head();

  auto body = mobility_body(ours, theirs.text());
  body["sending"]["placement"] = our_placement;
  body["sending"]["window_id"] = 1;
  body["sending"]["planned_start"] = "2026-04-06";  // inside both placements' window 1
  body["sending"]["planned_end"] = "2026-04-17";
  auto wrong = c.post("/api/v1/mobilities", body);
  EXPECT_EQ(wrong.status, 422) << wrong.body;
  EXPECT_EQ(wrong.json()["detail"],
            "sending.placement: " + our_placement + " is offered by node " + me_.public_key().hex().substr(0, 16) +
                "..., which does not speak for the receiving organisation " + theirs.text() +
                "; choose a placement of the receiving organisation's node, or its host as the receiving "
                "organisation");
  EXPECT_EQ(own_head(), head);

  body["sending"]["placement"] = their_placement.text();
  auto right = c.post("/api/v1/mobilities", body);
  ASSERT_EQ(right.status, 201) << right.body;
  std::string id = right.json()["id"];
  head = own_head();
  auto moved = c.patch("/api/v1/mobilities/" + id, {{"sending", {{"placement", our_placement}}}});
  EXPECT_EQ(moved.status, 422) << moved.body;
  EXPECT_EQ(own_head(), head);
  // Other sending fields still change (no placement named anew).
  EXPECT_EQ(c.patch("/api/v1/mobilities/" + id, {{"sending", {{"eqf_level", 5}}}}).status, 200);
}

// The planned period of a mobility that books a window lies inside it: the
// host offers its slots for that period only. Checked when the period, the
// window or the placement is named; a later change of other fields does not
// re-check a window the host has moved since.
TEST_F(MobilitiesTest, APlannedPeriodLiesInsideTheWindowItBooks) {
  auto c = client();
  std::string ours = create_org(c);
  RecordKey theirs = other_org();
  RecordKey their_placement = other_placement(theirs);  // window 1: 2026-04-01 to 2026-04-30
  std::uint64_t head = own_head();

  auto body = mobility_body(ours, theirs.text());
  body["sending"]["placement"] = their_placement.text();
  body["sending"]["window_id"] = 1;
  body["sending"]["planned_start"] = "2026-05-04";
  body["sending"]["planned_end"] = "2026-05-15";
  auto outside = c.post("/api/v1/mobilities", body);
  EXPECT_EQ(outside.status, 422) << outside.body;
  EXPECT_EQ(outside.json()["detail"],
            "sending.planned_start: 2026-05-04 is outside window 1 of the placement (2026-04-01 to 2026-04-30); "
            "the host offers its slots for that period: plan within it, or choose another window");
  body["sending"]["planned_start"] = "2026-04-20";  // starts inside, ends after
  outside = c.post("/api/v1/mobilities", body);
  EXPECT_EQ(outside.status, 422) << outside.body;
  EXPECT_NE(outside.body.find("sending.planned_end: 2026-05-15 is outside window 1"), std::string::npos)
      << outside.body;
  EXPECT_EQ(own_head(), head);

  body["sending"]["planned_end"] = "2026-04-30";  // the window's last day is inside
  auto inside = c.post("/api/v1/mobilities", body);
  ASSERT_EQ(inside.status, 201) << inside.body;
  std::string id = inside.json()["id"];
  head = own_head();
  auto moved = c.patch("/api/v1/mobilities/" + id, {{"sending", {{"planned_end", "2026-05-02"}}}});
  EXPECT_EQ(moved.status, 422) << moved.body;
  EXPECT_EQ(own_head(), head);
  EXPECT_EQ(c.patch("/api/v1/mobilities/" + id, {{"sending", {{"eqf_level", 5}}}}).status, 200);
  // Without a window, the dates are the sending school's own plan.
  body["sending"].erase("window_id");
  body["sending"]["planned_start"] = "2026-09-01";
  body["sending"]["planned_end"] = "2026-09-12";
  EXPECT_EQ(c.post("/api/v1/mobilities", body).status, 201);
}

TEST_F(MobilitiesTest, ListFilters) {
  auto c = client();
  std::string fi = create_org(c, "FI");
  RecordKey se = other_org("SE");
  auto a = mobility_body(fi, se.text());
  auto b = mobility_body(fi, se.text());
  b["fixed"]["type"] = "study_visit";
  b["sending"]["planned_start"] = "2026-09-01";
  b["sending"]["planned_end"] = "2026-09-10";
  std::string ida = c.post("/api/v1/mobilities", a).json()["id"];
  std::string idb = c.post("/api/v1/mobilities", b).json()["id"];
  auto ids = [&](const std::string& q) {
    std::set<std::string> out;
    auto r = c.get("/api/v1/mobilities" + q);
    EXPECT_EQ(r.status, 200) << q << r.body;
    json body = r.json();
    for (const auto& m : body["items"]) out.insert(m["id"].get<std::string>());
    return out;
  };
  EXPECT_EQ(ids(""), (std::set<std::string>{ida, idb}));
  EXPECT_EQ(ids("?type=study_visit"), (std::set<std::string>{idb}));
  EXPECT_EQ(ids("?status=draft&country=SE"), (std::set<std::string>{ida, idb}));
  EXPECT_EQ(ids("?from=2026-08-01"), (std::set<std::string>{idb}));
  EXPECT_EQ(ids("?to=2026-05-01"), (std::set<std::string>{ida}));
  EXPECT_EQ(ids("?organisation=" + se.text()), (std::set<std::string>{ida, idb}));
  EXPECT_EQ(ids("?status=live"), (std::set<std::string>{}));
  EXPECT_EQ(c.get("/api/v1/mobilities?type=cruise").status, 422);
  EXPECT_EQ(c.get("/api/v1/mobilities?from=2026-02-30").status, 422);
}

TEST_F(MobilitiesTest, ContactsKeepPersonalDataInBlobs) {
  auto c = client();
  std::string org = create_org(c);
  auto r = c.post("/api/v1/contacts", {{"organisation", org},
                                       {"display_name", "Coordinator, Lapland VET"},
                                       {"roles", {"mobility_coordinator", "mentor"}},
                                       {"languages", {{{"lang", "fi"}, {"level", "C2"}}}},
                                       {"personal_data", {{"name", "Matti"}, {"email", "matti@example.fi"}, {"phone", "+358401234567"}}}});
  ASSERT_EQ(r.status, 201) << r.body;
  EXPECT_EQ(r.json()["roles"], json({"mobility_coordinator", "mentor"}));
  EXPECT_EQ(r.json()["personal_data"]["phone"], "+358401234567");
  EXPECT_EQ(c.get("/api/v1/contacts").json()["items"].size(), 1u);
  std::string id = r.json()["id"];
  EXPECT_EQ(c.get("/api/v1/contacts/" + id).json()["display_name"], "Coordinator, Lapland VET");
  std::uint64_t head = own_head();
  auto bad_phone = c.post("/api/v1/contacts", {{"organisation", org}, {"display_name", "x"}, {"personal_data", {{"phone", "0401234567"}}}});
  EXPECT_EQ(bad_phone.status, 422);
  auto bad_key = c.post("/api/v1/contacts", {{"organisation", org}, {"display_name", "x"}, {"personal_data", {{"ssn", "1"}}}});
  EXPECT_EQ(bad_key.status, 400);
  EXPECT_EQ(bad_key.json()["detail"], "personal_data.ssn: unknown field");
  EXPECT_EQ(own_head(), head);
}

TEST_F(MobilitiesTest, HistoryShowsTheSignedDeltas) {
  auto c = client();
  std::string org = create_org(c);
  std::string pl = create_placement(c, org);
  ASSERT_EQ(c.patch("/api/v1/placements/" + pl, {{"tasks", "grinding"}}).status, 200);
  auto h = c.get("/api/v1/records/" + pl + "/history");
  ASSERT_EQ(h.status, 200) << h.body;
  auto j = h.json();
  EXPECT_EQ(j["record_type"], "placement");
  ASSERT_EQ(j["deltas"].size(), 2u);
  for (const auto& d : j["deltas"]) {
    EXPECT_EQ(d["origin"], me_.public_key().hex());
    EXPECT_EQ(d["verification"]["ok"], true);
    EXPECT_EQ(d["delta_id"].get<std::string>().size(), 64u);
    EXPECT_TRUE(d["time"].get<std::string>().ends_with("Z"));
    ASSERT_TRUE(d["hlc"].is_string());
    EXPECT_EQ(format_iso8601_ms(Hlc{std::stoull(d["hlc"].get<std::string>())}.millis()), d["time"]);
    EXPECT_FALSE(d["operations"].empty());
  }
  EXPECT_EQ(j["deltas"][0]["seq"], 2);
  EXPECT_EQ(j["deltas"][1]["seq"], 3);
  EXPECT_EQ(j["deltas"][1]["operations"][0]["write"]["placement"]["tasks"], "grinding");
  EXPECT_EQ(c.get("/api/v1/records/" + me_.public_key().hex() + "-7/history").status, 404);
  EXPECT_EQ(c.get("/api/v1/records/zzz/history").status, 400);
}

TEST_F(MobilitiesTest, StatusAndMembers) {
  auto c = client();
  create_org(c);
  other_org();
  v1::MemberCardBody body;
  body.set_name("Luleå");
  body.set_country("SE");
  body.set_role(v1::SCHOOL);
  body.set_node_id(other_.public_key().raw());
  v1::MemberCard card;
  card.set_body(body.SerializeAsString());
  ASSERT_TRUE(store_->put_member(other_.public_key(), card).ok());
  auto s = c.get("/api/v1/status").json();
  EXPECT_EQ(s["node_id"], me_.public_key().hex());
  EXPECT_EQ(s["federation"], federation_.hex());
  EXPECT_EQ(s["name"], "Lapland VET");
  EXPECT_EQ(s["peers"][0]["connected"], true);
  EXPECT_EQ(s["peers"][0]["lag"], 3);
  EXPECT_EQ(s["counts"]["organisation"], 2);
  EXPECT_EQ(s["counts"]["placement"], 0);
  EXPECT_EQ(s["version_vector"][me_.public_key().hex()]["seq"], 1);
  EXPECT_EQ(s["version_vector"][other_.public_key().hex()]["seq"], 1);
  EXPECT_EQ(s["digest"], store_->digest()->hex());
  auto m = c.get("/api/v1/members").json();
  ASSERT_EQ(m["items"].size(), 1u);
  EXPECT_EQ(m["items"][0]["name"], "Luleå");
  EXPECT_EQ(m["items"][0]["role"], "school");
}

TEST_F(MobilitiesTest, BadInputIsAClearErrorAndWritesNothing) {
  auto c = client();
  std::string org = create_org(c);
  std::uint64_t head = own_head();
  struct Case {
    std::string body;
    int status;
    std::string detail_has;
  } cases[] = {
      {"{\"names\": [", 400, "not valid JSON"},
      {"[]", 400, "expected a JSON object"},
      {"{\"names\": \"x\"}", 400, "names: expected an array"},
      {"{\"type\": 3}", 400, "type: expected a string"},
      {"{\"names\": [{\"lang\": \"fi\", \"text\": \"\xff\xfe\"}], \"type\": \"sme\", \"country\": \"FI\"}", 400, "UTF-8"},
      {"{\"colour\": \"red\"}", 400, "colour: unknown field"},
      {"{\"names\": [{\"lang\": \"fi\", \"text\": \"x\"}], \"type\": \"sme\", \"country\": \"XX\"}", 422, "country"},
  };
  for (const auto& k : cases) {
    auto r = c.request("POST", "/api/v1/organisations", k.body);
    EXPECT_EQ(r.status, k.status) << k.body;
    EXPECT_NE(r.json()["detail"].get<std::string>().find(k.detail_has), std::string::npos) << r.body;
  }
  auto feb30 = placement_body(org);
  feb30["windows"][0]["start"] = "2026-02-30";
  auto r = c.post("/api/v1/placements", feb30);
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(r.json()["detail"], "windows[0].start: 2026-02-30 is not a calendar date YYYY-MM-DD");
  // Larger than the loopback socket buffers: the node must read (and discard) what it refused,
  // or the client sees a broken pipe instead of the 413.
  auto huge = c.request("POST", "/api/v1/organisations", "{\"city\": \"" + std::string(16 * 1024 * 1024, 'a') + "\"}");
  EXPECT_EQ(huge.status, 413);
  auto wrong_type = c.request("POST", "/api/v1/organisations", "{}", {{"Content-Type", "text/plain"}});
  EXPECT_EQ(wrong_type.status, 415);
  EXPECT_EQ(c.get("/api/v1/placements?from=2026-02-30").status, 422);
  EXPECT_EQ(c.get("/api/v1/placements?country=XX").status, 422);
  EXPECT_EQ(c.get("/api/v1/placements?available=yes").status, 422);
  EXPECT_EQ(c.get("/api/v1/placements?cursor=zz").status, 422);
  EXPECT_EQ(c.get("/api/v1/placements?sort=x").status, 400);
  EXPECT_EQ(c.request("DELETE", "/api/v1/placements").status, 405);
  EXPECT_EQ(own_head(), head);
  auto counts = store_->counts();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ((*counts)[v1::ORGANISATION], 1u);
  EXPECT_EQ((*counts)[v1::PLACEMENT], 0u);
}

}  // namespace
}  // namespace conect::api::test
