// The replicated roster in the LMDB store (crdt/membership.h): the store
// derives it from the membership deltas it holds, folds every record under
// it, and refolds a member's records when a later membership delta changes
// its standing, so a removed member's writes after the cut count on no node,
// whatever order its deltas and the removal arrive in.
#include <gtest/gtest.h>

#include "conect/crdt/membership.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/replica.h"
#include "conect/crdt/testkit/author.h"
#include "conect/storage/lmdb.h"
#include "conect/storage/store.h"
#include "history.h"

namespace conect::storage {
namespace {

using testing::open_store;
using testing::TempDir;
using testkit::Author;
namespace mops = membership_ops;

v1::MemberCard card_of(const KeyPair& key, v1::MemberRole role = v1::SCHOOL) {
  v1::MemberCardBody b;
  b.set_federation(testkit::test_federation().raw());
  b.set_node_id(key.public_key().raw());
  b.set_name("member");
  b.set_country("FI");
  b.set_role(role);
  b.set_issued_ms(1);
  return sign_card(key, b);
}

v1::Organisation in_city(const std::string& city) {
  v1::Organisation o;
  o.set_city(city);
  return o;
}

struct Federation {
  Author a{1}, b{2};
  RecordKey org = b.next_key(v1::ORGANISATION);
  VerifiedDelta found = a.emit({mops::found(card_of(a.key()), 1)});
  VerifiedDelta admit_b = a.emit({mops::admit(card_of(b.key()))});
  VerifiedDelta b1 = b.emit({ops::write_organisation(org, in_city("Oulu"), {5})}, {delta_ref(admit_b)});
  VerifiedDelta b2 = b.emit({ops::write_organisation(org, in_city("Kemi"), {5})});
  VerifiedDelta remove_b = a.emit({mops::remove(b.id(), Seq{2})}, {delta_ref(b2)});
  VerifiedDelta b3 = b.emit({ops::write_organisation(org, in_city("Tornio"), {5})});
};

std::unique_ptr<Store> fresh_store(const TempDir& t, const std::string& name) {
  auto s = open_store(t / name);
  if (s) {
    EXPECT_TRUE(s->initialise(testkit::test_federation(), testkit::test_key(50).public_key()).ok());
  }
  return s;
}

void apply_each(Store& s, const std::vector<VerifiedDelta>& deltas) {
  for (const auto& d : deltas) {
    auto out = s.apply({d});
    ASSERT_TRUE(out.ok()) << out.error().message();
    ASSERT_EQ(out->applied.size(), 1u) << "delta " << d.seq.value << " of " << d.origin.hex().substr(0, 8);
  }
}

std::string city(const Store& s, const RecordKey& key) {
  auto r = s.record(key);
  return r.ok() && *r ? (*r)->organisation().city() : "<none>";
}

TEST(StoreMembership, ARemovedMembersLaterWritesCountNowhereWhateverTheOrder) {
  Federation f;
  TempDir t;
  // Node 1 holds the removal before b's late write; node 2 receives the late
  // write first (from a relay) and the removal after it.
  auto one = fresh_store(t, "one");
  auto two = fresh_store(t, "two");
  ASSERT_TRUE(one && two);
  apply_each(*one, {f.found, f.admit_b, f.b1, f.b2, f.remove_b, f.b3});
  apply_each(*two, {f.found, f.admit_b, f.b1, f.b2, f.b3});
  EXPECT_EQ(city(*two, f.org), "Tornio");  // before the removal arrives it counts
  apply_each(*two, {f.remove_b});
  EXPECT_EQ(city(*one, f.org), "Kemi");
  EXPECT_EQ(city(*two, f.org), "Kemi");
  EXPECT_EQ(*one->digest(), *two->digest());
  EXPECT_EQ(*two->digest(), *two->digest_recomputed());
  auto state = two->record(f.org);
  ASSERT_TRUE(state.ok() && *state);
  ASSERT_EQ((*state)->rejected_size(), 1);
  EXPECT_EQ((*state)->rejected(0).position().seq(), 3u);
  auto roster = two->roster();
  ASSERT_TRUE(roster.ok());
  EXPECT_EQ((*roster)->member(f.b.id())->cut, Seq{2});
  EXPECT_EQ((*roster)->fingerprint(), (*one->roster())->fingerprint());
}

// A decided cut is final in the store too: a's second vote against b (as a
// buggy or hostile member writes it, or a relay hands over late) arrives
// after the removal, on one node after b's late write and on the other
// before it. The store took each voter's latest vote, so the cut moved to 3
// and b's post-removal write ("Tornio") counted again on both.
TEST(StoreMembership, ALateVoteDoesNotMoveADecidedCut) {
  Federation f;
  TempDir t;
  VerifiedDelta again = f.a.emit({mops::remove(f.b.id(), Seq{3})}, {delta_ref(f.b2)});
  auto one = fresh_store(t, "one");
  auto two = fresh_store(t, "two");
  ASSERT_TRUE(one && two);
  apply_each(*one, {f.found, f.admit_b, f.b1, f.b2, f.remove_b, f.b3, again});
  apply_each(*two, {f.found, f.admit_b, f.b1, f.b2, f.remove_b, again, f.b3});
  for (const Store* s : {one.get(), two.get()}) {
    EXPECT_EQ(city(*s, f.org), "Kemi");
    auto roster = s->roster();
    ASSERT_TRUE(roster.ok());
    EXPECT_EQ((*roster)->member(f.b.id())->cut, Seq{2});
    ASSERT_EQ((*roster)->rejected().size(), 1u);
    EXPECT_EQ((*roster)->rejected().front().seq, again.seq);
  }
  EXPECT_EQ(*one->digest(), *two->digest());
}

TEST(StoreMembership, TheRosterSurvivesAReopenAndItsIndexIsRebuiltForNewRules) {
  Federation f;
  TempDir t;
  std::string fingerprint;
  {
    auto s = fresh_store(t, "s");
    ASSERT_TRUE(s);
    apply_each(*s, {f.found, f.admit_b, f.b1});
    fingerprint = (*s->roster())->fingerprint();
    EXPECT_TRUE((*s->roster())->admitted(f.b.id()));
  }
  {
    auto s = open_store(t / "s");
    ASSERT_TRUE(s);
    EXPECT_EQ((*s->roster())->fingerprint(), fingerprint);
  }
  // A store an older build wrote (its membership operations stored as
  // unknown kinds, unindexed, folded under rules 2): opening it indexes them.
  {
    lmdb::EnvOptions eo;
    eo.flags = MDB_NOTLS;
    eo.map_size = std::uint64_t{1} << 30;
    auto env = lmdb::Env::open(t / "s", eo);
    ASSERT_TRUE(env.ok());
    lmdb::WriteTxn txn = env->begin_write();
    lmdb::Dbi meta = txn.open_db("meta", 0);
    ASSERT_TRUE(txn.del(meta, "fold_rules"));
    ASSERT_TRUE(txn.del(meta, "membership_tag"));
    lmdb::Dbi index = txn.open_db("membership", 0);
    ASSERT_TRUE(txn.del(index, testkit::test_key(1).public_key().raw() + std::string("\0\0\0\0\0\0\0\x01", 8)));
    txn.commit();
  }
  auto s = open_store(t / "s");
  ASSERT_TRUE(s);
  EXPECT_EQ((*s->roster())->fingerprint(), fingerprint);
}

TEST(StoreMembership, MembershipOperationsAreNotCountedAsUnknown) {
  Federation f;
  TempDir t;
  auto s = fresh_store(t, "s");
  ASSERT_TRUE(s);
  apply_each(*s, {f.found, f.admit_b});
  EXPECT_EQ(*s->unknown_operations(), 0u);
  auto ev = s->evidence();
  ASSERT_TRUE(ev.ok());
  EXPECT_TRUE(ev->empty());
}

}  // namespace
}  // namespace conect::storage
