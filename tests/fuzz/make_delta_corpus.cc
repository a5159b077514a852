// Writes the seed corpus of fuzz_delta_decode: signed deltas carrying every
// kind of operation, a chain in the target's frame format, and near misses
// (bad signature, other federation, truncated). Deterministic keys, so the
// files only change when the formats do.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "conect/crdt/ops.h"
#include "conect/crdt/replica.h"
#include "conect/crdt/testkit/author.h"

namespace {

using namespace conect;

void write(const std::string& dir, const std::string& name, const std::string& bytes) {
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out << bytes;
}

std::string frames(const std::vector<VerifiedDelta>& ds) {
  std::string out;
  for (const auto& d : ds) {
    std::string b = d.signed_delta.SerializeAsString();
    out.push_back(static_cast<char>(b.size() >> 8));
    out.push_back(static_cast<char>(b.size() & 0xff));
    out += b;
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  std::string dir = argv[1];
  testkit::Author a(1), b(2);
  RecordKey org_a = a.next_key(v1::ORGANISATION);
  RecordKey org_b = b.next_key(v1::ORGANISATION);
  v1::Organisation o;
  o.set_city("Oulu");
  o.add_trades("welding");
  VerifiedDelta a1 = a.emit(ops::create_organisation(org_a, o), {}, 1000);
  VerifiedDelta b1 = b.emit(ops::create_organisation(org_b, o), {}, 1000);

  RecordKey pl = a.next_key(v1::PLACEMENT);
  v1::Placement p;
  p.set_trade("welding");
  auto* w = p.add_windows();
  w->set_window_id(1);
  w->set_capacity(2);
  auto* lang = p.add_languages();
  lang->set_lang("fi");
  lang->set_level(v1::B1);
  VerifiedDelta a2 = a.emit(ops::create_placement(pl, p), {}, 1001);

  RecordKey res = b.next_key(v1::RESERVATION);
  v1::Reservation r;
  *r.mutable_placement() = pl.to_proto();
  r.set_window_id(1);
  r.set_slots(1);
  VerifiedDelta b2 = b.emit({ops::request_reservation(res, r)}, {}, 1002);
  VerifiedDelta b3 = b.emit({ops::cancel(res)}, {}, 1004);
  VerifiedDelta a3 = a.emit({ops::decide(res, r, v1::RESERVATION_CONFIRMED)}, {delta_ref(b3)}, 1005);

  RecordKey mob = a.next_key(v1::MOBILITY);
  v1::MobilityFixed f;
  *f.mutable_sending_organisation() = org_a.to_proto();
  *f.mutable_receiving_organisation() = org_b.to_proto();
  f.mutable_participant()->set_pseudonym("P-1");
  v1::MobilitySending s;
  s.set_status(v1::MOBILITY_NOMINATED);
  VerifiedDelta a4 = a.emit(ops::create_mobility(mob, f, &s), {}, 1006);
  v1::MobilityHost h;
  h.set_host_status(v1::HOST_ACCEPTED);
  VerifiedDelta b4 =
      b.emit({ops::write_mobility_host(mob, org_b, h, {1}),
              ops::confirm(mob, org_b.to_proto(), make_confirmation(b.key(), mob, v1::PARTY_HOST, a4.id))},
             {}, 1007);
  RecordKey con = a.next_key(v1::CONTACT);
  v1::Contact c;
  c.set_display_name("Coordinator");
  c.add_roles(v1::MENTOR);
  c.mutable_personal()->set_commitment(std::string(32, 'c'));
  VerifiedDelta a5 = a.emit(ops::create_contact(con, c), {}, 1008);
  VerifiedDelta a6 = a.emit({ops::erase(con, Hash256::from_raw(std::string(32, 'c')).value()),
                             ops::set_remove(con, kGroupContact, 3, ops::enum_element(v1::MENTOR), {"tag"})},
                            {}, 1009);

  int n = 0;
  auto put = [&](const std::string& label, const std::string& bytes) {
    char name[64];
    std::snprintf(name, sizeof name, "%02d-%s", n++, label.c_str());
    write(dir, name, bytes);
  };
  for (const auto* d : {&a1, &a2, &a3, &a4, &a5, &a6, &b1, &b2, &b3, &b4})
    put("delta-" + std::to_string(d->seq.value) + (d->origin == a.id() ? "a" : "b"),
        d->signed_delta.SerializeAsString());
  put("range-a", frames({a1, a2, a3, a4, a5, a6}));
  put("range-a-tail", frames({a4, a5, a6}));
  put("range-b", frames({b1, b2, b3, b4}));
  put("range-gap", frames({a1, a3}));
  v1::SignedDelta bad = a2.signed_delta;
  (*bad.mutable_signature())[0] ^= 1;
  put("bad-signature", bad.SerializeAsString());
  testkit::Author other(3, FederationId{});
  put("other-federation", other.emit({}, {}, 1000).signed_delta.SerializeAsString());
  std::string whole = a4.signed_delta.SerializeAsString();
  put("truncated", whole.substr(0, whole.size() / 2));
  put("empty", "");
  std::printf("wrote %d files to %s\n", n, dir.c_str());
  return 0;
}
