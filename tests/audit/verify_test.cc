// A bundle exported from a real store verifies; its summary counts what was
// written; undecodable bytes are clear errors; selections stay checkable.
#include <set>

#include "conect/crdt/membership.h"
#include "conect/crdt/merge.h"
#include "fixture.h"

namespace conect::audit::testing {
namespace {

class VerifyTest : public AuditTest {
 protected:
  void SetUp() override {
    AuditTest::SetUp();
    m1_ = add_mobility(a_, {org_a_, org_b_, v1::IVET_LEARNER, v1::LEARNER_OTJ_COMPANY, days(2026, 3, 10), "P-1"});
    confirm_both(m1_, a_, org_a_, b_, org_b_);
    m2_ = add_mobility(b_, {org_b_, org_c_, v1::TEACHER, v1::JOB_SHADOWING, days(2026, 9, 1), "P-2"});
    m3_ = add_mobility(c_, {org_c_, org_a_, v1::APPRENTICE, v1::LEARNER_OTJ_COMPANY, days(2027, 1, 5), "P-3"});
  }
  RecordKey m1_, m2_, m3_;
};

TEST_F(VerifyTest, AnUntouchedExportPasses) {
  VerifyReport r = verify(export_all());
  EXPECT_EQ(r.verdict, Verdict::pass) << describe(r);
  EXPECT_TRUE(r.failures.empty());
  EXPECT_TRUE(r.warnings.empty());
  EXPECT_TRUE(r.rejected.empty());
  EXPECT_EQ(r.federation, testkit::test_federation());
  EXPECT_EQ(r.deltas, a_.seq().value + b_.seq().value + c_.seq().value);
  ASSERT_EQ(r.institutions.size(), 3u);
  const auto& sa = summary_of(r, a_.id());
  EXPECT_EQ(sa.name, "Lapland VET");
  EXPECT_EQ(sa.country, "FI");
  EXPECT_EQ(sa.role, "school");
  EXPECT_TRUE(sa.on_roster && sa.chain_valid);
  EXPECT_EQ(sa.deltas, a_.seq().value);
  EXPECT_EQ(sa.records, 2u);  // organisation + mobility
  EXPECT_EQ(sa.mobilities_sent, 1u);
  EXPECT_EQ(sa.mobilities_received, 1u);
  EXPECT_EQ(sa.confirmations_valid, 1u);
  EXPECT_EQ(summary_of(r, b_.id()).confirmations_valid, 1u);
  EXPECT_EQ(summary_of(r, c_.id()).confirmations_valid, 0u);
  EXPECT_EQ(summary_of(r, c_.id()).role, "company");
  EXPECT_NE(verify_report_text(r).find("verdict: PASS"), std::string::npos);
  EXPECT_NE(verify_report_json(r).find("\"verdict\": \"PASS\""), std::string::npos);
}

TEST_F(VerifyTest, VerifiedRecordsEqualTheStoresRecordsByteForByte) {
  VerifyReport r = verify(export_all());
  auto counts = store_->counts();
  ASSERT_TRUE(counts.ok());
  std::uint64_t total = 0;
  for (const auto& [t, n] : *counts) total += n;
  EXPECT_EQ(r.records.size(), total);
  for (const auto& [key, state] : r.records) {
    auto stored = store_->record(key);
    ASSERT_TRUE(stored.ok() && stored->has_value()) << key.text();
    EXPECT_EQ(serialize_state(state), serialize_state(**stored)) << key.text();
  }
}

TEST_F(VerifyTest, AChangeAfterConfirmingShowsAsChangedSinceConfirmed) {
  v1::MobilitySending s;
  s.mutable_planned_start()->set_days(days(2026, 4, 1));
  emit(a_, {ops::write_mobility_sending(m1_, s, {3})});
  VerifyReport r = verify(export_all());
  EXPECT_EQ(r.verdict, Verdict::pass_with_warnings) << describe(r);
  EXPECT_TRUE(r.failures.empty());
  EXPECT_TRUE(has_warning(r, "changed_since_confirmed"));
  EXPECT_EQ(summary_of(r, a_.id()).confirmations_changed_since, 1u);
  EXPECT_EQ(summary_of(r, a_.id()).confirmations_valid, 0u);
  EXPECT_EQ(summary_of(r, b_.id()).confirmations_changed_since, 1u);
}

TEST_F(VerifyTest, UnreadableBytesAreClearErrorsNotCrashes) {
  const std::string good = export_all();
  struct Case {
    std::string bytes;
    Errc code;
    std::string says;
  };
  std::string wrong_version = good;
  wrong_version[15] = 9;
  std::string bad_payload = good;
  for (std::size_t i = kHeaderSize; i < bad_payload.size(); i += 3) bad_payload[i] = '\xff';
  const Case cases[] = {
      {"", Errc::malformed_body, "not a conect audit bundle"},
      {"PK\x03\x04 a zip file", Errc::malformed_body, "not a conect audit bundle"},
      {good.substr(0, 14), Errc::malformed_body, "truncated inside its"},
      {good.substr(0, good.size() - 1), Errc::malformed_body, "truncated"},
      {good + "x", Errc::malformed_body, "unexpected bytes"},
      {wrong_version, Errc::schema_mismatch, "format version 9"},
      {bad_payload, Errc::malformed_body, "does not parse"},
  };
  for (const auto& c : cases) {
    auto r = verify_bundle(std::string_view(c.bytes));
    ASSERT_FALSE(r.ok()) << c.says;
    EXPECT_TRUE(r.error().is(c.code)) << r.error().message();
    EXPECT_NE(r.error().detail.find(c.says), std::string::npos) << r.error().detail;
  }
}

TEST_F(VerifyTest, ARecordSelectionHoldsWholeChainPrefixesAndVerifies) {
  // Later deltas that the selection does not need stay out.
  add_mobility(a_, {org_a_, org_c_, v1::EXPERT, v1::EXPERT_MEETING, days(2028, 1, 1), "P-9"});
  Selection sel;
  sel.records.push_back(m2_);
  auto bytes = export_bundle(*store_, sel, a_.key(), 1);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message();
  v1::AuditBundle b = decode(*bytes);
  EXPECT_FALSE(header_of(b).selection().everything());
  EXPECT_NE(header_of(b).selection().description().find(m2_.text()), std::string::npos);
  // m2 needs b's chain up to its creation and c's organisation (seq 1); not a's.
  std::set<std::string> origins;
  for (const auto& c : b.chains()) origins.insert(c.origin());
  EXPECT_EQ(origins, (std::set<std::string>{b_.id().raw(), c_.id().raw()}));
  EXPECT_EQ(chain_of(b, c_.id())->deltas_size(), 1);
  EXPECT_LT(chain_of(b, b_.id())->deltas_size(), static_cast<int>(b_.seq().value) + 1);
  VerifyReport r = verify(*bytes);
  EXPECT_EQ(r.verdict, Verdict::pass) << describe(r);
  ASSERT_TRUE(r.records.contains(m2_));
  auto stored = store_->record(m2_);
  EXPECT_EQ(serialize_state(r.records.at(m2_)), serialize_state(**stored));
}

TEST_F(VerifyTest, AnOrganisationSelectionCarriesItsMobilitiesAndTheirDependencies) {
  Selection sel;
  sel.organisation = org_c_;
  auto bytes = export_bundle(*store_, sel, a_.key(), 1);
  ASSERT_TRUE(bytes.ok()) << bytes.error().message();
  VerifyReport r = verify(*bytes);
  EXPECT_EQ(r.verdict, Verdict::pass) << describe(r);
  EXPECT_TRUE(r.records.contains(m2_));
  EXPECT_TRUE(r.records.contains(m3_));
  EXPECT_TRUE(r.records.contains(org_a_));  // m3's receiving organisation
  auto report = mobility_report(r, {});
  ASSERT_TRUE(report.ok());
  EXPECT_EQ(report->total, 2u);  // m2, m3: not m1, though a's chain prefix may hold it
}

TEST_F(VerifyTest, SelectingAMissingRecordIsNotFound) {
  Selection sel;
  sel.records.push_back(RecordKey::mint(v1::MOBILITY, a_.id(), Seq{999}, 0));
  auto bytes = export_bundle(*store_, sel, a_.key(), 1);
  ASSERT_FALSE(bytes.ok());
  EXPECT_TRUE(bytes.error().is(Errc::not_found));
  auto found = find_record(*store_, m1_.text());
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(*found, m1_);
  EXPECT_TRUE(find_record(*store_, "nonsense").error().is(Errc::malformed_body));
}

TEST_F(VerifyTest, DependenciesOfOtherOriginsComeAlong) {
  // c's delta names a's mobility creation as a dependency: a selection of
  // c's organisation must then carry a's chain that far.
  auto hist = store_->history(m1_);
  ASSERT_TRUE(hist.ok());
  v1::DeltaRef dep;
  dep.set_origin(a_.id().raw());
  dep.set_seq(hist->deltas.front().seq.value);
  dep.set_id(hist->deltas.front().id.raw());
  v1::Organisation o;
  o.set_city("Alta");
  emit(c_, {ops::write_organisation(org_c_, o, {5})}, {dep});
  Selection sel;
  sel.records.push_back(org_c_);
  auto bytes = export_bundle(*store_, sel, a_.key(), 1);
  ASSERT_TRUE(bytes.ok());
  v1::AuditBundle b = decode(*bytes);
  EXPECT_GE(chain_of(b, a_.id())->deltas_size(), static_cast<int>(dep.seq()));
  EXPECT_EQ(verify(b).verdict, Verdict::pass);
}

TEST_F(VerifyTest, ValidEquivocationEvidenceFreezesTheOriginAndWarns) {
  v1::AuditBundle b = decode(export_all());
  // c signs a second, different delta with its current head's seq.
  testkit::Author fork{3};
  std::vector<VerifiedDelta> replay;
  for (std::uint64_t s = 1; s < c_.seq().value; ++s) replay.push_back(fork.emit({}));
  VerifiedDelta other = fork.emit({});
  auto* ev = b.add_equivocations();
  *ev->mutable_first() = chain_of(b, c_.id())->deltas(static_cast<int>(c_.seq().value) - 1);
  *ev->mutable_second() = other.signed_delta;
  reseal(b);
  VerifyReport r = verify(b);
  EXPECT_EQ(r.verdict, Verdict::pass_with_warnings) << describe(r);
  EXPECT_TRUE(has_warning(r, "equivocation"));
  EXPECT_EQ(r.equivocations, 1u);
  ASSERT_TRUE(summary_of(r, c_.id()).frozen_at.has_value());
  EXPECT_EQ(*summary_of(r, c_.id()).frozen_at, c_.seq().value - 1);
  EXPECT_FALSE(r.records.contains(m3_));  // created at c's last delta, past the fork
}

// Issue 14 item 1: a delta of the proof whose own signature does not verify
// (a bulk import signs only the last delta of a batch) is authentic by its
// cover: the deltas after it, up to one whose signature holds.
TEST_F(VerifyTest, EquivocationEvidenceProvenByItsCoverPasses) {
  v1::AuditBundle b = decode(export_all());
  testkit::Author fork{3};
  for (std::uint64_t s = 1; s < c_.seq().value; ++s) fork.emit({});
  VerifiedDelta other = fork.emit({});
  other.signed_delta.set_signature(std::string(64, '\0'));  // unsigned, as in a bulk import
  other.id = compute_delta_id(other.signed_delta.body(), other.signed_delta.signature());
  VerifiedDelta next = build_delta(fork.key(), testkit::test_federation(), Seq{other.seq.value + 1}, other.id,
                                   Hlc::make(9'000'000, 0), DeltaDraft{});
  auto* ev = b.add_equivocations();
  *ev->mutable_first() = chain_of(b, c_.id())->deltas(static_cast<int>(c_.seq().value) - 1);
  *ev->mutable_second() = other.signed_delta;
  reseal(b);
  EXPECT_TRUE(has_failure(verify(b), "bad_signature")) << "no cover: the unsigned delta proves nothing";
  *ev->add_second_cover() = next.signed_delta;
  reseal(b);
  VerifyReport r = verify(b);
  EXPECT_EQ(r.verdict, Verdict::pass_with_warnings) << describe(r);
  EXPECT_EQ(r.equivocations, 1u);
  // A cover with no signature that holds proves nothing either.
  ev->mutable_second_cover(0)->set_signature(std::string(64, '\1'));
  reseal(b);
  EXPECT_TRUE(has_failure(verify(b), "bad_signature"));
}

// Evidence against a member that rotated its key is checked under the key
// it signed with at that seq (its id until the rotation): both verifiers
// called an honest node's evidence "not authentic", verdict FAIL.
TEST_F(VerifyTest, EquivocationEvidenceAgainstARotatedMemberIsCheckedUnderItsKeyThen) {
  const FederationId fed = testkit::test_federation();
  // The replicated roster: a founds it and admits c, which then rotates.
  VerifiedDelta founded =
      emit(a_, {membership_ops::found(make_member_card(a_.key(), fed, "Lapland VET", "FI", v1::SCHOOL), 1),
                membership_ops::admit(make_member_card(c_.key(), fed, "Finnmark Fisk AS", "NO", v1::COMPANY))});
  v1::DeltaRef dep;
  dep.set_origin(a_.id().raw());
  dep.set_seq(founded.seq.value);
  dep.set_id(founded.id.raw());
  const KeyPair rotated = testkit::test_key(30);
  emit(c_, {membership_ops::rotate(c_.id(), rotated)}, {dep});
  c_.sign_with(rotated);
  VerifiedDelta other = c_.emit_fork({});  // the same seq as the next, other content
  emit(c_, {});
  v1::AuditBundle b = decode(export_all());
  ASSERT_EQ(verify(b).verdict, Verdict::pass) << describe(verify(b));
  auto* ev = b.add_equivocations();
  *ev->mutable_first() = chain_of(b, c_.id())->deltas(static_cast<int>(c_.seq().value) - 1);
  *ev->mutable_second() = other.signed_delta;
  reseal(b);
  VerifyReport r = verify(b);
  EXPECT_EQ(r.verdict, Verdict::pass_with_warnings) << describe(r);
  EXPECT_EQ(r.equivocations, 1u);
  EXPECT_TRUE(has_warning(r, "equivocation"));
}

TEST_F(VerifyTest, BogusEquivocationEvidenceFails) {
  v1::AuditBundle b = decode(export_all());
  auto* ev = b.add_equivocations();
  *ev->mutable_first() = chain_of(b, c_.id())->deltas(0);
  *ev->mutable_second() = chain_of(b, c_.id())->deltas(1);  // different seqs: no fork
  VerifyReport r = verify(b);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "invalid_argument")) << describe(r);
}

// A name as long as the column (Murmansk's school in Russian) and a chain
// without a card ("NO CARD") keep a space before the next column: they ran
// into the node id and the delta count ("колле~ba8cff74", "NO CAR~0").
TEST_F(VerifyTest, TheTableKeepsItsColumnsApartForLongValues) {
  VerifyReport r = verify(export_all());
  InstitutionSummary* b = nullptr;
  InstitutionSummary* c = nullptr;
  for (auto& s : r.institutions) {
    if (s.node_id == b_.id()) b = &s;
    if (s.node_id == c_.id()) c = &s;
  }
  ASSERT_TRUE(b && c && b != c);
  b->name = "Мурманский строительный колледж";
  c->name.clear();
  c->on_roster = false;
  c->deltas = 7;
  const std::string text = verify_report_text(r);
  EXPECT_NE(text.find("Мурманский строительный колл~ " + b_.id().hex().substr(0, 16)), std::string::npos) << text;
  EXPECT_NE(text.find("NO CARD 7 "), std::string::npos) << text;
  EXPECT_NE(text.find("Lapland VET" + std::string(19, ' ') + a_.id().hex().substr(0, 16)), std::string::npos) << text;
}

}  // namespace
}  // namespace conect::audit::testing
