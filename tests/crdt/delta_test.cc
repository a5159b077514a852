// Signed deltas: single verification against any flipped byte, range
// verification (links + last signature), and authenticity vs authority.
#include <google/protobuf/stubs/logging.h>
#include <gtest/gtest.h>

#include "conect/crdt/delta.h"
#include "conect/crdt/merge.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/replica.h"
#include "conect/crdt/testkit/author.h"

namespace conect {
namespace {

using testkit::Author;
using testkit::test_federation;

v1::Organisation city(const std::string& name) {
  v1::Organisation o;
  o.set_city(name);
  return o;
}

std::vector<VerifiedDelta> chain(Author& author, int n) {
  std::vector<VerifiedDelta> out;
  RecordKey org = author.next_key(v1::ORGANISATION);
  for (int i = 0; i < n; ++i)
    out.push_back(author.emit({ops::write_organisation(org, city("City " + std::to_string(i)), {5})}));
  return out;
}

std::vector<v1::SignedDelta> signed_of(const std::vector<VerifiedDelta>& ds, std::size_t from = 0) {
  std::vector<v1::SignedDelta> out;
  for (std::size_t i = from; i < ds.size(); ++i) out.push_back(ds[i].signed_delta);
  return out;
}

TEST(Delta, BuildThenVerifySingleRoundTrips) {
  Author a(1);
  auto ds = chain(a, 2);
  auto v = verify_single(test_federation(), ds[1].signed_delta);
  ASSERT_TRUE(v.ok()) << v.error().message();
  EXPECT_EQ(v->origin, a.id());
  EXPECT_EQ(v->seq, Seq{2});
  EXPECT_EQ(v->prev, ds[0].id);
  EXPECT_EQ(v->hlc, ds[1].hlc);
  EXPECT_EQ(v->id, compute_delta_id(ds[1].signed_delta.body(), ds[1].signed_delta.signature()));
  EXPECT_EQ(v->body.ops_size(), 1);
  auto first = verify_single(test_federation(), ds[0].signed_delta);
  ASSERT_TRUE(first.ok());
  EXPECT_TRUE(first->prev.is_zero());
  EXPECT_TRUE(first->body.prev().empty());
}

TEST(Delta, FlippingAnySingleByteOfBodyOrSignatureIsRejected) {
  Author a(1);
  auto ds = chain(a, 2);
  const v1::SignedDelta& good = ds[1].signed_delta;
  // Flipped bytes inside strings make protobuf log invalid UTF-8: expected here.
  auto* previous_handler = google::protobuf::SetLogHandler(nullptr);
  ASSERT_GT(good.body().size(), 100u);
  int checked = 0;
  for (std::uint8_t mask : {0x01, 0x80, 0xff}) {
    for (std::size_t i = 0; i < good.body().size(); ++i) {
      v1::SignedDelta bad = good;
      (*bad.mutable_body())[i] = static_cast<char>(bad.body()[i] ^ mask);
      ASSERT_FALSE(verify_single(test_federation(), bad).ok()) << "body byte " << i << " mask " << int{mask};
      ++checked;
    }
    for (std::size_t i = 0; i < good.signature().size(); ++i) {
      v1::SignedDelta bad = good;
      (*bad.mutable_signature())[i] = static_cast<char>(bad.signature()[i] ^ mask);
      auto r = verify_single(test_federation(), bad);
      ASSERT_FALSE(r.ok()) << "signature byte " << i;
      EXPECT_TRUE(r.error().is(Errc::bad_signature));
      ++checked;
    }
  }
  // And every byte of the serialised envelope, as it travels.
  std::string wire = good.SerializeAsString();
  for (std::size_t i = 0; i < wire.size(); ++i) {
    std::string bad = wire;
    bad[i] = static_cast<char>(bad[i] ^ 0x01);
    auto d = decode_delta(test_federation(), bad);
    if (!d.ok()) continue;
    EXPECT_FALSE(verify_single(test_federation(), d->signed_delta).ok()) << "wire byte " << i;
  }
  EXPECT_GT(checked, 300);
  google::protobuf::SetLogHandler(previous_handler);
}

TEST(Delta, DecodeRejectsForeignOversizedAndMalformedDeltas) {
  Author a(1);
  auto ds = chain(a, 1);
  FederationId other = test_federation();
  other.bytes[0] ^= 1;
  EXPECT_TRUE(verify_single(other, ds[0].signed_delta).error().is(Errc::wrong_federation));
  EXPECT_TRUE(decode_delta(test_federation(), std::string(kMaxDeltaBytes + 1, 'x')).error().is(Errc::limit_exceeded));
  EXPECT_TRUE(decode_delta(test_federation(), std::string("\xff\xff\xff", 3)).error().is(Errc::malformed_body));
  v1::SignedDelta short_sig = ds[0].signed_delta;
  short_sig.mutable_signature()->pop_back();
  EXPECT_TRUE(decode_delta(test_federation(), short_sig).error().is(Errc::malformed_body));

  // Bodies that parse but break the chain rules, correctly signed.
  auto sign_body = [&](const v1::DeltaBody& body) {
    v1::SignedDelta sd;
    sd.set_body(body.SerializeAsString());
    sd.set_signature(a.key().sign(SigningDomain::delta, sd.body()).raw());
    return sd;
  };
  v1::DeltaBody seq0 = ds[0].body;
  seq0.set_seq(0);
  EXPECT_TRUE(verify_single(test_federation(), sign_body(seq0)).error().is(Errc::malformed_body));
  v1::DeltaBody first_with_prev = ds[0].body;
  first_with_prev.set_prev(std::string(32, 'p'));
  EXPECT_TRUE(verify_single(test_federation(), sign_body(first_with_prev)).error().is(Errc::malformed_body));
  v1::DeltaBody short_prev = ds[0].body;
  short_prev.set_seq(2);
  short_prev.set_prev("abc");
  EXPECT_TRUE(verify_single(test_federation(), sign_body(short_prev)).error().is(Errc::malformed_body));
  v1::DeltaBody bad_origin = ds[0].body;
  bad_origin.set_origin("short");
  EXPECT_TRUE(verify_single(test_federation(), sign_body(bad_origin)).error().is(Errc::malformed_body));
}

TEST(DeltaRange, AcceptsAValidRangeFromTheStartOrFromAHead) {
  Author a(1);
  auto ds = chain(a, 6);
  auto all = verify_range(test_federation(), DeltaId{}, signed_of(ds));
  ASSERT_TRUE(all.ok()) << all.error().message();
  ASSERT_EQ(all->size(), 6u);
  for (std::size_t i = 0; i < 6; ++i) EXPECT_EQ((*all)[i].id, ds[i].id);
  auto tail = verify_range(test_federation(), ds[1].id, signed_of(ds, 2));
  ASSERT_TRUE(tail.ok()) << tail.error().message();
  EXPECT_EQ(tail->front().seq, Seq{3});
  EXPECT_TRUE(verify_range(test_federation(), DeltaId{}, {}).ok());
}

TEST(DeltaRange, RejectsGapsReorderingWrongHeadAndBadLastSignature) {
  Author a(1);
  auto ds = chain(a, 5);
  auto missing = signed_of(ds);
  missing.erase(missing.begin() + 2);
  EXPECT_TRUE(verify_range(test_federation(), DeltaId{}, missing).error().is(Errc::sequence_gap));
  auto reordered = signed_of(ds);
  std::swap(reordered[2], reordered[3]);
  EXPECT_TRUE(verify_range(test_federation(), DeltaId{}, reordered).error().is(Errc::sequence_gap));
  EXPECT_TRUE(verify_range(test_federation(), ds[0].id, signed_of(ds, 2)).error().is(Errc::broken_chain));
  EXPECT_TRUE(verify_range(test_federation(), DeltaId{}, signed_of(ds, 1)).error().is(Errc::broken_chain));
  auto bad_last = signed_of(ds);
  (*bad_last.back().mutable_signature())[5] ^= 0x20;
  auto r = verify_range(test_federation(), DeltaId{}, bad_last);
  EXPECT_TRUE(r.error().is(Errc::bad_signature)) << r.error().message();
  // A delta from another chain of the same origin breaks the links.
  Author twin(1);
  auto other = chain(twin, 5);
  auto mixed = signed_of(ds);
  mixed[3] = other[3].signed_delta;
  EXPECT_TRUE(verify_range(test_federation(), DeltaId{}, mixed).error().is(Errc::broken_chain));
  // And one of another origin is refused outright.
  Author b(2);
  auto bs = chain(b, 5);
  mixed = signed_of(ds);
  mixed[4] = bs[4].signed_delta;
  EXPECT_FALSE(verify_range(test_federation(), DeltaId{}, mixed).ok());
}

// DESIGN §4: one valid signature at the end of a contiguous range vouches
// for every delta and signature before it, because each link covers the
// previous signature. So a range whose inner deltas carry invalid signatures
// (a bulk import that signs only the last delta of each batch) is accepted
// by verify_range, while each inner delta alone fails verify_single. An inner
// signature altered AFTER the chain was linked changes that delta's id and
// breaks the next link instead.
TEST(DeltaRange, OnlyTheLastSignatureIsCheckedInsideAnIntactChain) {
  Author a(1);
  RecordKey org = a.next_key(v1::ORGANISATION);
  std::vector<VerifiedDelta> ds;
  DeltaId prev;
  for (std::uint64_t s = 1; s <= 4; ++s) {
    DeltaDraft draft{{ops::write_organisation(org, city("C" + std::to_string(s)), {5})}, {}};
    VerifiedDelta d = build_delta(a.key(), test_federation(), Seq{s}, prev, Hlc::make(1000 + s, 0), draft);
    if (s < 4) {  // unsigned inner delta, linked as it is
      d.signed_delta.set_signature(std::string(64, '\0'));
      d.id = compute_delta_id(d.signed_delta.body(), d.signed_delta.signature());
    }
    prev = d.id;
    ds.push_back(d);
  }
  auto r = verify_range(test_federation(), DeltaId{}, signed_of(ds));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->size(), 4u);
  for (int i = 0; i < 3; ++i)
    EXPECT_TRUE(verify_single(test_federation(), ds[i].signed_delta).error().is(Errc::bad_signature));
  EXPECT_TRUE(verify_single(test_federation(), ds[3].signed_delta).ok());
  // Without the signed last delta the same range is not authentic.
  auto head_only = signed_of(ds);
  head_only.pop_back();
  EXPECT_TRUE(verify_range(test_federation(), DeltaId{}, head_only).error().is(Errc::bad_signature));
  // Tampering with an inner signature after linking breaks the next link.
  Author b(2);
  auto signed_chain = chain(b, 4);
  auto tampered = signed_of(signed_chain);
  (*tampered[1].mutable_signature())[0] ^= 1;
  EXPECT_TRUE(verify_range(test_federation(), DeltaId{}, tampered).error().is(Errc::broken_chain));
}

TEST(DeltaAuthority, AuthenticDeltaForSomeoneElsesRecordIsRejectedByTheFold) {
  Author a(1), b(2);
  RecordKey org_a = a.next_key(v1::ORGANISATION);
  VerifiedDelta a1 = a.emit({ops::write_organisation(org_a, city("Oulu"), {5})});
  // b signs, as itself, a write to a's record: authentic, not authorised.
  VerifiedDelta b1 = b.emit({ops::write_organisation(org_a, city("Hijacked"), {5})});
  ASSERT_TRUE(verify_single(test_federation(), b1.signed_delta).ok());
  Replica r;
  ASSERT_TRUE(r.apply(a1).ok());
  ASSERT_TRUE(r.apply(b1).ok());  // stored: it is a fact that b said it
  const v1::RecordState& st = r.record(org_a)->state;
  EXPECT_EQ(st.organisation().city(), "Oulu");
  ASSERT_EQ(st.rejected_size(), 1);
  EXPECT_EQ(st.rejected(0).rule(), "not_authorised");
  EXPECT_EQ(st.rejected(0).position().origin(), b.id().raw());
  // b re-signing a's own body cannot pass as a's: the signature must be the origin's.
  v1::SignedDelta resigned = a1.signed_delta;
  resigned.set_signature(b.key().sign(SigningDomain::delta, resigned.body()).raw());
  EXPECT_TRUE(verify_single(test_federation(), resigned).error().is(Errc::bad_signature));
}

TEST(DeltaAuthority, EquivocationIsDetectedByTheReplica) {
  Author a(1);
  RecordKey org = a.next_key(v1::ORGANISATION);
  VerifiedDelta a1 = a.emit({ops::write_organisation(org, city("One"), {5})});
  VerifiedDelta left = a.emit_fork({ops::write_organisation(org, city("Left"), {5})});
  VerifiedDelta right = a.emit({ops::write_organisation(org, city("Right"), {5})});
  ASSERT_TRUE(verify_single(test_federation(), left.signed_delta).ok());
  ASSERT_TRUE(verify_single(test_federation(), right.signed_delta).ok());
  Replica r1, r2;
  for (Replica* r : {&r1, &r2}) ASSERT_TRUE(r->apply(a1).ok());
  ASSERT_TRUE(r1.apply(left).ok());
  ASSERT_TRUE(r2.apply(right).ok());
  EXPECT_NE(r1.digest(), r2.digest());
  EXPECT_TRUE(r1.apply(right).error().is(Errc::equivocation));
  EXPECT_TRUE(r2.apply(left).error().is(Errc::equivocation));
  EXPECT_EQ(r1.digest(), r2.digest());  // both froze at seq 1
  EXPECT_EQ(r1.record(org)->state.organisation().city(), "One");
}

}  // namespace
}  // namespace conect
