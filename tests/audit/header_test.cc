// Format 2's signed header and content digest: an export says who made it,
// when and of what, under the exporter's signature; the digest is the same
// for every converged node's export of the same selection; altering either
// fails; format 1 bundles (0.2.0) still verify.
#include <sys/stat.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "conect/crdt/delta.h"
#include "conect/crdt/membership.h"
#include "fixture.h"

namespace conect::audit::testing {
namespace {

class HeaderTest : public AuditTest {
 protected:
  void SetUp() override {
    AuditTest::SetUp();
    mob_ = add_mobility(a_, {org_a_, org_b_, v1::IVET_LEARNER, v1::LEARNER_OTJ_COMPANY, days(2026, 3, 10), "P-1"});
    confirm_both(mob_, a_, org_a_, b_, org_b_);
    add_mobility(b_, {org_b_, org_c_, v1::TEACHER, v1::JOB_SHADOWING, days(2026, 9, 1), "P-2"});
  }

  // Another node's store that received the same deltas in another order and
  // holds re-issued member cards (another issue time): converged with store_.
  std::unique_ptr<storage::Store> converged_copy() {
    auto other = storage::testing::open_store(dir_ / "other");
    const FederationId fed = testkit::test_federation();
    EXPECT_TRUE(other->initialise(fed, b_.id()).ok());
    for (auto* who : {&c_, &b_, &a_}) {
      auto card = make_member_card(who->key(), fed, "Re-issued " + who->id().hex().substr(0, 4), "FI", v1::SCHOOL);
      EXPECT_TRUE(other->put_member(who->id(), card).ok());
    }
    auto vv = store_->version_vector();
    std::vector<VerifiedDelta> all;
    for (auto it = vv->rbegin(); it != vv->rend(); ++it) {
      auto bytes = store_->deltas_from(it->first, Seq{1}, 1000, 1 << 24);
      for (const auto& b : *bytes) all.push_back(decode_delta(fed, std::string_view(b)).value());
    }
    // Origins in reverse order; apply() holds back what waits on another origin.
    for (auto& d : all) EXPECT_TRUE(other->apply({d}).ok());
    EXPECT_EQ(other->digest().value(), store_->digest().value());
    return other;
  }

  // The same bundle as 0.2.0 wrote it: format 1, export fields unsigned.
  static v1::AuditBundle as_format_1(v1::AuditBundle b) {
    v1::AuditHeader h = header_of(b);
    b.set_format_version(1);
    *b.mutable_selection() = h.selection();
    b.set_exported_at_ms(h.exported_at_ms());
    b.set_exported_by(h.exported_by());
    b.clear_header();
    b.clear_header_signature();
    return b;
  }

