// One test per merge rule of DESIGN §3 (see merge.h for the list).
#include <google/protobuf/unknown_field_set.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <random>

#include "conect/crdt/merge.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/author.h"

namespace conect {
namespace {

using testkit::Author;
using testkit::fold_from;
using Deltas = std::vector<VerifiedDelta>;

std::vector<std::string> rules(const v1::RecordState& st) {
  std::vector<std::string> out;
  for (const auto& r : st.rejected()) out.push_back(r.rule());
  return out;
}

using Rules = std::vector<std::string>;

class Fold : public ::testing::Test {
 protected:
  Author a{1}, b{2}, c{3};
  RecordKey org_a = a.next_key(v1::ORGANISATION);
  RecordKey org_b = b.next_key(v1::ORGANISATION);
  RecordKey org_c = c.next_key(v1::ORGANISATION);
  Deltas setup{a.emit({ops::write_organisation(org_a, {}, {})}), b.emit({ops::write_organisation(org_b, {}, {})}),
               c.emit({ops::write_organisation(org_c, {}, {})})};
};

// ------------------------------------------------------------ organisation

TEST_F(Fold, OwnerWritesListedFieldsLastWriterWins) {
  v1::Organisation o;
  o.set_city("Rovaniemi");
  o.set_country("FI");
  Deltas ds = setup;
  ds.push_back(a.emit({ops::write_organisation(org_a, o, {3, 5})}));
  v1::Organisation o2;
  o2.set_city("Kemi");
  o2.set_country("SE");  // not listed: must not be written
  ds.push_back(a.emit({ops::write_organisation(org_a, o2, {5})}));
  v1::RecordState st = fold_from(org_a, ds);
  EXPECT_TRUE(st.created());
  EXPECT_EQ(st.organisation().city(), "Kemi");
  EXPECT_EQ(st.organisation().country(), "FI");
  EXPECT_EQ(st.updated_hlc(), ds.back().hlc.value);
  EXPECT_TRUE(st.rejected().empty());
  // A listed field without a value clears it.
  ds.push_back(a.emit({ops::write_organisation(org_a, {}, {3})}));
  EXPECT_EQ(fold_from(org_a, ds).organisation().country(), "");
}

TEST_F(Fold, LaterHlcWinsWhateverTheSeqAndEqualHlcFallsToSeq) {
  v1::Organisation x, y;
  x.set_city("X");
  y.set_city("Y");
  PositionedOp p1{a.id(), Seq{5}, Hlc{100}, 0, {}, ops::write_organisation(org_a, x, {5})};
  PositionedOp p2{a.id(), Seq{6}, Hlc{90}, 0, {}, ops::write_organisation(org_a, y, {5})};
  EXPECT_EQ(fold_record(org_a, {p1, p2}, empty_fold_context()).organisation().city(), "X");
  p2.hlc = Hlc{100};
  EXPECT_EQ(fold_record(org_a, {p2, p1}, empty_fold_context()).organisation().city(), "Y");
}

TEST_F(Fold, OthersCannotWriteAnOrganisation) {
  v1::Organisation o;
  o.set_city("Evil");
  Deltas ds = setup;
  ds.push_back(b.emit({ops::write_organisation(org_a, o, {5})}));
  v1::RecordState st = fold_from(org_a, ds);
  EXPECT_EQ(st.organisation().city(), "");
  EXPECT_EQ(rules(st), Rules{"not_authorised"});
  EXPECT_EQ(st.rejected(0).position().origin(), b.id().raw());
  EXPECT_EQ(st.rejected(0).position().seq(), 2u);
  EXPECT_EQ(st.rejected(0).position().delta_id(), ds.back().id.raw());
  EXPECT_EQ(st.updated_hlc(), setup[0].hlc.value);  // a rejected op is not an update
  // Nor can they create one in someone else's name.
  RecordKey foreign = RecordKey::mint(v1::ORGANISATION, a.id(), Seq{99}, 0);
  v1::RecordState st2 = fold_from(foreign, {b.emit({ops::write_organisation(foreign, o, {5})})});
  EXPECT_FALSE(st2.created());
  EXPECT_EQ(rules(st2), Rules{"not_authorised"});
}

TEST_F(Fold, FieldListIsChecked) {
  v1::Organisation o;
  o.add_trades("welding");
  o.set_speaker(b.id().raw());
  Deltas ds = setup;
  ds.push_back(a.emit({ops::write_organisation(org_a, o, {77})}));
  ds.push_back(a.emit({ops::write_organisation(org_a, o, {9})}));
  ds.push_back(a.emit({ops::write_organisation(org_a, o, {10})}));
  v1::RecordState st = fold_from(org_a, ds);
  EXPECT_EQ(rules(st), (Rules{"malformed_body", "invalid_argument", "invalid_argument"}));
  EXPECT_TRUE(st.organisation().speaker().empty());
  o.set_speaker(a.id().raw());
  ds.push_back(a.emit({ops::write_organisation(org_a, o, {10})}));
  EXPECT_EQ(fold_from(org_a, ds).organisation().speaker(), a.id().raw());
}

// ---------------------------------------------------------------- placement

TEST_F(Fold, PlacementOwnerOnlyAndWindowIdsUnique) {
  RecordKey pl = b.next_key(v1::PLACEMENT);
  v1::Placement p;
  p.set_trade("welding");
  auto* w = p.add_windows();
  w->set_window_id(1);
  w->set_capacity(2);
  Deltas ds{b.emit(ops::create_placement(pl, p))};
  p.add_windows()->set_window_id(1);
  ds.push_back(b.emit({ops::write_placement(pl, p, {8})}));
  ds.push_back(a.emit({ops::write_placement(pl, p, {3})}));
  v1::RecordState st = fold_from(pl, ds);
  EXPECT_TRUE(st.created());
  EXPECT_EQ(st.placement().trade(), "welding");
  EXPECT_EQ(st.placement().windows_size(), 1);
  EXPECT_EQ(rules(st), (Rules{"invalid_argument", "not_authorised"}));
}

// ------------------------------------------------ references and the roster

// A placement's host organisation and mentor, a contact's organisation: the
// owner's own records, created by the operation their id was minted from.
TEST_F(Fold, ReferencesNameOnlyTheOwnersOwnRecordsCreatedBefore) {
  Deltas ds = setup;
  RecordKey mentor = b.next_key(v1::CONTACT);
  v1::Contact contact;
  *contact.mutable_organisation() = org_b.to_proto();
  ds.push_back(b.emit({ops::write_contact(mentor, contact, {1})}));
  RecordKey pl = b.next_key(v1::PLACEMENT);
  v1::Placement p;
  *p.mutable_host_organisation() = org_b.to_proto();
  *p.mutable_mentor_contact() = mentor.to_proto();
  ds.push_back(b.emit({ops::write_placement(pl, p, {1, 15})}));
  v1::RecordState st = fold_from(pl, ds);
  EXPECT_TRUE(st.created());
  EXPECT_TRUE(st.rejected().empty());
  EXPECT_TRUE(fold_from(mentor, ds).created());

  v1::Placement hijack;
  *hijack.mutable_host_organisation() = org_a.to_proto();  // a's organisation
  ds.push_back(b.emit({ops::write_placement(pl, hijack, {1})}));
  RecordKey their_mentor = a.next_key(v1::CONTACT);
  contact.set_display_name("a's coordinator");
  *contact.mutable_organisation() = org_a.to_proto();
  ds.push_back(a.emit({ops::write_contact(their_mentor, contact, {1, 2})}));
  v1::Placement poach;
  *poach.mutable_mentor_contact() = their_mentor.to_proto();  // a's contact
  ds.push_back(b.emit({ops::write_placement(pl, poach, {15})}));
  v1::Placement future;
  *future.mutable_host_organisation() =
      RecordKey::mint(v1::ORGANISATION, b.id(), Seq{b.seq().value + 5}, 0).to_proto();  // minted later
  ds.push_back(b.emit({ops::write_placement(pl, future, {1})}));
  v1::Placement itself;
  *itself.mutable_host_organisation() = pl.to_proto();  // a placement, no organisation
  ds.push_back(b.emit({ops::write_placement(pl, itself, {1})}));
  st = fold_from(pl, ds);
  EXPECT_EQ(st.placement().host_organisation().owner(), b.id().raw());
  EXPECT_EQ(st.placement().mentor_contact().serial(), mentor.serial);
  EXPECT_EQ(rules(st), (Rules{"not_authorised", "not_authorised", "invalid_argument", "invalid_argument"}));
  // Clearing the mentor is fine.
  ds.push_back(b.emit({ops::write_placement(pl, {}, {15})}));
  EXPECT_FALSE(fold_from(pl, ds).placement().has_mentor_contact());

  // A contact filed under another member's organisation is never created.
  RecordKey fake = b.next_key(v1::CONTACT);
  v1::Contact f;
  *f.mutable_organisation() = org_a.to_proto();
  f.set_display_name("Coordinator, Lapland VET (not really)");
  ds.push_back(b.emit({ops::write_contact(fake, f, {1, 2})}));
  st = fold_from(fake, ds);
  EXPECT_FALSE(st.created());
  EXPECT_EQ(rules(st), Rules{"not_authorised"});
}

TEST_F(Fold, AnAuditorAuthorsNothingWhateverItSigns) {
  LocalRoster roster({{a.id(), v1::SCHOOL}, {c.id(), v1::AUDITOR}});
  Deltas ds = setup;
  v1::Organisation o;
  o.set_city("Audit town");
  ds.push_back(c.emit({ops::write_organisation(org_c, o, {5})}));
  v1::RecordState st = fold_from(org_c, ds, &roster);
  EXPECT_FALSE(st.created());  // even its own organisation
  EXPECT_EQ(rules(st), (Rules{"not_authorised", "not_authorised"}));
  EXPECT_NE(st.rejected(0).detail().find("auditor"), std::string::npos);
  // Without the roster (or with another role) the same operations count.
  EXPECT_TRUE(fold_from(org_c, ds).created());
  EXPECT_TRUE(fold_from(org_a, ds, &roster).created());
}

TEST(OpTarget, OperationsOfUnknownKindsAreNotMalformed) {
  v1::Operation future;
  future.GetReflection()->MutableUnknownFields(&future)->AddLengthDelimited(40, "newer");
  auto t = op_target(future);
  ASSERT_FALSE(t.ok());
  EXPECT_TRUE(t.error().is(Errc::unknown_operation)) << t.error().message();
  v1::Operation write;
  write.mutable_write()->GetReflection()->MutableUnknownFields(write.mutable_write())->AddVarint(30, 1);
  EXPECT_TRUE(op_target(write).error().is(Errc::unknown_operation));
  EXPECT_TRUE(op_target(v1::Operation{}).error().is(Errc::malformed_body));  // empty: no newer kind either
}

// -------------------------------------------------------------- reservation

class ReservationFold : public Fold {
 protected:
  RecordKey pl = b.next_key(v1::PLACEMENT);
  Deltas base = [this] {
    v1::Placement p;
    auto* w = p.add_windows();
    w->set_window_id(1);
    w->set_capacity(3);
    auto* w2 = p.add_windows();
    w2->set_window_id(2);
    w2->set_capacity(1);
    Deltas ds = setup;
    ds.push_back(b.emit(ops::create_placement(pl, p)));
    return ds;
  }();
  RecordKey res = a.next_key(v1::RESERVATION);
  v1::Reservation request = [this] {
    v1::Reservation r;
    *r.mutable_placement() = pl.to_proto();
    r.set_window_id(1);
    r.set_slots(2);
    r.set_note("two welders");
    return r;
  }();
};

TEST_F(ReservationFold, RequestIsPendingUntilThePlacementOwnerDecides) {
  Deltas ds = base;
  ds.push_back(a.emit({ops::request_reservation(res, request)}));
  v1::RecordState st = fold_from(res, ds);
  EXPECT_TRUE(st.created());
  EXPECT_EQ(st.reservation().decision(), v1::RESERVATION_PENDING);
  ds.push_back(b.emit({ops::decide(res, request, v1::RESERVATION_CONFIRMED)}));
  st = fold_from(res, ds);
  EXPECT_EQ(st.reservation().decision(), v1::RESERVATION_CONFIRMED);
  EXPECT_TRUE(st.rejected().empty());
  EXPECT_EQ(st.updated_hlc(), ds.back().hlc.value);
}

TEST_F(ReservationFold, OnlyThePlacementOwnerDecides) {
  Deltas ds = base;
  ds.push_back(a.emit({ops::request_reservation(res, request)}));
  ds.push_back(c.emit({ops::decide(res, request, v1::RESERVATION_CONFIRMED)}));  // names b's placement
  RecordKey cs_placement = RecordKey::mint(v1::PLACEMENT, c.id(), Seq{1}, 0);
  ds.push_back(c.emit({ops::decide(res, cs_placement, 1, 2, v1::RESERVATION_CONFIRMED)}));
  v1::RecordState st = fold_from(res, ds);
  EXPECT_EQ(st.reservation().decision(), v1::RESERVATION_PENDING);
  EXPECT_EQ(rules(st), (Rules{"not_authorised", "not_authorised"}));
}

TEST_F(ReservationFold, DecisionMustMatchTheRequest) {
  Deltas ds = base;
  ds.push_back(a.emit({ops::request_reservation(res, request)}));
  ds.push_back(b.emit({ops::decide(res, pl, 2, 2, v1::RESERVATION_CONFIRMED)}));
  ds.push_back(b.emit({ops::decide(res, pl, 1, 1, v1::RESERVATION_CONFIRMED)}));
  ds.push_back(b.emit({ops::decide(res, request, v1::RESERVATION_PENDING)}));
  v1::RecordState st = fold_from(res, ds);
  EXPECT_EQ(st.reservation().decision(), v1::RESERVATION_PENDING);
  EXPECT_EQ(rules(st), (Rules{"invalid_argument", "invalid_argument", "invalid_argument"}));
}

TEST_F(ReservationFold, DecisionBeforeTheRequestInTheOrderStillCounts) {
  // The owner's clock may lag: its decision can sort before the request.
  Deltas ds = base;
  VerifiedDelta req = a.emit({ops::request_reservation(res, request)}, {}, 1'000'000);
  VerifiedDelta dec = b.emit({ops::decide(res, request, v1::RESERVATION_CONFIRMED)}, {}, 10);
  ASSERT_LT(dec.hlc, req.hlc);
  ds.push_back(dec);
  // Without the request the decision is held: no effect, not listed.
  v1::RecordState held = fold_from(res, ds);
  EXPECT_FALSE(held.created());
  EXPECT_TRUE(held.rejected().empty());
  ds.push_back(req);
  EXPECT_EQ(fold_from(res, ds).reservation().decision(), v1::RESERVATION_CONFIRMED);
}

TEST_F(ReservationFold, LastValidDecisionWinsAndCancelIsFinal) {
  Deltas ds = base;
  ds.push_back(a.emit({ops::request_reservation(res, request)}));
  ds.push_back(b.emit({ops::decide(res, request, v1::RESERVATION_CONFIRMED)}));
  ds.push_back(b.emit({ops::decide(res, request, v1::RESERVATION_REJECTED)}));
  EXPECT_EQ(fold_from(res, ds).reservation().decision(), v1::RESERVATION_REJECTED);
  ds.push_back(b.emit({ops::decide(res, pl, 1, 1, v1::RESERVATION_CONFIRMED)}));  // invalid: must not win
  EXPECT_EQ(fold_from(res, ds).reservation().decision(), v1::RESERVATION_REJECTED);
  ds.push_back(c.emit({ops::cancel(res)}));
  EXPECT_EQ(fold_from(res, ds).reservation().decision(), v1::RESERVATION_REJECTED);
  ds.push_back(a.emit({ops::cancel(res)}));
  ds.push_back(b.emit({ops::decide(res, request, v1::RESERVATION_CONFIRMED)}));
  v1::RecordState st = fold_from(res, ds);
  EXPECT_EQ(st.reservation().decision(), v1::RESERVATION_CANCELLED);
  EXPECT_EQ(rules(st), (Rules{"invalid_argument", "not_authorised"}));
}

TEST_F(ReservationFold, RequestFieldsAreTheRequestersAndPartlyFixed) {
  Deltas ds = base;
  ds.push_back(a.emit({ops::request_reservation(res, request)}));
  v1::Reservation changed = request;
  changed.set_note("three welders");
  changed.set_slots(3);
  ds.push_back(a.emit({ops::write_reservation(res, changed, {3})}));        // slots fixed
  ds.push_back(a.emit({ops::write_reservation(res, changed, {5})}));        // note is not
  ds.push_back(a.emit({ops::write_reservation(res, request, {1, 2, 3})}));  // same values: fine
  ds.push_back(c.emit({ops::write_reservation(res, changed, {5})}));        // not the requester
  v1::Reservation decided = request;
  decided.set_decision(v1::RESERVATION_CONFIRMED);
  ds.push_back(a.emit({ops::write_reservation(res, decided, {6})}));  // decision is derived
  v1::RecordState st = fold_from(res, ds);
  EXPECT_EQ(st.reservation().slots(), 2u);
  EXPECT_EQ(st.reservation().note(), "three welders");
  EXPECT_EQ(st.reservation().decision(), v1::RESERVATION_PENDING);
  EXPECT_EQ(rules(st), (Rules{"fixed_field", "not_authorised", "not_authorised"}));
}

TEST_F(ReservationFold, AvailabilityCountsOnlyValidConfirmations) {
  Deltas ds = base;
  RecordKey res2 = c.next_key(v1::RESERVATION);
  v1::Reservation r2 = request;
  r2.set_slots(1);
  ds.push_back(a.emit({ops::request_reservation(res, request)}));
  ds.push_back(c.emit({ops::request_reservation(res2, r2)}));
  ds.push_back(b.emit({ops::decide(res, request, v1::RESERVATION_CONFIRMED)}));
  std::vector<v1::RecordState> states{fold_from(res, ds), fold_from(res2, ds)};
  auto av = placement_availability(fold_from(pl, ds).placement(), states);
  ASSERT_EQ(av.size(), 2u);
  EXPECT_EQ(av[0].confirmed, 2u);
  EXPECT_EQ(av[0].pending, 1u);
  EXPECT_EQ(av[0].available, 1u);
  ds.push_back(a.emit({ops::cancel(res)}));
  states = {fold_from(res, ds), fold_from(res2, ds)};
  av = placement_availability(fold_from(pl, ds).placement(), states);
  EXPECT_EQ(av[0].confirmed, 0u);
  EXPECT_EQ(av[0].available, 3u);
}

// ----------------------------------------------------------------- mobility

class MobilityFold : public Fold {
 protected:
  RecordKey mob = a.next_key(v1::MOBILITY);
  v1::MobilityFixed fixed = [this] {
    v1::MobilityFixed f;
    *f.mutable_sending_organisation() = org_a.to_proto();
    *f.mutable_receiving_organisation() = org_b.to_proto();
    f.mutable_participant()->set_pseudonym("P-17");
    f.set_type(v1::LEARNER_OTJ_COMPANY);
    f.set_category(v1::IVET_LEARNER);
    return f;
  }();
  Deltas created = [this] {
    Deltas ds = setup;
    ds.push_back(a.emit(ops::create_mobility(mob, fixed)));
    return ds;
  }();
  v1::MobilitySending status(v1::MobilityStatus s) {
    v1::MobilitySending m;
    m.set_status(s);
    return m;
  }
};

TEST_F(MobilityFold, CreationFixesFieldsAndSetsAgreedDelta) {
  v1::RecordState st = fold_from(mob, created);
  EXPECT_TRUE(st.created());
  EXPECT_EQ(st.mobility().fixed().participant().pseudonym(), "P-17");
  EXPECT_EQ(st.mobility().agreed_delta(), created.back().id.raw());
  Deltas ds = created;
  v1::MobilityFixed other = fixed;
  other.mutable_participant()->set_pseudonym("P-99");
  ds.push_back(a.emit(ops::create_mobility(mob, other)));
  ds.push_back(b.emit(ops::create_mobility(mob, other)));
  st = fold_from(mob, ds);
  EXPECT_EQ(st.mobility().fixed().participant().pseudonym(), "P-17");
  EXPECT_EQ(st.mobility().agreed_delta(), created.back().id.raw());
  EXPECT_EQ(rules(st), (Rules{"fixed_field", "not_authorised"}));
}

TEST_F(MobilityFold, SendingOrganisationMustBeTheOwners) {
  RecordKey m2 = a.next_key(v1::MOBILITY);
  v1::MobilityFixed f = fixed;
  *f.mutable_sending_organisation() = org_c.to_proto();
  v1::RecordState st = fold_from(m2, {a.emit(ops::create_mobility(m2, f))});
  EXPECT_FALSE(st.created());
  EXPECT_EQ(rules(st), Rules{"not_authorised"});
}

TEST_F(MobilityFold, StatusMovesForwardOnlyAndCancelledIsFinal) {
  Deltas ds = created;
  ds.push_back(a.emit({ops::write_mobility_sending(mob, status(v1::MOBILITY_NOMINATED), {8})}));
  ds.push_back(a.emit({ops::write_mobility_sending(mob, status(v1::MOBILITY_LIVE), {8})}));
  ds.push_back(a.emit({ops::write_mobility_sending(mob, status(v1::MOBILITY_DRAFT), {8})}));
  v1::RecordState st = fold_from(mob, ds);
  EXPECT_EQ(st.mobility().sending().status(), v1::MOBILITY_LIVE);
  EXPECT_EQ(rules(st), Rules{"invalid_argument"});
  ds.push_back(a.emit({ops::write_mobility_sending(mob, status(v1::MOBILITY_CANCELLED), {8})}));
  ds.push_back(a.emit({ops::write_mobility_sending(mob, status(v1::MOBILITY_COMPLETED), {8})}));
  st = fold_from(mob, ds);
  EXPECT_EQ(st.mobility().sending().status(), v1::MOBILITY_CANCELLED);
  EXPECT_EQ(rules(st), (Rules{"invalid_argument", "invalid_argument"}));
  ds.push_back(b.emit({ops::write_mobility_sending(mob, status(v1::MOBILITY_CANCELLED), {8})}));
  EXPECT_EQ(rules(fold_from(mob, ds)).back(), "not_authorised");
}

TEST_F(MobilityFold, AgreedDeltaFollowsChangesToAgreedFieldsOnly) {
  Deltas ds = created;
  v1::MobilitySending s;
  s.mutable_planned_start()->set_days(19800);
  s.set_qualification_title("Welder");
  ds.push_back(a.emit({ops::write_mobility_sending(mob, s, {3, 5})}));
  DeltaId plan = ds.back().id;
  EXPECT_EQ(fold_from(mob, ds).mobility().agreed_delta(), plan.raw());
  s.mutable_safety_briefing()->set_days(19790);
  s.set_status(v1::MOBILITY_NOMINATED);
  ds.push_back(a.emit({ops::write_mobility_sending(mob, s, {8, 9})}));  // operational
  ds.push_back(a.emit({ops::write_mobility_sending(mob, s, {3, 5})}));  // same values again
  EXPECT_EQ(fold_from(mob, ds).mobility().agreed_delta(), plan.raw());
  s.set_eqf_level(4);
  ds.push_back(a.emit({ops::write_mobility_sending(mob, s, {6})}));
  EXPECT_EQ(fold_from(mob, ds).mobility().agreed_delta(), ds.back().id.raw());
}

TEST_F(MobilityFold, HostFieldsByTheReceivingOrganisationsMember) {
  v1::MobilityHost h;
  h.set_host_status(v1::HOST_ACCEPTED);
  Deltas ds = created;
  ds.push_back(b.emit({ops::write_mobility_host(mob, org_b, h, {1})}));
  v1::RecordState st = fold_from(mob, ds);
  EXPECT_EQ(st.mobility().host().host_status(), v1::HOST_ACCEPTED);
  EXPECT_TRUE(st.rejected().empty());
  h.set_host_status(v1::HOST_REJECTED);
  ds.push_back(c.emit({ops::write_mobility_host(mob, org_c, h, {1})}));  // c's own org is not the host
  ds.push_back(c.emit({ops::write_mobility_host(mob, org_b, h, {1})}));  // names the host, is not it
  ds.push_back(a.emit({ops::write_mobility_host(mob, org_b, h, {1})}));  // the sending side
  st = fold_from(mob, ds);
  EXPECT_EQ(st.mobility().host().host_status(), v1::HOST_ACCEPTED);
  EXPECT_EQ(rules(st), (Rules{"not_authorised", "not_authorised", "not_authorised"}));
}

TEST_F(MobilityFold, HostWriteSortedBeforeCreationStillChecksAgainstIt) {
  v1::MobilityHost h;
  h.set_units_achieved(3);
  VerifiedDelta early = b.emit({ops::write_mobility_host(mob, org_b, h, {6})}, {}, 5);
  ASSERT_LT(early.hlc, created.back().hlc);
  EXPECT_TRUE(fold_from(mob, {early}).rejected().empty());  // held: no mobility yet
  EXPECT_FALSE(fold_from(mob, {early}).mobility().has_host());
  Deltas ds = created;
  ds.push_back(early);
  EXPECT_EQ(fold_from(mob, ds).mobility().host().units_achieved(), 3u);
}

TEST_F(MobilityFold, ConfirmationsAreCheckedAndGrowOnly) {
  v1::RecordState st = fold_from(mob, created);
  DeltaId agreed = DeltaId::from_raw(st.mobility().agreed_delta()).value();
  v1::Confirmation sending = make_confirmation(a.key(), mob, v1::PARTY_SENDING, agreed);
  v1::Confirmation host = make_confirmation(b.key(), mob, v1::PARTY_HOST, agreed);
  Deltas ds = created;
  ds.push_back(a.emit({ops::confirm(mob, org_a.to_proto(), sending)}));
  ds.push_back(b.emit({ops::confirm(mob, org_b.to_proto(), host)}));
  ds.push_back(b.emit({ops::confirm(mob, org_b.to_proto(), host)}));  // again: still one
  st = fold_from(mob, ds);
  ASSERT_EQ(st.mobility().confirmations_size(), 2);
  EXPECT_TRUE(st.rejected().empty());

  v1::Confirmation forged = host;
  forged.set_agreed_delta(std::string(32, '\x01'));
  v1::Confirmation c_as_host = make_confirmation(c.key(), mob, v1::PARTY_HOST, agreed);
  ds.push_back(b.emit({ops::confirm(mob, org_b.to_proto(), forged)}));     // bad signature
  ds.push_back(c.emit({ops::confirm(mob, org_b.to_proto(), c_as_host)}));  // c is not the host
  ds.push_back(c.emit({ops::confirm(mob, org_b.to_proto(), host)}));       // relayed by non-signer
  ds.push_back(b.emit({ops::confirm(mob, org_c.to_proto(), host)}));       // wrong authority
  st = fold_from(mob, ds);
  EXPECT_EQ(st.mobility().confirmations_size(), 2);
  EXPECT_EQ(rules(st), (Rules{"bad_signature", "not_authorised", "not_authorised", "not_authorised"}));

  // A later change of agreed fields leaves the confirmations but shows them stale.
  v1::MobilitySending s;
  s.set_window_id(4);
  ds.push_back(a.emit({ops::write_mobility_sending(mob, s, {2})}));
  st = fold_from(mob, ds);
  EXPECT_EQ(st.mobility().confirmations_size(), 2);
  EXPECT_NE(st.mobility().confirmations(0).agreed_delta(), st.mobility().agreed_delta());
}

// --------------------------------------------------------------------- sets

TEST_F(Fold, OrSetAddWinsOverAConcurrentRemove) {
  std::string weld = ops::string_element("welding");
  Deltas ds = setup;
  ds.push_back(a.emit({ops::set_add(org_a, kGroupOrganisation, 9, weld),
                       ops::set_add(org_a, kGroupOrganisation, 9, ops::string_element("cooking"))}));
  v1::RecordState seen = fold_from(org_a, ds);
  EXPECT_EQ(std::vector<std::string>(seen.organisation().trades().begin(), seen.organisation().trades().end()),
            (std::vector<std::string>{"cooking", "welding"}));  // sorted by bytes
  ASSERT_EQ(seen.sets_size(), 2);
  EXPECT_EQ(seen.sets(1).tags(0), set_tag(a.id(), ds.back().seq, 0));
  // A removal that saw the first add, and a concurrent re-add it did not see.
  v1::Operation remove = ops::set_remove_live(org_a, seen, kGroupOrganisation, 9, weld);
  PositionedOp rm{a.id(), Seq{10}, Hlc{ds.back().hlc.value + 10}, 0, {}, remove};
  PositionedOp readd{a.id(), Seq{9}, Hlc{ds.back().hlc.value + 20}, 0, {}, ops::set_add(org_a, 2, 9, weld)};
  auto base = testkit::positioned_ops(ds);
  auto with_rm = base;
  with_rm.push_back(rm);
  EXPECT_EQ(fold_record(org_a, with_rm, empty_fold_context()).organisation().trades_size(), 1);
  with_rm.push_back(readd);
  v1::RecordState st = fold_record(org_a, with_rm, empty_fold_context());
  EXPECT_EQ(st.organisation().trades_size(), 2);
  // A removal placed before the add it observed still removes it.
  rm.hlc = Hlc{1};
  auto early = base;
  early.push_back(rm);
  EXPECT_EQ(fold_record(org_a, early, empty_fold_context()).organisation().trades_size(), 1);
}

TEST_F(Fold, SetChangesAreOwnerOnlyOnSetFieldsWithCanonicalElements) {
  RecordKey con = a.next_key(v1::CONTACT);
  Deltas ds{a.emit({ops::write_contact(con, {}, {})})};
  ds.push_back(a.emit({ops::set_add(con, kGroupContact, 3, ops::enum_element(v1::MENTOR)),
                       ops::set_add(con, kGroupContact, 3, ops::enum_element(v1::MOBILITY_COORDINATOR))}));
  v1::LanguageSkill fi;
  fi.set_lang("fi");
  fi.set_level(v1::B2);
  ds.push_back(a.emit({ops::set_add(con, kGroupContact, 4, ops::message_element(fi))}));
  ds.push_back(b.emit({ops::set_add(con, kGroupContact, 3, ops::enum_element(v1::EXPERT_ROLE))}));
  ds.push_back(a.emit({ops::set_add(con, kGroupContact, 2, "name")}));                       // not a set
  ds.push_back(a.emit({ops::set_add(con, kGroupPlacement, 11, ops::message_element(fi))}));  // other type
  ds.push_back(a.emit({ops::set_add(con, kGroupContact, 3, std::string("\x82\x00", 2))}));   // overlong varint
  ds.push_back(a.emit({ops::set_add(con, kGroupContact, 4, ops::message_element(fi) + "\x28\x01")}));  // unknown field
  ds.push_back(a.emit({ops::set_add(org_a, kGroupOrganisation, 9, "\xc3\x28")}));  // for another record: ignored
  v1::RecordState st = fold_from(con, ds);
  ASSERT_EQ(st.contact().roles_size(), 2);
  EXPECT_EQ(st.contact().roles(0), v1::MOBILITY_COORDINATOR);
  EXPECT_EQ(st.contact().roles(1), v1::MENTOR);
  ASSERT_EQ(st.contact().languages_size(), 1);
  EXPECT_EQ(st.contact().languages(0).level(), v1::B2);
  EXPECT_EQ(rules(st),
            (Rules{"not_authorised", "invalid_argument", "invalid_argument", "invalid_argument", "invalid_argument"}));
  Deltas bad_utf8 = setup;
  bad_utf8.push_back(a.emit({ops::set_add(org_a, kGroupOrganisation, 9, "\xc3\x28")}));
  EXPECT_EQ(rules(fold_from(org_a, bad_utf8)), Rules{"invalid_argument"});
}

TEST_F(Fold, CreateBuildersPutSetFieldsIntoSetChanges) {
  RecordKey con = a.next_key(v1::CONTACT);
  v1::Contact c1;
  c1.set_display_name("Coordinator");
  c1.add_roles(v1::SIGNATORY);
  c1.add_roles(v1::MENTOR);
  auto built = ops::create_contact(con, c1);
  ASSERT_EQ(built.size(), 3u);
  v1::RecordState st = fold_from(con, {a.emit(built)});
  EXPECT_EQ(st.contact().display_name(), "Coordinator");
  EXPECT_EQ(st.contact().roles_size(), 2);
  EXPECT_TRUE(st.rejected().empty());
}

// -------------------------------------------------------------------- erase

TEST_F(Fold, EraseByOwnerOnly) {
  Hash256 c1 = blake2b256("salt|name"), c2 = blake2b256("salt|mail");
  Deltas ds = setup;
  ds.push_back(a.emit({ops::erase(org_a, c2), ops::erase(org_a, c1), ops::erase(org_a, c2)}));
  ds.push_back(b.emit({ops::erase(org_a, blake2b256("other"))}));
  v1::Operation short_commit = ops::erase(org_a, c1);
  short_commit.mutable_erase()->set_commitment("abc");
  ds.push_back(a.emit({short_commit}));
  v1::RecordState st = fold_from(org_a, ds);
  ASSERT_EQ(st.erased_size(), 2);
  EXPECT_LT(st.erased(0), st.erased(1));
  EXPECT_EQ(rules(st), (Rules{"not_authorised", "invalid_argument"}));
}

// --------------------------------------------------------------- the laws

TEST_F(MobilityFold, SameSetOfOperationsGivesSameBytesWhateverTheOrderAndDuplicates) {
  Deltas ds = created;
  v1::MobilitySending s;
  s.set_status(v1::MOBILITY_NOMINATED);
  s.set_qualification_title("Cook");
  ds.push_back(a.emit({ops::write_mobility_sending(mob, s, {5, 8})}));
  v1::MobilityHost h;
  h.set_host_status(v1::HOST_ACCEPTED);
  ds.push_back(b.emit({ops::write_mobility_host(mob, org_b, h, {1})}, {}, 3));
  ds.push_back(c.emit({ops::write_mobility_sending(mob, s, {5})}));
  DeltaId agreed = DeltaId::from_raw(fold_from(mob, ds).mobility().agreed_delta()).value();
  ds.push_back(b.emit({ops::confirm(mob, org_b.to_proto(), make_confirmation(b.key(), mob, v1::PARTY_HOST, agreed))}));
  ds.push_back(a.emit({ops::set_add(mob, kGroupMobilitySending, 7, ops::message_element(v1::LanguageSkill()))}));
  auto ops = testkit::positioned_ops(ds);
  std::string expected = serialize_state(fold_record(mob, ops, empty_fold_context()));
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    auto shuffled = ops;
    std::uniform_int_distribution<std::size_t> pick(0, ops.size() - 1);
    for (int k = 0; k < 5; ++k) shuffled.push_back(ops[pick(rng)]);
    std::shuffle(shuffled.begin(), shuffled.end(), rng);
    ASSERT_EQ(serialize_state(fold_record(mob, shuffled, empty_fold_context())), expected) << "round " << round;
  }
}

// ------------------------------------------------------------ RecordFolder

TEST_F(MobilityFold, RecordFolderContinuesOnlyWhenNewOperationsSortLast) {
  Deltas ds = created;
  v1::MobilitySending s;
  s.set_status(v1::MOBILITY_LIVE);
  ds.push_back(a.emit({ops::write_mobility_sending(mob, s, {8})}));
  v1::MobilityHost h;
  h.set_host_status(v1::HOST_ACCEPTED);
  ds.push_back(b.emit({ops::write_mobility_host(mob, org_b, h, {1})}));
  auto all = testkit::positioned_ops(ds);
  std::vector<const PositionedOp*> refs;
  for (const auto& p : all) refs.push_back(&p);
  RecordFolder folder(mob, empty_fold_context());
  for (const auto* p : refs) ASSERT_TRUE(folder.append(std::span<const PositionedOp* const>(&p, 1)));
  EXPECT_EQ(serialize_state(folder.state()), serialize_state(fold_record(mob, refs, empty_fold_context())));
  EXPECT_EQ(serialize_state(folder.state()), serialize_state(folder.state()));  // state() leaves the fold open
  // An operation that sorts before the last one folded is refused, untouched.
  PositionedOp early{a.id(), Seq{99}, Hlc{1}, 0, {}, ops::write_mobility_sending(mob, s, {8})};
  const PositionedOp* e = &early;
  std::string before = serialize_state(folder.state());
  EXPECT_FALSE(folder.append(std::span<const PositionedOp* const>(&e, 1)));
  EXPECT_EQ(serialize_state(folder.state()), before);
}

TEST_F(MobilityFold, RecordFolderRefusesACreationAfterHeldOperations) {
  v1::MobilityHost h;
  h.set_host_status(v1::HOST_ACCEPTED);
  VerifiedDelta early = b.emit({ops::write_mobility_host(mob, org_b, h, {1})}, {}, 5);
  auto held = testkit::positioned_ops({early});
  auto creation = testkit::positioned_ops({created.back()});
  ASSERT_LT(held[0], creation[0]);
  RecordFolder folder(mob, empty_fold_context());
  const PositionedOp* hp = &held[0];
  ASSERT_TRUE(folder.append(std::span<const PositionedOp* const>(&hp, 1)));
  EXPECT_FALSE(folder.state().mobility().has_host());  // held: no mobility yet
  const PositionedOp* cp = &creation[0];
  EXPECT_FALSE(folder.append(std::span<const PositionedOp* const>(&cp, 1)));
  std::vector<const PositionedOp*> both{hp, cp};
  EXPECT_EQ(fold_record(mob, both, empty_fold_context()).mobility().host().host_status(), v1::HOST_ACCEPTED);
}

TEST_F(Fold, RecordFolderLeavesEquivocatingCopiesToTheFullFold) {
  v1::Organisation x, y;
  x.set_city("X");
  y.set_city("Y");
  DeltaId big, small;
  big.bytes.fill(0xee);
  small.bytes.fill(0x11);
  PositionedOp first{a.id(), Seq{5}, Hlc{10}, 0, big, ops::write_organisation(org_a, x, {5})};
  PositionedOp copy{a.id(), Seq{5}, Hlc{20}, 0, small, ops::write_organisation(org_a, y, {5})};
  RecordFolder folder(org_a, empty_fold_context());
  const PositionedOp* f = &first;
  const PositionedOp* cp = &copy;
  ASSERT_TRUE(folder.append(std::span<const PositionedOp* const>(&f, 1)));
  EXPECT_FALSE(folder.append(std::span<const PositionedOp* const>(&cp, 1)));
  // The full fold keeps one copy per position whatever the order: the smaller delta id.
  EXPECT_EQ(fold_record(org_a, {first, copy}, empty_fold_context()).organisation().city(), "Y");
  EXPECT_EQ(fold_record(org_a, {copy, first}, empty_fold_context()).organisation().city(), "Y");
}

// ------------------------------------------- copying written values (fold.cc)

using google::protobuf::FieldDescriptor;
using google::protobuf::Message;

// Sets every field of `m` not in `skip` (field numbers of the top level) to
// a value other than its default, two elements per repeated field, each
// message field recursively: what a write listing every field copies.
void fill(Message& m, int salt, const std::vector<int>& skip = {}, int depth = 0) {
  const auto* d = m.GetDescriptor();
  const auto* r = m.GetReflection();
  for (int f = 0; f < d->field_count(); ++f) {
    const FieldDescriptor* fd = d->field(f);
    if (std::find(skip.begin(), skip.end(), fd->number()) != skip.end()) continue;
    for (int e = 0; e < (fd->is_repeated() ? 2 : 1); ++e) {
      int v = salt + 100 * e + fd->number();
      switch (fd->cpp_type()) {
        case FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth < 3)
            fill(fd->is_repeated() ? *r->AddMessage(&m, fd) : *r->MutableMessage(&m, fd), v, {}, depth + 1);
          break;
        case FieldDescriptor::CPPTYPE_STRING:
          fd->is_repeated() ? r->AddString(&m, fd, "v" + std::to_string(v))
                            : r->SetString(&m, fd, "v" + std::to_string(v));
          break;
        case FieldDescriptor::CPPTYPE_ENUM: {
          int n = fd->enum_type()->value(1 + e % (fd->enum_type()->value_count() - 1))->number();
          fd->is_repeated() ? r->AddEnumValue(&m, fd, n) : r->SetEnumValue(&m, fd, n);
          break;
        }
        case FieldDescriptor::CPPTYPE_UINT32:
          fd->is_repeated() ? r->AddUInt32(&m, fd, static_cast<std::uint32_t>(v))
                            : r->SetUInt32(&m, fd, static_cast<std::uint32_t>(v));
          break;
        case FieldDescriptor::CPPTYPE_INT32:
          fd->is_repeated() ? r->AddInt32(&m, fd, v) : r->SetInt32(&m, fd, v);
          break;
        case FieldDescriptor::CPPTYPE_UINT64:
          fd->is_repeated() ? r->AddUInt64(&m, fd, static_cast<std::uint64_t>(v))
                            : r->SetUInt64(&m, fd, static_cast<std::uint64_t>(v));
          break;
        case FieldDescriptor::CPPTYPE_BOOL:
          fd->is_repeated() ? r->AddBool(&m, fd, true) : r->SetBool(&m, fd, true);
          break;
        default:
          FAIL() << "no filler for field " << fd->full_name();
      }
    }
  }
}

