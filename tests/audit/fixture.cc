#include "fixture.h"

#include <sstream>

#include "conect/crdt/identity.h"

namespace conect::audit::testing {

v1::MemberCard make_member_card(const KeyPair& key, const FederationId& fed, const std::string& name,
                                const std::string& country, v1::MemberRole role) {
  v1::MemberCardBody body;
  body.set_federation(fed.raw());
  body.set_node_id(key.public_key().raw());
  body.set_name(name);
  body.set_country(country);
  body.set_role(role);
  body.set_issued_ms(1'700'000'000'000);
  v1::MemberCard card;
  body.SerializeToString(card.mutable_body());
  card.set_signature(key.sign(SigningDomain::member_card, card.body()).raw());
  return card;
}

std::int32_t days(int year, unsigned month, unsigned day) {
  // Hinnant's days_from_civil.
  const int y = year - (month <= 2 ? 1 : 0);
  const int era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int>(doe) - 719468;
}

void AuditTest::SetUp() {
  ASSERT_TRUE(crypto_init());
  store_ = storage::testing::open_store(dir_ / "store");
  ASSERT_TRUE(store_);
  const FederationId fed = testkit::test_federation();
  ASSERT_TRUE(store_->initialise(fed, a_.id()).ok());
  ASSERT_TRUE(store_->put_member(a_.id(), make_member_card(a_.key(), fed, "Lapland VET", "FI", v1::SCHOOL)).ok());
  ASSERT_TRUE(
      store_->put_member(b_.id(), make_member_card(b_.key(), fed, "Norrbotten Gymnasium", "SE", v1::SCHOOL)).ok());
  ASSERT_TRUE(store_->put_member(c_.id(), make_member_card(c_.key(), fed, "Finnmark Fisk AS", "NO", v1::COMPANY)).ok());
  org_a_ = add_organisation(a_, "FI", "Lapland VET");
  org_b_ = add_organisation(b_, "SE", "Norrbotten Gymnasium");
  org_c_ = add_organisation(c_, "NO", "Finnmark Fisk AS");
}

VerifiedDelta AuditTest::emit(testkit::Author& who, std::vector<v1::Operation> ops, std::vector<v1::DeltaRef> deps) {
  VerifiedDelta d = who.emit(std::move(ops), std::move(deps));
  auto out = store_->apply({d});
  EXPECT_TRUE(out.ok()) << out.error().message();
  if (out.ok()) {
    EXPECT_EQ(out->applied.size(), 1u) << "delta " << d.seq.value << " not stored";
  }
  return d;
}

RecordKey AuditTest::add_organisation(testkit::Author& who, const std::string& country, const std::string& name) {
  RecordKey key = who.next_key(v1::ORGANISATION);
  v1::Organisation o;
  auto* n = o.add_names();
  n->set_lang("en");
  n->set_text(name);
  o.set_type(v1::VET_SCHOOL);
  o.set_country(country);
  o.set_speaker(who.id().raw());
  emit(who, ops::create_organisation(key, o));
  return key;
}

RecordKey AuditTest::add_mobility(testkit::Author& who, const MobilitySpec& spec) {
  RecordKey key = who.next_key(v1::MOBILITY);
  v1::MobilityFixed fixed;
  *fixed.mutable_sending_organisation() = spec.from.to_proto();
  *fixed.mutable_receiving_organisation() = spec.to.to_proto();
  fixed.mutable_participant()->set_pseudonym(spec.pseudonym);
  fixed.set_type(spec.type);
  fixed.set_category(spec.category);
  v1::MobilitySending sending;
  if (spec.planned_start) {
    sending.mutable_planned_start()->set_days(spec.planned_start);
    sending.mutable_planned_end()->set_days(spec.planned_start + 30);
  }
  sending.set_status(v1::MOBILITY_NOMINATED);
  emit(who, ops::create_mobility(key, fixed, &sending));
  return key;
}

void AuditTest::set_status(testkit::Author& who, const RecordKey& mobility, v1::MobilityStatus status) {
  v1::MobilitySending s;
  s.set_status(status);
  emit(who, {ops::write_mobility_sending(mobility, s, {8})});
}

void AuditTest::confirm_both(const RecordKey& mobility, testkit::Author& sender, const RecordKey& sending_org,
                             testkit::Author& host, const RecordKey& receiving_org) {
  auto state = store_->record(mobility);
  ASSERT_TRUE(state.ok() && state->has_value());
  DeltaId agreed = DeltaId::from_raw((*state)->mobility().agreed_delta()).value();
  emit(sender, {ops::confirm(mobility, sending_org.to_proto(),
                             make_confirmation(sender.key(), mobility, v1::PARTY_SENDING, agreed))});
  emit(host, {ops::confirm(mobility, receiving_org.to_proto(),
                           make_confirmation(host.key(), mobility, v1::PARTY_HOST, agreed))});
}

std::string AuditTest::export_all() {
  auto bytes = export_bundle(*store_, Selection{}, a_.key(), 1'760'000'000'000);
  EXPECT_TRUE(bytes.ok()) << bytes.error().message();
  return bytes.ok() ? *bytes : std::string();
}

void AuditTest::reseal(v1::AuditBundle& bundle, const KeyPair* by) {
  const KeyPair& key = by ? *by : a_.key();
  v1::AuditHeader h = header_of(bundle);
  h.set_exported_by(key.public_key().raw());
  h.set_content_digest(content_digest(bundle).raw());
  bundle.set_header(h.SerializeAsString());
  bundle.set_header_signature(key.sign(SigningDomain::audit_header, bundle.header()).raw());
}

VerifyReport AuditTest::verify(const std::string& bytes) {
  auto r = verify_bundle(std::string_view(bytes));
  EXPECT_TRUE(r.ok()) << r.error().message();
  return r.ok() ? std::move(*r) : VerifyReport{};
}

v1::AuditBundle AuditTest::decode(const std::string& bytes) {
  auto b = decode_bundle(bytes);
  EXPECT_TRUE(b.ok()) << b.error().message();
  return b.ok() ? *b : v1::AuditBundle{};
}

v1::AuditChain* AuditTest::chain_of(v1::AuditBundle& bundle, const NodeId& origin) {
  for (auto& c : *bundle.mutable_chains())
    if (c.origin() == origin.raw()) return &c;
  ADD_FAILURE() << "no chain of " << origin.hex();
  return bundle.add_chains();
}

bool has_failure(const VerifyReport& r, const std::string& reason, const NodeId* origin, std::uint64_t seq) {
  for (const auto& f : r.failures)
    if (f.reason == reason && (!origin || (f.origin && *f.origin == *origin)) && (seq == 0 || f.seq == seq))
      return true;
  return false;
}

bool has_warning(const VerifyReport& r, const std::string& reason) {
  for (const auto& f : r.warnings)
    if (f.reason == reason) return true;
  return false;
}

std::string describe(const VerifyReport& r) { return verify_report_text(r); }

v1::AuditHeader header_of(const v1::AuditBundle& bundle) {
  v1::AuditHeader h;
  EXPECT_TRUE(h.ParseFromString(bundle.header()));
  return h;
}

const InstitutionSummary& summary_of(const VerifyReport& r, const NodeId& id) {
  for (const auto& s : r.institutions)
    if (s.node_id == id) return s;
  static const InstitutionSummary none;
  ADD_FAILURE() << "no summary of " << id.hex();
  return none;
}

}  // namespace conect::audit::testing
