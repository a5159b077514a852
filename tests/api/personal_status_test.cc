// What the API says about personal data (docs/privacy.md "What users see"):
// personal_data_status and its reason for each way a node can (not) hold
// it, the audience the owner sees, members' seal keys, and contact audiences
// that only widen.
#include "api_fixture.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/seal.h"

namespace conect::api::test {
namespace {

using nlohmann::json;

class PersonalStatusTest : public ApiFixture {
 protected:
  json mobility_body(const std::string& sending, const std::string& receiving) {
    return {{"fixed",
             {{"sending_organisation", sending},
              {"receiving_organisation", receiving},
              {"participant", {{"pseudonym", "P-1"}}},
              {"type", "learner_otj_company"},
              {"category", "ivet_learner"}}},
            {"personal_data", {{"name", "Aino Virtanen"}}}};
  }
  // The other node's mobility to `receiving`, with a commitment whose data
  // this node does not hold.
  RecordKey other_mobility(const RecordKey& sending, const RecordKey& receiving) {
    auto key = other_next_key(v1::MOBILITY);
    v1::MobilityFixed f;
    *f.mutable_sending_organisation() = sending.to_proto();
    *f.mutable_receiving_organisation() = receiving.to_proto();
    f.mutable_participant()->set_pseudonym("SE-9");
    f.mutable_participant()->mutable_personal()->set_commitment(std::string(32, 'c'));
    f.set_type(v1::LEARNER_OTJ_COMPANY);
    f.set_category(v1::IVET_LEARNER);
    other_author(ops::create_mobility(key, f));
    return key;
  }
  // The other node on this node's roster.
  void trust_other() {
    v1::MemberCardBody body;
    body.set_name("Luleå");
    body.set_country("SE");
    body.set_role(v1::SCHOOL);
    body.set_node_id(other_.public_key().raw());
    v1::MemberCard card;
    card.set_body(body.SerializeAsString());
    ASSERT_TRUE(store_->put_member(other_.public_key(), card).ok());
  }
};

TEST_F(PersonalStatusTest, TheOwnerHoldsItAndSeesWhoCanReceiveIt) {
  auto c = client();
  std::string ours = create_org(c);
  RecordKey theirs = other_org();
  auto r = c.post("/api/v1/mobilities", mobility_body(ours, theirs.text()));
  ASSERT_EQ(r.status, 201) << r.body;
  json m = r.json();
  EXPECT_EQ(m["personal_data_status"], "held");
  EXPECT_EQ(m["personal_data_reason"], "entered at this node");
  ASSERT_EQ(m["personal_data_audience"].size(), 2u);
  for (const auto& a : m["personal_data_audience"]) EXPECT_FALSE(a["seal_key_announced"]);
  // The host announces its seal key: the owner now sees it can receive.
  other_author({seal_key_announcement(other_, federation_, SealKey::generate().public_key())});
  m = c.get("/api/v1/mobilities/" + m["id"].get<std::string>()).json();
  for (const auto& a : m["personal_data_audience"])
    EXPECT_EQ(a["seal_key_announced"], a["node_id"] == other_.public_key().hex()) << a;
}

TEST_F(PersonalStatusTest, ANodeOutsideTheAudienceSaysWhy) {
  auto c = client();
  RecordKey org = other_org();
  RecordKey m = other_mobility(org, org);
  json j = c.get("/api/v1/mobilities/" + m.text()).json();
  EXPECT_TRUE(j["personal_data"].is_null());
  EXPECT_EQ(j["personal_data_status"], "not_shared_with_this_node");
  EXPECT_NE(j["personal_data_reason"].get<std::string>().find("receiving organisation"), std::string::npos);
  EXPECT_FALSE(j.contains("personal_data_audience"));  // only the owner lists it
}

TEST_F(PersonalStatusTest, AnAudienceMemberAwaitsDeliveryAndSaysWhatItLacks) {
  auto c = client();
  RecordKey ours = *RecordKey::parse(v1::ORGANISATION, create_org(c));
  RecordKey m = other_mobility(other_org(), ours);
  json j = c.get("/api/v1/mobilities/" + m.text()).json();
  EXPECT_EQ(j["personal_data_status"], "awaiting_delivery");
  EXPECT_NE(j["personal_data_reason"].get<std::string>().find("seal key"), std::string::npos);
  // Erased by its owner: said so, for good.
  v1::Operation erase;
  *erase.mutable_erase()->mutable_record() = m.to_proto();
  erase.mutable_erase()->set_type(v1::MOBILITY);
  erase.mutable_erase()->set_commitment(std::string(32, 'c'));
  other_author({erase});
  j = c.get("/api/v1/mobilities/" + m.text()).json();
  EXPECT_EQ(j["personal_data_status"], "erased");
  EXPECT_TRUE(j["personal_data_erased"]);
}

TEST_F(PersonalStatusTest, MembersShowTheirSealKeys) {
  auto c = client();
  trust_other();
  json items = c.get("/api/v1/members").json()["items"];
  ASSERT_EQ(items.size(), 1u);
  EXPECT_TRUE(items[0]["seal_key"].is_null());
  EXPECT_NE(items[0]["personal_data"].get<std::string>().find("no seal key"), std::string::npos);
  SealKey theirs = SealKey::generate();
  other_author({seal_key_announcement(other_, federation_, theirs.public_key())});
  items = c.get("/api/v1/members").json()["items"];
  EXPECT_EQ(items[0]["seal_key"], theirs.public_key().hex());
  EXPECT_NE(items[0]["personal_data"].get<std::string>().find("can receive"), std::string::npos);
}

TEST_F(PersonalStatusTest, AContactAudienceOnlyWidens) {
  auto c = client();
  std::string org = create_org(c);
  auto by_default =
      c.post("/api/v1/contacts",
             {{"organisation", org}, {"display_name", "Coordinator"}, {"personal_data", {{"name", "Aino"}}}});
  ASSERT_EQ(by_default.status, 201) << by_default.body;
  EXPECT_EQ(by_default.json()["audience"]["kind"], "federation");  // the default, said
  auto r = c.post("/api/v1/contacts", {{"organisation", org},
                                       {"display_name", "Principal"},
                                       {"audience", {{"kind", "local"}}},
                                       {"personal_data", {{"name", "Liisa"}}}});
  ASSERT_EQ(r.status, 201) << r.body;
  std::string id = r.json()["id"];
  EXPECT_EQ(r.json()["audience"]["kind"], "local");
  ASSERT_EQ(r.json()["personal_data_audience"].size(), 1u);
  auto stranger =
      c.patch("/api/v1/contacts/" + id, {{"audience", {{"kind", "members"}, {"members", {std::string(64, 'a')}}}}});
  EXPECT_EQ(stranger.status, 422) << stranger.body;
  trust_other();
  auto wider = c.patch("/api/v1/contacts/" + id,
                       {{"audience", {{"kind", "members"}, {"members", {other_.public_key().hex()}}}}});
  ASSERT_EQ(wider.status, 200) << wider.body;
  EXPECT_EQ(wider.json()["personal_data_audience"].size(), 2u);
  auto narrower = c.patch("/api/v1/contacts/" + id, {{"audience", {{"kind", "local"}}}});
  EXPECT_EQ(narrower.status, 422);
  EXPECT_NE(narrower.json()["detail"].get<std::string>().find("only widens"), std::string::npos);
}

}  // namespace
}  // namespace conect::api::test
