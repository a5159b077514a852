// Erasure of personal data (DESIGN §5): the owner's signed erasure drops the
// blobs on every node that applies it, refuses them from then on, and leaves
// the record and its signed history intact.
#include "api_fixture.h"

namespace conect::api::test {
namespace {

using nlohmann::json;

class EraseTest : public ApiFixture {
 protected:
  std::optional<std::string> blob(const std::string& commitment_hex) {
    auto c = Hash256::from_hex(commitment_hex);
    EXPECT_TRUE(c);
    auto b = store_->blob(*c);
    EXPECT_TRUE(b.ok());
    return b.ok() ? *b : std::nullopt;
  }
};

TEST_F(EraseTest, MobilityErasureDropsTheBlobAndKeepsTheRecord) {
  auto c = client();
  std::string ours = create_org(c);
  RecordKey theirs = other_org();
  auto created =
      c.post("/api/v1/mobilities", {{"fixed",
                                     {{"sending_organisation", ours},
                                      {"receiving_organisation", theirs.text()},
                                      {"participant", {{"pseudonym", "P-7"}}},
                                      {"type", "learner_otj_company"},
                                      {"category", "ivet_learner"}}},
                                    {"personal_data", {{"name", "Aino Virtanen"}, {"birth_date", "2007-05-14"}}}});
  ASSERT_EQ(created.status, 201) << created.body;
  std::string id = created.json()["id"];
  std::string commitment = created.json()["fixed"]["participant"]["personal"]["commitment"];
  ASSERT_TRUE(blob(commitment).has_value());

  auto r = c.post("/api/v1/records/" + id + "/erase", json::object());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(r.json()["personal_data"].is_null());
  EXPECT_EQ(r.json()["personal_data_erased"], true);
  EXPECT_EQ(created.json()["personal_data_erased"], false);
  EXPECT_EQ(r.json()["fixed"]["participant"]["pseudonym"], "P-7");  // the record stays
  EXPECT_EQ(r.json()["fixed"]["participant"]["personal"]["commitment"], commitment);
  EXPECT_FALSE(blob(commitment).has_value());
  // The tombstone refuses the blob if a peer offers it again.
  auto c256 = *Hash256::from_hex(commitment);
  EXPECT_TRUE(store_->put_blob(c256, "salt and content").error().is(Errc::not_authorised));

  // Every delta behind the record still verifies.
  auto h = c.get("/api/v1/records/" + id + "/history").json();
  ASSERT_GE(h["deltas"].size(), 2u);
  for (const auto& d : h["deltas"]) EXPECT_EQ(d["verification"]["ok"], true) << d;

  std::uint64_t head = own_head();
  auto again = c.post("/api/v1/records/" + id + "/erase", json::object());
  EXPECT_EQ(again.status, 409) << again.body;
  EXPECT_EQ(own_head(), head);
}

TEST_F(EraseTest, ContactErasureCoversReplacedData) {
  auto c = client();
  std::string org = create_org(c);
  auto created = c.post("/api/v1/contacts",
                        {{"organisation", org}, {"display_name", "Mentor"}, {"personal_data", {{"name", "Matti"}}}});
  ASSERT_EQ(created.status, 201) << created.body;
  std::string id = created.json()["id"];
  std::string first = created.json()["personal"]["commitment"];
  auto patched = c.patch("/api/v1/contacts/" + id, {{"personal_data", {{"name", "Matti Virtanen"}}}});
  ASSERT_EQ(patched.status, 200) << patched.body;
  std::string second = patched.json()["personal"]["commitment"];
  ASSERT_NE(first, second);
  ASSERT_TRUE(blob(first).has_value());

  ASSERT_EQ(c.post("/api/v1/records/" + id + "/erase", json::object()).status, 200);
  EXPECT_FALSE(blob(first).has_value());
  EXPECT_FALSE(blob(second).has_value());
  EXPECT_TRUE(c.get("/api/v1/contacts/" + id).json()["personal_data"].is_null());
}

TEST_F(EraseTest, AnotherNodesErasureDropsTheBlobHere) {
  RecordKey org = other_org();
  auto contact = other_next_key(v1::CONTACT);
  std::string bytes(32, 's');
  bytes += R"({"name":"Anna"})";
  Hash256 commitment = blake2b256(bytes);
  ASSERT_TRUE(store_->put_blob(commitment, bytes).ok());  // as if it had been sealed to us
  v1::Contact ct;
  *ct.mutable_organisation() = org.to_proto();
  ct.set_display_name("Handledare");
  ct.mutable_personal()->set_commitment(commitment.raw());
  other_author(ops::create_contact(contact, ct));
  auto c = client();
  EXPECT_EQ(c.get("/api/v1/contacts/" + contact.text()).json()["personal_data"]["name"], "Anna");

  // Not ours to erase...
  std::uint64_t head = own_head();
  EXPECT_EQ(c.post("/api/v1/records/" + contact.text() + "/erase", json::object()).status, 403);
  EXPECT_EQ(own_head(), head);
  // ...but its owner's erasure, applied as sync would, drops it here too.
  other_author({ops::erase(contact, commitment)});
  auto b = store_->blob(commitment);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(b->has_value());
  EXPECT_TRUE(c.get("/api/v1/contacts/" + contact.text()).json()["personal_data"].is_null());
}

TEST_F(EraseTest, BadTargets) {
  auto c = client();
  std::string org = create_org(c);
  EXPECT_EQ(c.post("/api/v1/records/nonsense/erase", json::object()).status, 400);
  EXPECT_EQ(c.post("/api/v1/records/" + std::string(64, 'a') + "-1/erase", json::object()).status, 404);
  auto plain = c.post("/api/v1/contacts", {{"organisation", org}, {"display_name", "Front desk"}});
  ASSERT_EQ(plain.status, 201);
  auto r = c.post("/api/v1/records/" + plain.json()["id"].get<std::string>() + "/erase", json::object());
  EXPECT_EQ(r.status, 409);
  EXPECT_NE(r.json()["detail"].get<std::string>().find("no personal data"), std::string::npos) << r.body;
  // Placements hold no personal data: not a target.
  std::string pl = create_placement(c, org);
  auto placement = c.post("/api/v1/records/" + pl + "/erase", json::object());
  EXPECT_EQ(placement.status, 404);
  EXPECT_NE(placement.json()["detail"].get<std::string>().find("is a placement, which holds no personal data"),
            std::string::npos)
      << placement.body;
}

}  // namespace
}  // namespace conect::api::test
