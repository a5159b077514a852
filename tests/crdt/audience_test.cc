// Who may hold a record's personal data (DESIGN §5).
#include <gtest/gtest.h>

#include "conect/crdt/audience.h"

namespace conect {
namespace {

NodeId id(std::uint8_t b) {
  NodeId n;
  n.bytes.fill(b);
  return n;
}

const std::map<NodeId, v1::MemberRole> kRoster = {
    {id(1), v1::SCHOOL}, {id(2), v1::SCHOOL}, {id(3), v1::COMPANY}, {id(4), v1::AUDITOR}};

TEST(Audience, MobilityIsTheSendingAndTheReceivingNode) {
  v1::RecordState s;
  auto* fixed = s.mutable_mobility()->mutable_fixed();
  fixed->mutable_receiving_organisation()->set_owner(id(2).raw());
  fixed->mutable_participant()->mutable_personal()->set_commitment(std::string(32, 'c'));
  RecordKey key{v1::MOBILITY, id(1), 7};
  EXPECT_EQ(personal_audience(key, s, kRoster), (std::set<NodeId>{id(1), id(2)}));
  EXPECT_EQ(personal_commitment(s), Hash256::from_raw(std::string(32, 'c')));
}

TEST(Audience, ContactDefaultsToEveryMemberButAuditors) {
  v1::RecordState s;
  s.mutable_contact();
  RecordKey key{v1::CONTACT, id(1), 7};
  EXPECT_EQ(personal_audience(key, s, kRoster), (std::set<NodeId>{id(1), id(2), id(3)}));
  EXPECT_FALSE(personal_commitment(s));  // no personal data yet
}

TEST(Audience, ContactWithAListOrLocal) {
  v1::RecordState s;
  auto* a = s.mutable_contact()->mutable_audience();
  a->set_kind(v1::AUDIENCE_MEMBERS);
  a->add_members(id(3).raw());
  a->add_members("not an id");
  RecordKey key{v1::CONTACT, id(1), 7};
  EXPECT_EQ(personal_audience(key, s, kRoster), (std::set<NodeId>{id(1), id(3)}));
  a->set_kind(v1::AUDIENCE_LOCAL);
  EXPECT_EQ(personal_audience(key, s, kRoster), (std::set<NodeId>{id(1)}));
}

TEST(Audience, OtherRecordsHaveNone) {
  v1::RecordState s;
  s.mutable_placement();
  EXPECT_TRUE(personal_audience(RecordKey{v1::PLACEMENT, id(1), 7}, s, kRoster).empty());
}

}  // namespace
}  // namespace conect
