// Writes the seed corpus of fuzz_audit_bundle: a valid format-2 bundle
// (cards, two chains, a mobility with both confirmations, a rejected
// operation, an equivocation proof, the exporter-signed header), the same
// content as format 1 (0.2.0), and near misses (tampered body, altered
// header, unknown version, truncated). Deterministic keys and clock, so the
// files only change with the format.
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

v1::MemberCard card(const testkit::Author& a, const std::string& name, const std::string& country) {
  v1::MemberCardBody body;
  body.set_federation(testkit::test_federation().raw());
  body.set_node_id(a.id().raw());
  body.set_name(name);
  body.set_country(country);
  body.set_role(v1::SCHOOL);
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
  auto sign = [&](v1::AuditBundle b) {
    b.set_format_version(2);
    b.clear_selection();
    b.clear_exported_at_ms();
    b.clear_exported_by();
    v1::AuditHeader h;
    h.set_format_version(2);
    h.set_federation(b.federation());
    h.set_exported_by(a.id().raw());
    h.set_exported_at_ms(1'760'000'000'000);
    *h.mutable_selection() = everything;
    h.set_content_digest(audit::content_digest(b).raw());
    b.set_header(h.SerializeAsString());
    b.set_header_signature(a.key().sign(SigningDomain::audit_header, b.header()).raw());
    return b;
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
  return 0;
}
