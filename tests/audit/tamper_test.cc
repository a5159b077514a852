// Every kind of tampering fails verification with its own reason, and an
// authentic but unauthorised operation is reported, never silently passed.
#include "fixture.h"

namespace conect::audit::testing {
namespace {

class TamperTest : public AuditTest {
 protected:
  void SetUp() override {
    AuditTest::SetUp();
    mob_ = add_mobility(a_, {org_a_, org_b_, v1::IVET_LEARNER, v1::LEARNER_OTJ_COMPANY, days(2026, 3, 10), "P-1"});
    confirm_both(mob_, a_, org_a_, b_, org_b_);
    set_status(a_, mob_, v1::MOBILITY_LIVE);
    set_status(a_, mob_, v1::MOBILITY_COMPLETED);
    ASSERT_GE(a_.seq().value, 5u);
    bundle_ = decode(export_all());
    ASSERT_EQ(verify(bundle_).verdict, Verdict::pass);
  }
  v1::AuditChain& chain_a() { return *chain_of(bundle_, a_.id()); }

  RecordKey mob_;
  v1::AuditBundle bundle_;
};

TEST_F(TamperTest, AFlippedByteInABodyFails) {
  // Flip one byte of the organisation's name inside a's first delta, so the
  // body still parses: only the signature and the next link can tell.
  std::string body = chain_a().deltas(0).body();
  auto at = body.find("Lapland");
  ASSERT_NE(at, std::string::npos);
  body[at] = 'K';
  chain_a().mutable_deltas(0)->set_body(body);
  VerifyReport r = verify(bundle_);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "bad_signature", &a_.id(), 1)) << describe(r);
  EXPECT_TRUE(has_failure(r, "broken_chain", &a_.id(), 2)) << describe(r);
  EXPECT_FALSE(summary_of(r, a_.id()).chain_valid);
  EXPECT_TRUE(summary_of(r, b_.id()).chain_valid);
}

TEST_F(TamperTest, AFlippedByteInTheLastDeltaFails) {
  const int last = chain_a().deltas_size() - 1;
  std::string body = chain_a().deltas(last).body();
  body.back() ^= 0x01;  // the HLC varint's last byte
  chain_a().mutable_deltas(last)->set_body(body);
  VerifyReport r = verify(bundle_);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "bad_signature", &a_.id(), static_cast<std::uint64_t>(last) + 1)) << describe(r);
}

TEST_F(TamperTest, AFlippedSignatureByteFails) {
  std::string sig = chain_a().deltas(1).signature();
  sig[10] ^= 0x40;
  chain_a().mutable_deltas(1)->set_signature(sig);
  VerifyReport r = verify(bundle_);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "broken_chain", &a_.id(), 3)) << describe(r);  // the id covers the signature
}

TEST_F(TamperTest, ADroppedDeltaInTheMiddleFails) {
  auto* deltas = chain_a().mutable_deltas();
  deltas->erase(deltas->begin() + 2);
  VerifyReport r = verify(bundle_);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "sequence_gap", &a_.id(), 3)) << describe(r);
}

TEST_F(TamperTest, AReorderedChainFails) {
  chain_a().mutable_deltas()->SwapElements(1, 2);
  VerifyReport r = verify(bundle_);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "sequence_gap", &a_.id(), 2)) << describe(r);
}

TEST_F(TamperTest, AChainLabelledWithAnAlteredOriginNamesBothIdsInFull) {
  // One bit off at the end of the chain's origin: the 16-character short ids
  // of the label and of the deltas' origin agree, so only full ids tell the
  // auditor which is which.
  std::string origin = chain_a().origin();
  origin.back() ^= 0x01;
  chain_a().set_origin(origin);
  const NodeId altered = *NodeId::from_raw(origin);
  VerifyReport r = verify(bundle_);
  EXPECT_EQ(r.verdict, Verdict::fail);
  ASSERT_TRUE(has_failure(r, "malformed_body", &altered, 1)) << describe(r);
  for (const auto& f : r.failures)
    if (f.reason == "malformed_body") {
      EXPECT_NE(f.detail.find(altered.hex()), std::string::npos) << f.detail;
      EXPECT_NE(f.detail.find(a_.id().hex()), std::string::npos) << f.detail;
    }
}

TEST_F(TamperTest, DeltasFromAnOriginNotOnTheRosterFail) {
  testkit::Author outsider{77};
  auto* chain = bundle_.add_chains();
  chain->set_origin(outsider.id().raw());
  *chain->add_deltas() = outsider.emit({}).signed_delta;
  VerifyReport r = verify(bundle_);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "unknown_origin", &outsider.id())) << describe(r);
  EXPECT_FALSE(summary_of(r, outsider.id()).on_roster);
}

