// The audit bundle and the mobility report over HTTP: what the endpoints
// return verifies offline and counts what the node holds.
#include "api_fixture.h"
#include "conect/audit/audit.h"

namespace conect::api::test {
namespace {

using nlohmann::json;

class AuditRoutesTest : public ApiFixture {
 protected:
  // Both nodes on the roster, as `member add` puts them: the bundle carries
  // their self-signed cards.
  void SetUp() override {
    ApiFixture::SetUp();
    for (const KeyPair* k : {&me_, &other_}) {
      v1::MemberCardBody body;
      body.set_federation(federation_.raw());
      body.set_node_id(k->public_key().raw());
      body.set_name(k == &me_ ? "Lapland VET" : "Luleå Gymnasium");
      body.set_country(k == &me_ ? "FI" : "SE");
      body.set_role(v1::SCHOOL);
      v1::MemberCard card;
      body.SerializeToString(card.mutable_body());
      card.set_signature(k->sign(SigningDomain::member_card, card.body()).raw());
      ASSERT_TRUE(store_->put_member(k->public_key(), card).ok());
    }
  }
  std::string mobility(Client& c, const std::string& sending, const std::string& receiving, const std::string& start) {
    auto r = c.post("/api/v1/mobilities", {{"fixed", {{"sending_organisation", sending},
                                                      {"receiving_organisation", receiving},
                                                      {"participant", {{"pseudonym", "P-" + start}}},
                                                      {"type", "learner_otj_company"},
                                                      {"category", "ivet_learner"}}},
                                           {"sending", {{"planned_start", start}}}});
    EXPECT_EQ(r.status, 201) << r.body;
    return r.json()["id"];
  }
};

TEST_F(AuditRoutesTest, ExportedBundleVerifiesOffline) {
  auto c = client();
  std::string ours = create_org(c, "FI");
  RecordKey theirs = other_org("SE");
  std::string m1 = mobility(c, ours, theirs.text(), "2026-03-02");
  mobility(c, ours, theirs.text(), "2027-01-11");

  auto all = c.get("/api/v1/audit/export");
  ASSERT_EQ(all.status, 200) << all.body;
  EXPECT_EQ(all.header("content-type"), "application/octet-stream");
  auto report = audit::verify_bundle(all.body);
  ASSERT_TRUE(report.ok()) << report.error().message();
  EXPECT_EQ(report->verdict, audit::Verdict::pass) << audit::verify_report_text(*report);
  EXPECT_EQ(report->institutions.size(), 2u);

  auto one = c.get("/api/v1/audit/export?records=" + m1);
  ASSERT_EQ(one.status, 200) << one.body;
  auto selected = audit::verify_bundle(one.body);
  ASSERT_TRUE(selected.ok());
  EXPECT_EQ(selected->verdict, audit::Verdict::pass);
  EXPECT_EQ(selected->selection.records_size(), 1);

  EXPECT_EQ(c.get("/api/v1/audit/export?records=nonsense").status, 400);
  EXPECT_EQ(c.get("/api/v1/audit/export?records=" + std::string(64, 'a') + "-1").status, 404);
  EXPECT_EQ(c.get("/api/v1/audit/export?everything=yes").status, 400);
}

TEST_F(AuditRoutesTest, ReportCountsByCountryPairAndPeriod) {
  auto c = client();
  std::string ours = create_org(c, "FI");
  RecordKey theirs = other_org("SE");
  mobility(c, ours, theirs.text(), "2026-03-02");
  mobility(c, ours, theirs.text(), "2026-09-07");
  std::string cancelled = mobility(c, ours, theirs.text(), "2027-01-11");
  ASSERT_EQ(c.post("/api/v1/mobilities/" + cancelled + "/cancel", json::object()).status, 200);

  auto r = c.get("/api/v1/report/mobilities?by=year");
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = r.json();
  EXPECT_EQ(j["total"], 2) << j;
  EXPECT_EQ(j["cancelled_excluded"], 1) << j;
  EXPECT_EQ(j["by_country_pair"], json::array({{{"sending_country", "FI"}, {"receiving_country", "SE"}, {"count", 2}}}));
  EXPECT_EQ(j["by_period"]["2026"], 2) << j;

  auto with = c.get("/api/v1/report/mobilities?include_cancelled=true&by=month").json();
  EXPECT_EQ(with["total"], 3) << with;
  EXPECT_EQ(with["by_period"]["2027-01"], 1) << with;

  auto csv = c.get("/api/v1/report/mobilities?format=csv");
  ASSERT_EQ(csv.status, 200);
  EXPECT_NE(csv.body.find("FI"), std::string::npos) << csv.body;
  EXPECT_EQ(c.get("/api/v1/report/mobilities?by=week").status, 422);
  EXPECT_EQ(c.get("/api/v1/report/mobilities?format=xml").status, 422);
}

}  // namespace
}  // namespace conect::api::test
