// Writes the seed corpus of fuzz_audit_bundle: a valid format-2 bundle
// (cards, two chains, a mobility with both confirmations, a rejected
// operation, an equivocation proof, the exporter-signed header), the same
// content as format 1 (0.2.0), and near misses (tampered body, altered
// header, unknown version, truncated). Deterministic keys and clock, so the
// files only change with the format.
#include <google/protobuf/unknown_field_set.h>

#include <cstdio>

#include <fstream>
#include <string>

#include "conect/audit/audit.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/replica.h"
#include "conect/crdt/testkit/author.h"

namespace {

using namespace conect;

void write(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out << bytes;
}

v1::MemberCard card(const testkit::Author& a, const std::string& name, const std::string& country,
                    v1::MemberRole role = v1::SCHOOL) {
  v1::MemberCardBody body;
  body.set_federation(testkit::test_federation().raw());
  body.set_node_id(a.id().raw());
  body.set_name(name);
  body.set_country(country);
  body.set_role(role);
  v1::MemberCard c;
  body.SerializeToString(c.mutable_body());
  c.set_signature(a.key().sign(SigningDomain::member_card, c.body()).raw());
  return c;
}

RecordKey organisation(testkit::Author& a, const std::string& country, std::vector<VerifiedDelta>& log) {
  RecordKey key = a.next_key(v1::ORGANISATION);
  v1::Organisation o;
  o.set_country(country);
  o.set_speaker(a.id().raw());
  log.push_back(a.emit(ops::create_organisation(key, o)));
  return key;
}

// A format 1 bundle (readers take 1 and 2; the rules checked here do not
// depend on the format) of the given members' cards and chains.
v1::AuditBundle bundle_of(const std::vector<std::pair<v1::MemberCard, const std::vector<VerifiedDelta>*>>& members) {
  v1::AuditBundle bundle;
  bundle.set_format_version(1);
  bundle.set_federation(testkit::test_federation().raw());
  for (const auto& [c, log] : members) {
    *bundle.add_roster() = c;
    v1::MemberCardBody body;
    body.ParseFromString(c.body());
    auto* chain = bundle.add_chains();
    chain->set_origin(body.node_id());
    for (const auto& d : *log) *chain->add_deltas() = d.signed_delta;
  }
  bundle.mutable_selection()->set_everything(true);
  bundle.mutable_selection()->set_description("everything");
  return bundle;
}

// Authentic operations the merge must refuse on every node (docs/audit.md,
// step 6): b shows a placement as hosted by a's organisation, files a
// contact under it, names a's contact as its mentor, and names as host a
// record that is no organisation; c, an auditor, authors anyway; and a's
// chain holds an operation of a kind a newer version would know.
std::string hostile_bundle() {
  testkit::Author a{1}, b{2}, c{3};
  std::vector<VerifiedDelta> la, lb, lc;
  RecordKey oa = organisation(a, "FI", la), ob = organisation(b, "SE", lb);
  organisation(c, "NO", lc);
  RecordKey ca = a.next_key(v1::CONTACT);
  v1::Contact contact;
  *contact.mutable_organisation() = oa.to_proto();
  contact.set_display_name("Coordinator, Lapland VET");
  la.push_back(a.emit(ops::create_contact(ca, contact)));
  v1::Operation future;
  future.GetReflection()->MutableUnknownFields(&future)->AddLengthDelimited(40, "a newer operation");
  la.push_back(a.emit({future}));

  v1::Placement p;
  p.set_trade("carpentry");
  *p.mutable_host_organisation() = oa.to_proto();
  lb.push_back(b.emit({ops::write_placement(b.next_key(v1::PLACEMENT), p, {1, 3})}));  // a's organisation
  contact.set_display_name("Coordinator (not really)");
  lb.push_back(b.emit({ops::write_contact(b.next_key(v1::CONTACT), contact, {1, 2})}));  // under a's organisation
  RecordKey own = b.next_key(v1::PLACEMENT);
  *p.mutable_host_organisation() = ob.to_proto();
  lb.push_back(b.emit({ops::write_placement(own, p, {1, 3})}));  // allowed
  v1::Placement mentor;
  *mentor.mutable_mentor_contact() = ca.to_proto();
  lb.push_back(b.emit({ops::write_placement(own, mentor, {15})}));  // a's contact as mentor
  v1::Placement no_host;
  *no_host.mutable_host_organisation() = own.to_proto();
  lb.push_back(b.emit({ops::write_placement(own, no_host, {1})}));  // a placement is no organisation
  p.set_trade("audit");
  *p.mutable_host_organisation() = oa.to_proto();
  lc.push_back(c.emit({ops::write_placement(c.next_key(v1::PLACEMENT), p, {3})}));  // an auditor authors

  return audit::encode_bundle(bundle_of({{card(a, "Lapland VET", "FI"), &la},
                                         {card(b, "Norrbotten Gymnasium", "SE"), &lb},
                                         {card(c, "Barents Audit", "NO", v1::AUDITOR), &lc}}));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  testkit::Author a{1}, b{2};
  std::vector<VerifiedDelta> la, lb;
  RecordKey oa = organisation(a, "FI", la), ob = organisation(b, "SE", lb);
  RecordKey mob = a.next_key(v1::MOBILITY);
  v1::MobilityFixed fixed;
  *fixed.mutable_sending_organisation() = oa.to_proto();
  *fixed.mutable_receiving_organisation() = ob.to_proto();
  fixed.set_type(v1::LEARNER_OTJ_COMPANY);
  fixed.set_category(v1::IVET_LEARNER);
  v1::MobilitySending s;
  s.mutable_planned_start()->set_days(20'500);
  la.push_back(a.emit(ops::create_mobility(mob, fixed, &s)));
  Replica rep;
  for (const auto* log : {&la, &lb})
    for (const auto& d : *log) (void)rep.apply(d);
  DeltaId agreed = DeltaId::from_raw(rep.record(mob)->state.mobility().agreed_delta()).value();
  la.push_back(a.emit({ops::confirm(mob, oa.to_proto(), make_confirmation(a.key(), mob, v1::PARTY_SENDING, agreed))}));
  lb.push_back(b.emit({ops::confirm(mob, ob.to_proto(), make_confirmation(b.key(), mob, v1::PARTY_HOST, agreed))}));
  v1::Organisation hijack;
  hijack.set_city("Elsewhere");
  lb.push_back(b.emit({ops::write_organisation(oa, hijack, {5})}));  // rejected: not b's

  v1::AuditBundle bundle;
  bundle.set_format_version(1);
  bundle.set_federation(testkit::test_federation().raw());
  *bundle.add_roster() = card(a, "Lapland VET", "FI");
  *bundle.add_roster() = card(b, "Norrbotten Gymnasium", "SE");
  for (const auto& [author, log] : {std::pair{&a, &la}, std::pair{&b, &lb}}) {
    auto* chain = bundle.add_chains();
    chain->set_origin(author->id().raw());
    for (const auto& d : *log) *chain->add_deltas() = d.signed_delta;
  }
  v1::AuditSelection everything;
  everything.set_everything(true);
  everything.set_description("everything");
  *bundle.mutable_selection() = everything;
  bundle.set_exported_at_ms(1'760'000'000'000);
  bundle.set_exported_by(a.id().raw());
  write(dir, "format1.bundle", audit::encode_bundle(bundle));
  // Format 2: the export fields move into the header a signs.
  auto sign = [&](v1::AuditBundle unsigned_bundle) {
    unsigned_bundle.set_format_version(2);
    unsigned_bundle.clear_selection();
    unsigned_bundle.clear_exported_at_ms();
    unsigned_bundle.clear_exported_by();
    v1::AuditHeader h;
    h.set_format_version(2);
    h.set_federation(unsigned_bundle.federation());
    h.set_exported_by(a.id().raw());
    h.set_exported_at_ms(1'760'000'000'000);
    *h.mutable_selection() = everything;
    h.set_content_digest(audit::content_digest(unsigned_bundle).raw());
    unsigned_bundle.set_header(h.SerializeAsString());
    unsigned_bundle.set_header_signature(a.key().sign(SigningDomain::audit_header, unsigned_bundle.header()).raw());
    return unsigned_bundle;
  };
  v1::AuditBundle signed_bundle = sign(bundle);
  write(dir, "valid.bundle", audit::encode_bundle(signed_bundle));

  v1::AuditBundle forked = bundle;
  testkit::Author fork{2};
  VerifiedDelta other = fork.emit({});
  auto* ev = forked.add_equivocations();
  *ev->mutable_first() = lb.front().signed_delta;
  *ev->mutable_second() = other.signed_delta;
  write(dir, "equivocation.bundle", audit::encode_bundle(sign(forked)));

  v1::AuditBundle tampered = signed_bundle;
  std::string body = tampered.chains(0).deltas(0).body();
  body[body.size() / 2] ^= 0x20;
  tampered.mutable_chains(0)->mutable_deltas(0)->set_body(body);
  write(dir, "tampered.bundle", audit::encode_bundle(tampered));

  v1::AuditBundle altered = signed_bundle;
  std::string header = altered.header();
  header[header.size() / 2] ^= 0x01;
  altered.set_header(header);
  write(dir, "altered_header.bundle", audit::encode_bundle(altered));

  std::string valid = audit::encode_bundle(signed_bundle);
  std::string version = valid;
  version[15] = 3;
  write(dir, "version3.bundle", version);
  write(dir, "truncated.bundle", valid.substr(0, valid.size() / 2));
  write(dir, "hostile.bundle", hostile_bundle());
  return 0;
}