  RecordKey mob_;
};

TEST_F(HeaderTest, AnExportIsFormat2WithAHeaderSignedByTheExporter) {
  const std::string bytes = export_all();
  EXPECT_EQ(bytes[15], 2);
  v1::AuditBundle b = decode(bytes);
  EXPECT_EQ(b.format_version(), 2u);
  EXPECT_FALSE(b.has_selection());  // fields 6-8 moved into the header
  EXPECT_TRUE(b.exported_by().empty());
  v1::AuditHeader h = header_of(b);
  EXPECT_EQ(h.exported_by(), a_.id().raw());
  EXPECT_EQ(h.exported_at_ms(), 1'760'000'000'000u);
  EXPECT_EQ(h.content_digest(), content_digest(b).raw());
  VerifyReport r = verify(bytes);
  EXPECT_EQ(r.verdict, Verdict::pass) << describe(r);
  EXPECT_TRUE(r.header_signed);
  EXPECT_EQ(r.format_version, 2u);
  EXPECT_EQ(r.exported_by, a_.id());
  EXPECT_EQ(r.selection.description(), "everything");
  EXPECT_EQ(r.content_digest, content_digest(b));
  const std::string text = verify_report_text(r);
  EXPECT_NE(text.find("signed by the exporter"), std::string::npos) << text;
  EXPECT_NE(text.find("content digest: " + r.content_digest.hex()), std::string::npos) << text;
  EXPECT_NE(verify_report_json(r).find("\"content_digest\": \"" + r.content_digest.hex()), std::string::npos);
}

TEST_F(HeaderTest, ConvergedNodesExportTheSameDigestWhoeverExportsAndWhen) {
  auto other = converged_copy();
  auto mine = export_bundle(*store_, Selection{}, a_.key(), 1);
  auto theirs = export_bundle(*other, Selection{}, b_.key(), 2);
  ASSERT_TRUE(mine.ok() && theirs.ok());
  EXPECT_NE(*mine, *theirs);  // other exporter, time and cards
  VerifyReport rm = verify(*mine), rt = verify(*theirs);
  EXPECT_EQ(rm.verdict, Verdict::pass) << describe(rm);
  EXPECT_EQ(rt.verdict, Verdict::pass) << describe(rt);
  EXPECT_EQ(rm.content_digest, rt.content_digest);
  EXPECT_EQ(rt.exported_by, b_.id());
  // The same for a selection: c's organisation and its mobility (b's chain
  // and c's, not a's).
  Selection sel;
  sel.organisation = org_c_;
  auto a_sel = export_bundle(*store_, sel, a_.key(), 3);
  auto b_sel = export_bundle(*other, sel, b_.key(), 4);
  ASSERT_TRUE(a_sel.ok() && b_sel.ok());
  EXPECT_EQ(verify(*a_sel).content_digest, verify(*b_sel).content_digest);
  EXPECT_NE(verify(*a_sel).content_digest, rm.content_digest);
  // One more delta anywhere is another digest.
  add_organisation(c_, "NO", "Vardø Marine AS");
  EXPECT_NE(verify(export_all()).content_digest, rm.content_digest);
}

TEST_F(HeaderTest, AnAlteredHeaderFailsTheExportersSignature) {
  v1::AuditBundle b = decode(export_all());
  for (auto change : {+[](v1::AuditHeader& h) { h.set_exported_at_ms(h.exported_at_ms() + 1); },
                      +[](v1::AuditHeader& h) { h.mutable_selection()->set_description("organisation X only"); }}) {
    v1::AuditBundle altered = b;
    v1::AuditHeader h = header_of(altered);
    change(h);
    altered.set_header(h.SerializeAsString());
    VerifyReport r = verify(altered);
    EXPECT_EQ(r.verdict, Verdict::fail);
    EXPECT_TRUE(has_failure(r, "bad_signature", &a_.id())) << describe(r);
    EXPECT_FALSE(r.header_signed);
    EXPECT_NE(verify_report_text(r).find("signature does NOT hold"), std::string::npos);
  }
  // "Exported by b" with a's signature: b's key does not verify it.
  v1::AuditHeader h = header_of(b);
  h.set_exported_by(b_.id().raw());
  b.set_header(h.SerializeAsString());
  EXPECT_TRUE(has_failure(verify(b), "bad_signature", &b_.id()));
}

TEST_F(HeaderTest, ADroppedTailOfAChainFailsOnlyThroughTheDigest) {
  // Without the last deltas a chain is still a valid prefix: format 1 cannot
  // tell (that is the gap this header closes), format 2 can.
  v1::AuditBundle b = decode(export_all());
  auto* deltas = chain_of(b, a_.id())->mutable_deltas();
  deltas->erase(deltas->end() - 1);  // a's confirmation
  VerifyReport r = verify(b);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "content_digest_mismatch", &a_.id())) << describe(r);
  EXPECT_EQ(r.failures.size(), 1u) << describe(r);
  // The header's signature holds: it is the content that changed.
  EXPECT_NE(verify_report_text(r).find("its signature holds, but the content is not what the exporter signed"),
            std::string::npos)
      << verify_report_text(r);
  EXPECT_NE(verify(as_format_1(b)).verdict, Verdict::fail);  // the protection off: unnoticed
  // Added evidence is caught the same way.
  v1::AuditBundle more = decode(export_all());
  auto* ev = more.add_equivocations();
  *ev->mutable_first() = chain_of(more, c_.id())->deltas(0);
  *ev->mutable_second() = testkit::Author{3}.emit({}).signed_delta;
  EXPECT_TRUE(has_failure(verify(more), "content_digest_mismatch"));
}

