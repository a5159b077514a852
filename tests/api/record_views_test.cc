// What the dashboard's record views ask of the API: mobilities by direction
// and partner organisation, contacts by organisation and role, and the
// background verification of the store.
#include <set>
#include <thread>

#include "api_fixture.h"
#include "conect/audit/audit.h"

namespace conect::api::test {
namespace {

using nlohmann::json;

class RecordViewsTest : public ApiFixture {
 protected:
  json mobility(const std::string& sending, const std::string& receiving, const std::string& pseudonym) {
    return {{"fixed",
             {{"sending_organisation", sending},
              {"receiving_organisation", receiving},
              {"participant", {{"pseudonym", pseudonym}}},
              {"type", "learner_otj_company"},
              {"category", "ivet_learner"}}}};
  }
  // The other node's mobility from `from` to `to`.
  std::string other_mobility(const RecordKey& from, const RecordKey& to) {
    auto key = other_next_key(v1::MOBILITY);
    v1::MobilityFixed f;
    *f.mutable_sending_organisation() = from.to_proto();
    *f.mutable_receiving_organisation() = to.to_proto();
    f.mutable_participant()->set_pseudonym("SE-" + std::to_string(other_seq_));
    f.set_type(v1::STUDY_VISIT);
    f.set_category(v1::TEACHER);
    other_author(ops::create_mobility(key, f, nullptr));
    return key.text();
  }
  std::set<std::string> ids(Client& c, const std::string& path) {
    std::set<std::string> out;
    std::string cursor;
    do {
      auto r = c.get(path + (path.find('?') == std::string::npos ? "?" : "&") + "limit=1" +
                     (cursor.empty() ? "" : "&cursor=" + cursor));
      EXPECT_EQ(r.status, 200) << path << " " << r.body;
      if (r.status != 200) break;
      json body = r.json();
      EXPECT_LE(body["items"].size(), 1u);
      for (const auto& m : body["items"]) out.insert(m["id"].get<std::string>());
      cursor = body["next_cursor"].is_null() ? "" : body["next_cursor"].get<std::string>();
    } while (!cursor.empty());
    return out;
  }
};

TEST_F(RecordViewsTest, MobilitiesByDirectionAndPartnerOrganisation) {
  auto c = client();
  std::string ours = create_org(c, "FI");
  RecordKey b = other_org("SE"), cc = other_org("NO");
  std::string out_b = c.post("/api/v1/mobilities", mobility(ours, b.text(), "P-1")).json()["id"];
  std::string out_c = c.post("/api/v1/mobilities", mobility(ours, cc.text(), "P-2")).json()["id"];
  std::string in_b = other_mobility(b, *RecordKey::parse(v1::ORGANISATION, ours));
  std::string neither = other_mobility(b, cc);  // between two organisations of the other node

  EXPECT_EQ(ids(c, "/api/v1/mobilities?direction=outgoing"), (std::set<std::string>{out_b, out_c}));
  EXPECT_EQ(ids(c, "/api/v1/mobilities?direction=incoming"), (std::set<std::string>{in_b}));
  EXPECT_EQ(ids(c, "/api/v1/mobilities?partner=" + b.text()), (std::set<std::string>{out_b, in_b}));
  EXPECT_EQ(ids(c, "/api/v1/mobilities?partner=" + cc.text()), (std::set<std::string>{out_c}));
  EXPECT_EQ(ids(c, "/api/v1/mobilities?direction=incoming&partner=" + b.text()), (std::set<std::string>{in_b}));
  EXPECT_EQ(ids(c, "/api/v1/mobilities?direction=outgoing&partner=" + b.text()), (std::set<std::string>{out_b}));
  EXPECT_EQ(ids(c, "/api/v1/mobilities?direction=outgoing&country=NO"), (std::set<std::string>{out_c}));
  EXPECT_EQ(ids(c, "/api/v1/mobilities"), (std::set<std::string>{out_b, out_c, in_b, neither}));
  EXPECT_EQ(c.get("/api/v1/mobilities?direction=sideways").status, 422);
  EXPECT_EQ(c.get("/api/v1/mobilities?partner=nonsense").status, 422);
}

TEST_F(RecordViewsTest, ContactsByOrganisationAndRole) {
  auto c = client();
  std::string ours = create_org(c, "FI");
  RecordKey theirs = other_org("SE");
  auto add = [&](const std::string& org, json roles) {
    auto r = c.post("/api/v1/contacts", {{"organisation", org}, {"display_name", "Desk"}, {"roles", roles}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["id"].get<std::string>();
  };
  std::string coordinator = add(ours, {"mobility_coordinator"});
  std::string mentor = add(ours, {"mentor", "teacher"});
  // A partner's mentor, added by the partner's node (only it speaks for its
  // organisation); this node may not add contacts to it.
  auto their_key = other_next_key(v1::CONTACT);
  v1::Contact theirs_contact;
  *theirs_contact.mutable_organisation() = theirs.to_proto();
  theirs_contact.set_display_name("Mentor");
  theirs_contact.add_roles(v1::MENTOR);
  other_author(ops::create_contact(their_key, theirs_contact));
  std::string their_mentor = their_key.text();
  auto refused =
      c.post("/api/v1/contacts", {{"organisation", theirs.text()}, {"display_name", "Desk"}, {"roles", {"mentor"}}});
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_EQ(ids(c, "/api/v1/contacts?organisation=" + ours), (std::set<std::string>{coordinator, mentor}));
  EXPECT_EQ(ids(c, "/api/v1/contacts?role=mentor"), (std::set<std::string>{mentor, their_mentor}));
  EXPECT_EQ(ids(c, "/api/v1/contacts?role=mentor&organisation=" + theirs.text()),
            (std::set<std::string>{their_mentor}));
  EXPECT_EQ(ids(c, "/api/v1/contacts?role=signatory"), (std::set<std::string>{}));
  EXPECT_EQ(c.get("/api/v1/contacts?role=boss").status, 422);
  EXPECT_EQ(c.get("/api/v1/contacts?organisation=x").status, 422);
  EXPECT_EQ(c.get("/api/v1/contacts?colour=red").status, 400);
}

TEST_F(RecordViewsTest, TheVerificationJobReportsWhatTheCliWould) {
  auto c = client();
  // Our card on the roster, so the bundle verifies cleanly.
  v1::MemberCardBody body;
  body.set_federation(federation_.raw());
  body.set_node_id(me_.public_key().raw());
  body.set_name("Lapland VET");
  body.set_country("FI");
  body.set_role(v1::SCHOOL);
  v1::MemberCard card;
  body.SerializeToString(card.mutable_body());
  card.set_signature(me_.sign(SigningDomain::member_card, card.body()).raw());
  ASSERT_TRUE(store_->put_member(me_.public_key(), card).ok());
  std::string ours = create_org(c, "FI");
  c.post("/api/v1/mobilities", mobility(ours, ours, "P-9"));

  EXPECT_EQ(c.get("/api/v1/audit/verification").status, 404);
  auto started = c.post("/api/v1/audit/verification", json::object());
  ASSERT_EQ(started.status, 202) << started.body;
  EXPECT_EQ(started.header("location"), "/api/v1/audit/verification");
  json job = started.json();
  for (int i = 0; i < 500 && job["state"] == "running"; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    job = c.get("/api/v1/audit/verification").json();
  }
  ASSERT_EQ(job["state"], "done") << job.dump();
  EXPECT_EQ(job["verdict"], "PASS") << job["text"];
  EXPECT_EQ(job["phase"], "done");
  auto bundle = c.get("/api/v1/audit/export");
  auto verified = audit::verify_bundle(std::string_view(bundle.body));
  ASSERT_TRUE(verified.ok());
  EXPECT_EQ(job["report"]["content_digest"], verified->content_digest.hex());
  EXPECT_EQ(job["report"]["institutions"].size(), verified->institutions.size());
  EXPECT_NE(job["text"].get<std::string>().find("verdict: PASS"), std::string::npos);

  EXPECT_EQ(c.post("/api/v1/audit/verification", {{"scope", "all"}}).status, 400);
  EXPECT_EQ(c.post("/api/v1/audit/verification", {{"organisation", std::string(64, 'a') + "-1"}}).status, 404);
  auto one = c.post("/api/v1/audit/verification", {{"organisation", ours}});
  ASSERT_EQ(one.status, 202) << one.body;
  EXPECT_NE(one.json()["selection"].get<std::string>().find(ours), std::string::npos);
}

}  // namespace
}  // namespace conect::api::test