TEST_F(TamperTest, AForgedMemberCardFails) {
  // Rename c in its card without its key: the self-signature breaks, so c is
  // no longer on the roster either.
  for (auto& card : *bundle_.mutable_roster()) {
    v1::MemberCardBody body;
    ASSERT_TRUE(body.ParseFromString(card.body()));
    if (body.node_id() != c_.id().raw()) continue;
    body.set_name("Evil Corp");
    card.set_body(body.SerializeAsString());
  }
  VerifyReport r = verify(bundle_);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "bad_signature", &c_.id())) << describe(r);
  EXPECT_TRUE(has_failure(r, "unknown_origin", &c_.id())) << describe(r);
}

TEST_F(TamperTest, ACardSignedByAnotherKeyFails) {
  testkit::Author thief{78};
  v1::MemberCard card = make_member_card(thief.key(), testkit::test_federation(), "Lapland VET", "FI", v1::SCHOOL);
  v1::MemberCardBody body;
  ASSERT_TRUE(body.ParseFromString(card.body()));
  body.set_node_id(a_.id().raw());  // claims a's id, signed by the thief
  card.set_body(body.SerializeAsString());
  card.set_signature(thief.key().sign(SigningDomain::member_card, card.body()).raw());
  *bundle_.add_roster() = card;
  VerifyReport r = verify(bundle_);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "bad_signature", &a_.id())) << describe(r);
}

TEST_F(TamperTest, AnotherFederationFails) {
  FederationId other = testkit::test_federation();
  other.bytes[0] ^= 0xff;
  bundle_.set_federation(other.raw());
  VerifyReport r = verify(bundle_);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "wrong_federation", &a_.id(), 1)) << describe(r);
  EXPECT_EQ(r.federation, other);
}

TEST_F(TamperTest, AChainSignedForAnotherFederationFails) {
  FederationId other = testkit::test_federation();
  other.bytes[3] ^= 0x11;
  testkit::Author c_elsewhere{3, other};
  auto* chain = chain_of(bundle_, c_.id());
  chain->clear_deltas();
  *chain->add_deltas() = c_elsewhere.emit({}).signed_delta;
  VerifyReport r = verify(bundle_);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "wrong_federation", &c_.id(), 1)) << describe(r);
}

TEST_F(TamperTest, AConfirmationByTheWrongPartyIsRejectedAndReported) {
  // c (not the host) signs a host confirmation and publishes it: authentic,
  // refused by the merge, shown to the auditor, no effect on the record.
  auto state = store_->record(mob_);
  DeltaId agreed = DeltaId::from_raw((*state)->mobility().agreed_delta()).value();
  VerifiedDelta d =
      emit(c_, {ops::confirm(mob_, org_b_.to_proto(), make_confirmation(c_.key(), mob_, v1::PARTY_HOST, agreed))});
  VerifyReport r = verify(export_all());
  EXPECT_EQ(r.verdict, Verdict::pass_with_warnings) << describe(r);
  EXPECT_TRUE(r.failures.empty());
  ASSERT_EQ(r.rejected.size(), 1u) << describe(r);
  EXPECT_EQ(r.rejected[0].rule, "not_authorised");
  EXPECT_EQ(r.rejected[0].origin, c_.id());
  EXPECT_EQ(r.rejected[0].seq, d.seq.value);
  EXPECT_EQ(summary_of(r, c_.id()).rejected_operations, 1u);
  EXPECT_EQ(summary_of(r, c_.id()).confirmations_valid, 0u);
  EXPECT_EQ(r.records.at(mob_).mobility().confirmations_size(), 2);
  EXPECT_NE(verify_report_text(r).find("REJECTED OPERATIONS (1"), std::string::npos);
}

TEST_F(TamperTest, ChangingAnotherMembersPlacementIsRejectedAndReported) {
  RecordKey placement = a_.next_key(v1::PLACEMENT);
  v1::Placement p;
  *p.mutable_host_organisation() = org_a_.to_proto();
  p.set_trade("welding");
  p.set_status(v1::PLACEMENT_OPEN);
  emit(a_, ops::create_placement(placement, p));
  v1::Placement hijack;
  hijack.set_status(v1::PLACEMENT_WITHDRAWN);
  VerifiedDelta d = emit(b_, {ops::write_placement(placement, hijack, {16})});
  VerifyReport r = verify(export_all());
  EXPECT_EQ(r.verdict, Verdict::pass_with_warnings) << describe(r);
  ASSERT_EQ(r.rejected.size(), 1u);
  EXPECT_EQ(r.rejected[0].rule, "not_authorised");
  EXPECT_EQ(r.rejected[0].origin, b_.id());
  EXPECT_EQ(r.rejected[0].seq, d.seq.value);
  EXPECT_NE(r.rejected[0].record.find("placement"), std::string::npos);
  EXPECT_EQ(r.records.at(placement).placement().status(), v1::PLACEMENT_OPEN);
  EXPECT_EQ(summary_of(r, b_.id()).rejected_operations, 1u);
  EXPECT_NE(verify_report_json(r).find("\"rule\": \"not_authorised\""), std::string::npos);
}

}  // namespace
}  // namespace conect::audit::testing