TEST(ContentDigest, MatchesTheTestVectorOfDocsAuditMd) {
  v1::AuditBundle empty;
  empty.set_federation(std::string(16, '\0'));
  EXPECT_EQ(content_digest(empty).hex(), "bb4b419c3ff50a3b3f4a1f75e9daa3b7ddb62ec4316400e0d5633904236b4a34");
}

TEST_F(HeaderTest, TheDigestIgnoresTheOrderOfEvidenceAndChainsAndTheCards) {
  v1::AuditBundle b = decode(export_all());
  const Hash256 before = content_digest(b);
  b.mutable_chains()->SwapElements(0, 2);
  b.mutable_roster()->RemoveLast();
  EXPECT_EQ(content_digest(b), before);
  auto* ev = b.add_equivocations();
  *ev->mutable_first() = chain_of(b, c_.id())->deltas(0);
  *ev->mutable_second() = testkit::Author{3}.emit({}).signed_delta;
  const Hash256 with_evidence = content_digest(b);
  EXPECT_NE(with_evidence, before);
  std::swap(*ev->mutable_first(), *ev->mutable_second());
  EXPECT_EQ(content_digest(b), with_evidence);
}

TEST_F(HeaderTest, AHeaderByAKeyOffTheRosterWarns) {
  v1::AuditBundle b = decode(export_all());
  testkit::Author stranger{99};
  reseal(b, &stranger.key());
  VerifyReport r = verify(b);
  EXPECT_EQ(r.verdict, Verdict::pass_with_warnings) << describe(r);
  EXPECT_TRUE(r.header_signed);
  EXPECT_TRUE(has_warning(r, "exporter_not_on_roster"));
}

TEST_F(HeaderTest, AFormat2BundleWithoutItsHeaderOrWithUnsignedFieldsFails) {
  v1::AuditBundle b = decode(export_all());
  v1::AuditBundle headless = b;
  headless.clear_header();
  EXPECT_TRUE(has_failure(verify(headless), "malformed_body")) << describe(verify(headless));
  // Nor does its summary invent an export time (it printed 1970-01-01).
  const std::string text = verify_report_text(verify(headless));
  EXPECT_NE(text.find("exported at an unknown time"), std::string::npos) << text;
  EXPECT_EQ(text.find("1970"), std::string::npos) << text;
  v1::AuditBundle unsigned_fields = b;
  unsigned_fields.set_exported_by(b_.id().raw());
  EXPECT_TRUE(has_failure(verify(unsigned_fields), "malformed_body"));
  v1::AuditBundle other_federation = b;
  v1::AuditHeader h = header_of(b);
  h.mutable_federation()->back() ^= 1;
  other_federation.set_header(h.SerializeAsString());
  other_federation.set_header_signature(a_.key().sign(SigningDomain::audit_header, other_federation.header()).raw());
  EXPECT_TRUE(has_failure(verify(other_federation), "wrong_federation"));
}

TEST_F(HeaderTest, AFormat1BundleStillVerifiesUnsignedWithTheSameDigest) {
  v1::AuditBundle b = decode(export_all());
  const std::string old = encode_bundle(as_format_1(b));
  EXPECT_EQ(old[15], 1);
  VerifyReport r = verify(old);
  EXPECT_EQ(r.verdict, Verdict::pass) << describe(r);
  EXPECT_EQ(r.format_version, 1u);
  EXPECT_FALSE(r.header_signed);
  EXPECT_EQ(r.exported_by, a_.id());
  EXPECT_EQ(r.selection.description(), "everything");
  EXPECT_EQ(r.content_digest, content_digest(b));
  EXPECT_NE(verify_report_text(r).find("format 1: unsigned"), std::string::npos);
  std::string three = old;
  three[15] = 3;
  EXPECT_TRUE(verify_bundle(std::string_view(three)).error().is(Errc::schema_mismatch));
}