// Adds an unknown field to `m` and to every message inside it.
void add_unknown(Message& m) {
  m.GetReflection()->MutableUnknownFields(&m)->AddVarint(1000, 1);
  std::vector<const FieldDescriptor*> fds;
  m.GetReflection()->ListFields(m, &fds);
  for (const FieldDescriptor* fd : fds) {
    if (fd->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    if (fd->is_repeated()) {
      for (int i = 0; i < m.GetReflection()->FieldSize(m, fd); ++i)
        add_unknown(*m.GetReflection()->MutableRepeatedMessage(&m, fd, i));
    } else {
      add_unknown(*m.GetReflection()->MutableMessage(&m, fd));
    }
  }
}

bool has_unknown(const Message& m) {
  if (!m.GetReflection()->GetUnknownFields(m).empty()) return true;
  std::vector<const FieldDescriptor*> fds;
  m.GetReflection()->ListFields(m, &fds);
  for (const FieldDescriptor* fd : fds) {
    if (fd->cpp_type() != FieldDescriptor::CPPTYPE_MESSAGE) continue;
    for (int i = 0; i < (fd->is_repeated() ? m.GetReflection()->FieldSize(m, fd) : 1); ++i)
      if (has_unknown(fd->is_repeated() ? m.GetReflection()->GetRepeatedMessage(m, fd, i)
                                        : m.GetReflection()->GetMessage(m, fd)))
        return true;
  }
  return false;
}

// Every field of `group` but its OR-set fields and `skip`.
ops::Fields writable(std::uint32_t group, const Message& m, const std::vector<int>& skip) {
  ops::Fields out;
  const auto* d = m.GetDescriptor();
  for (int f = 0; f < d->field_count(); ++f) {
    auto n = static_cast<std::uint32_t>(d->field(f)->number());
    if (!is_set_field(group, n) && std::find(skip.begin(), skip.end(), static_cast<int>(n)) == skip.end())
      out.push_back(n);
  }
  return out;
}

// The bytes of `m` without its OR-set fields and those in `skip` (derived
// ones such as a reservation's decision).
std::string bytes_without_sets(Message& m, std::uint32_t group, const std::vector<int>& skip) {
  const auto* d = m.GetDescriptor();
  for (int f = 0; f < d->field_count(); ++f) {
    int n = d->field(f)->number();
    if (is_set_field(group, static_cast<std::uint32_t>(n)) || std::find(skip.begin(), skip.end(), n) != skip.end())
      m.GetReflection()->ClearField(&m, d->field(f));
  }
  return m.SerializeAsString();
}

// The fold copies each written field by the group's generated accessors
// (and by reflection for a field it has no accessor case for): whichever
// way, a write listing every field leaves the state's group equal to what
// was written, and unknown fields anywhere in the written values never reach
// the state (they would make states differ between versions).
TEST_F(MobilityFold, EveryWrittenFieldIsCopiedAndUnknownFieldsAreDropped) {
  struct Case {
    std::uint32_t group;
    RecordKey key;
    std::vector<int> skip;  // references (checked against the chains) and derived fields
    std::function<v1::Operation(const Message&, const ops::Fields&)> write;
    std::function<Message&(v1::RecordState&)> in_state;
    Author* by;
  };
  RecordKey pl = a.next_key(v1::PLACEMENT), ct = a.next_key(v1::CONTACT), rs = a.next_key(v1::RESERVATION);
  std::vector<Case> cases = {
      {kGroupOrganisation,
       org_a,
       {v1::Organisation::kSpeakerFieldNumber},
       [&](const Message& m, const ops::Fields& f) {
         return ops::write_organisation(org_a, static_cast<const v1::Organisation&>(m), f);
       },
       [](v1::RecordState& st) -> Message& { return *st.mutable_organisation(); },
       &a},
      {kGroupPlacement,
       pl,
       {v1::Placement::kHostOrganisationFieldNumber, v1::Placement::kMentorContactFieldNumber},
       [&](const Message& m, const ops::Fields& f) {
         return ops::write_placement(pl, static_cast<const v1::Placement&>(m), f);
       },
       [](v1::RecordState& st) -> Message& { return *st.mutable_placement(); },
       &a},
      {kGroupContact,
       ct,
       {v1::Contact::kOrganisationFieldNumber},
       [&](const Message& m, const ops::Fields& f) {
         return ops::write_contact(ct, static_cast<const v1::Contact&>(m), f);
       },
       [](v1::RecordState& st) -> Message& { return *st.mutable_contact(); },
       &a},
      {kGroupReservation,
       rs,
       {v1::Reservation::kDecisionFieldNumber},
       [&](const Message& m, const ops::Fields& f) {
         return ops::write_reservation(rs, static_cast<const v1::Reservation&>(m), f);
       },
       [](v1::RecordState& st) -> Message& { return *st.mutable_reservation(); },
       &a},
      {kGroupMobilitySending,
       mob,
       {},
       [&](const Message& m, const ops::Fields& f) {
         return ops::write_mobility_sending(mob, static_cast<const v1::MobilitySending&>(m), f);
       },
       [](v1::RecordState& st) -> Message& { return *st.mutable_mobility()->mutable_sending(); },
       &a},
      {kGroupMobilityHost,
       mob,
       {},
       [&](const Message& m, const ops::Fields& f) {
         return ops::write_mobility_host(mob, org_b, static_cast<const v1::MobilityHost&>(m), f);
       },
       [](v1::RecordState& st) -> Message& { return *st.mutable_mobility()->mutable_host(); },
       &b},
  };
  for (auto& k : cases) {
    SCOPED_TRACE("group " + std::to_string(k.group));
    v1::RecordState proto;
    std::unique_ptr<Message> value(k.in_state(proto).New());
    fill(*value, 7, k.skip);
    ops::Fields fields = writable(k.group, *value, k.skip);
    std::unique_ptr<Message> odd(value->New());
    odd->CopyFrom(*value);
    add_unknown(*odd);
    ASSERT_TRUE(has_unknown(*odd));
    Deltas ds = created, with_unknown = created;
    ds.push_back(k.by->emit({k.write(*value, fields)}));
    with_unknown.push_back(ds.back());
    with_unknown.back() = k.by->emit({k.write(*odd, fields)});
    v1::RecordState st = fold_from(k.key, ds);
    ASSERT_TRUE(st.rejected().empty()) << st.rejected(0).detail();
    EXPECT_EQ(bytes_without_sets(k.in_state(st), k.group, k.skip), bytes_without_sets(*value, k.group, k.skip));
    v1::RecordState st2 = fold_from(k.key, with_unknown);
    ASSERT_TRUE(st2.rejected().empty()) << st2.rejected(0).detail();
    EXPECT_FALSE(has_unknown(st2));
    EXPECT_EQ(bytes_without_sets(k.in_state(st2), k.group, k.skip), bytes_without_sets(*value, k.group, k.skip));
  }
  // The creating write's fixed fields, too.
  RecordKey m2 = a.next_key(v1::MOBILITY);
  v1::MobilityFixed f = fixed;
  f.mutable_participant()->mutable_personal()->set_commitment(std::string(32, 'c'));
  v1::MobilityFixed odd = f;
  add_unknown(odd);
  v1::RecordState st = fold_from(m2, {setup[0], setup[1], a.emit(ops::create_mobility(m2, odd))});
  ASSERT_TRUE(st.created());
  EXPECT_FALSE(has_unknown(st));
  EXPECT_EQ(st.mobility().fixed().SerializeAsString(), f.SerializeAsString());
}

}  // namespace
}  // namespace conect