// A format 2 bundle relabelled as format 1 (two bytes) to shed the signed
// header, and with it the check that nothing was cut: refused for what
// gives it away, a header left in it, or operations 0.2.0 never wrote.
TEST_F(HeaderTest, AFormat2BundleRelabelledAsFormat1Fails) {
  v1::AuditBundle cut = decode(export_all());
  auto* deltas = chain_of(cut, a_.id())->mutable_deltas();
  deltas->erase(deltas->end() - 1);
  v1::AuditBundle relabelled = cut;
  relabelled.set_format_version(1);  // the header left in place
  VerifyReport r = verify(relabelled);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "downgraded_format")) << describe(r);

  // With the header gone too, what a later version writes gives it away: a
  // member's Found (the replicated roster, which 0.2.0 did not have).
  emit(a_, {membership_ops::found(
               make_member_card(a_.key(), testkit::test_federation(), "Lapland VET", "FI", v1::SCHOOL), 1)});
  v1::AuditBundle later = as_format_1(decode(export_all()));
  r = verify(later);
  EXPECT_EQ(r.verdict, Verdict::fail);
  EXPECT_TRUE(has_failure(r, "downgraded_format")) << describe(r);
}

TEST_F(HeaderTest, ProgressIsReportedAndCanCancel) {
  std::vector<std::string> phases;
  Progress watch = [&](std::string_view phase, std::uint64_t done, std::uint64_t total) {
    if (phases.empty() || phases.back() != phase) phases.emplace_back(phase);
    EXPECT_LE(done, total);
    return true;
  };
  auto bytes = export_bundle(*store_, Selection{}, a_.key(), 1, watch);
  ASSERT_TRUE(bytes.ok());
  ASSERT_TRUE(verify_bundle(std::string_view(*bytes), watch).ok());
  EXPECT_EQ(phases, (std::vector<std::string>{"export", "check", "fold"}));
  Progress stop = [](std::string_view, std::uint64_t, std::uint64_t) { return false; };
  EXPECT_TRUE(export_bundle(*store_, Selection{}, a_.key(), 1, stop).error().is(Errc::limit_exceeded));
  EXPECT_TRUE(verify_bundle(std::string_view(*bytes), stop).error().is(Errc::limit_exceeded));
}

// The bundle the 0.2.0 binary wrote (tests/fixtures/v0.2.0, format 1) still
// verifies, and today's format-2 export of the 0.2.0 store it came from has
// the same content digest: the digest compares bundles across versions too.
TEST(Format1Fixture, The020BundleVerifiesWithTheDigestOfTodaysExportOfItsStore) {
  ASSERT_TRUE(crypto_init());
  const std::filesystem::path fixtures = CONECT_FIXTURES "/v0.2.0";
  std::ifstream in(fixtures / "audit.bundle", std::ios::binary);
  ASSERT_TRUE(in) << "missing " << (fixtures / "audit.bundle");
  std::stringstream bytes;
  bytes << in.rdbuf();
  auto old = verify_bundle(std::string_view(bytes.str()));
  ASSERT_TRUE(old.ok()) << old.error().message();
  EXPECT_EQ(old->verdict, Verdict::pass) << verify_report_text(*old);
  EXPECT_EQ(old->format_version, 1u);
  EXPECT_FALSE(old->header_signed);
  EXPECT_EQ(old->deltas, 16u);  // expected.json: audit_verify.report.deltas

  // A copy of the store and the key (git keeps no file modes; keys must be 0600).
  storage::testing::TempDir dir;
  std::filesystem::copy(fixtures / "data", dir.path(), std::filesystem::copy_options::recursive);
  ::chmod((dir.path() / "identity.key").c_str(), 0600);
  auto key = KeyPair::load(dir.path() / "identity.key");
  ASSERT_TRUE(key.ok()) << key.error().message();
  storage::StoreOptions o;
  o.map_size = std::uint64_t{1} << 30;
  o.upgrade = true;  // as the daemon's first start does (its schema is 1)
  auto store = storage::Store::open(dir.path() / "store", o);
  ASSERT_TRUE(store.ok()) << store.error().message();
  auto now = export_bundle(**store, Selection{}, *key, 1);
  ASSERT_TRUE(now.ok()) << now.error().message();
  auto today_r = verify_bundle(std::string_view(*now));
  ASSERT_TRUE(today_r.ok());
  const VerifyReport& today = *today_r;
  EXPECT_EQ(today.verdict, Verdict::pass) << verify_report_text(today);
  EXPECT_TRUE(today.header_signed);
  EXPECT_EQ(today.content_digest, old->content_digest);
  EXPECT_EQ(today.exported_by, old->exported_by);
}

}  // namespace
}  // namespace conect::audit::testing
