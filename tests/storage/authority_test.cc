// The merge's roster and reference rules in the LMDB store (conect/crdt/
// authority.h): the store folds like the reference Replica with the same
// roster, whatever the batches; a card that changes a member's role refolds
// that member's records in the same transaction; operations of unknown
// kinds are kept, counted and change nothing.
#include <gtest/gtest.h>

#include <google/protobuf/unknown_field_set.h>

#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/history.h"
#include "conect/storage/lmdb.h"
#include "conect/storage/store.h"
#include "history.h"

namespace conect::storage {
namespace {

using testing::open_store;
using testing::TempDir;

// A card that says only what the merge reads (the role); the store does not
// check card signatures (the CLI does before put_member).
v1::MemberCard card(const NodeId& id, v1::MemberRole role) {
  v1::MemberCardBody body;
  body.set_federation(testkit::test_federation().raw());
  body.set_node_id(id.raw());
  body.set_role(role);
  v1::MemberCard c;
  c.set_body(body.SerializeAsString());
  c.set_signature(std::string(64, 's'));
  return c;
}

void put_roster(Store& s, const LocalRoster& roster) {
  for (const auto& [id, role] : roster.roles()) ASSERT_TRUE(s.put_member(id, card(id, role)).ok());
}

// Applies `deltas` (a valid order) in batches of 1-40.
void apply_in_batches(Store& s, const std::vector<VerifiedDelta>& deltas, std::mt19937_64& rng) {
  for (std::size_t at = 0; at < deltas.size();) {
    std::size_t n = std::min<std::size_t>(deltas.size() - at, 1 + rng() % 40);
    std::vector<VerifiedDelta> batch(deltas.begin() + static_cast<long>(at),
                                     deltas.begin() + static_cast<long>(at + n));
    auto out = s.apply(std::move(batch));
    ASSERT_TRUE(out.ok()) << out.error().message();
    ASSERT_EQ(out->applied.size(), n);
    at += n;
  }
}

testkit::History hostile_history(std::uint64_t seed) {
  testkit::HistoryOptions o;
  o.seed = seed;
  o.deltas = 300;
  o.auditors = 1;
  o.unauthorised = 0.2;
  return testkit::generate_history(o);
}

TEST(StoreAuthority, HostileReferencesAndAuditorsAreRejectedAsByTheReplica) {
  for (std::uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    TempDir t;
    auto s = open_store(t / "store");
    ASSERT_TRUE(s);
    auto h = hostile_history(seed);
    put_roster(*s, h.roster);
    std::mt19937_64 rng(seed);
    apply_in_batches(*s, h.deltas, rng);
    Replica r;
    r.set_roster(h.roster);
    for (const auto& d : h.deltas) ASSERT_TRUE(r.apply(d).ok());
    testing::expect_same_state(*s, r);
    std::size_t rejected = 0;
    for (const auto& [key, rec] : r.records()) rejected += static_cast<std::size_t>(rec.state.rejected_size());
    EXPECT_EQ(rejected, h.unauthorised_ops);
  }
}

TEST(StoreAuthority, ACardThatChangesARoleRefoldsThatMembersRecords) {
  TempDir t;
  auto s = open_store(t / "store");
  ASSERT_TRUE(s);
  auto h = hostile_history(7);
  LocalRoster trusting;  // the auditor's card not known yet: it looks like a company
  for (auto [id, role] : h.roster.roles()) trusting.set(id, role == v1::AUDITOR ? v1::COMPANY : role);
  put_roster(*s, trusting);
  std::mt19937_64 rng(7);
  apply_in_batches(*s, h.deltas, rng);
  Replica before;
  before.set_roster(trusting);
  for (const auto& d : h.deltas) ASSERT_TRUE(before.apply(d).ok());
  testing::expect_same_state(*s, before);

  // Its real card arrives: everything it authored stops counting, on disk too.
  const NodeId& auditor = h.members.back();
  ASSERT_TRUE(s->put_member(auditor, card(auditor, v1::AUDITOR)).ok());
  Replica after = before;
  after.set_roster(h.roster);
  ASSERT_NE(after.digest(), before.digest());
  testing::expect_same_state(*s, after);

  // Same card again: nothing to do. Removed: no role, its records count again.
  ASSERT_TRUE(s->put_member(auditor, card(auditor, v1::AUDITOR)).ok());
  testing::expect_same_state(*s, after);
  ASSERT_TRUE(s->remove_member(auditor).ok());
  LocalRoster without = h.roster;
  without.set(auditor, std::nullopt);
  after.set_roster(without);
  EXPECT_EQ(after.digest(), before.digest());
  testing::expect_same_state(*s, after);
}

// The roster keeps exactly what the card's signature covers: unsigned extra
// fields in the wrapper would otherwise be stored and exported in audit bundles.
TEST(StoreAuthority, ARosterCardIsStoredWithoutUnsignedPadding) {
  TempDir t;
  auto s = open_store(t / "store");
  NodeId id = KeyPair::generate().public_key();
  v1::MemberCard padded = card(id, v1::SCHOOL);
  padded.GetReflection()->MutableUnknownFields(&padded)->AddLengthDelimited(15, std::string(100'000, 'x'));
  ASSERT_TRUE(s->put_member(id, padded).ok());
  auto stored = s->member(id);
  ASSERT_TRUE(stored.ok() && stored->has_value());
  EXPECT_EQ((*stored)->SerializeAsString(), card(id, v1::SCHOOL).SerializeAsString());
}

// A store folded under older merge rules (0.2.0's: no fold_rules in meta)
// is refolded once when opened, so an upgraded node holds what a new one
// folds. Simulated by stripping the marker and blanking a record's state.
TEST(StoreAuthority, AStoreFoldedUnderOlderRulesIsRefoldedWhenOpened) {
  TempDir t;
  auto h = hostile_history(5);
  Replica r;
  r.set_roster(h.roster);
  for (const auto& d : h.deltas) ASSERT_TRUE(r.apply(d).ok());
  RecordKey victim = r.records().rbegin()->first;
  {
    auto s = open_store(t / "store");
    ASSERT_TRUE(s);
    put_roster(*s, h.roster);
    std::mt19937_64 rng(5);
    apply_in_batches(*s, h.deltas, rng);
  }
  {
    lmdb::EnvOptions eo;
    eo.flags = MDB_NOTLS;
    eo.map_size = std::uint64_t{1} << 30;
    auto env = lmdb::Env::open(t / "store", eo);
    ASSERT_TRUE(env.ok());
    lmdb::WriteTxn txn = env->begin_write();
    ASSERT_TRUE(txn.del(txn.open_db("meta", 0), "fold_rules"));
    v1::RecordState stale;
    stale.set_created(r.record(victim)->state.created());  // counts stay as they were
    // `records` keeps a state without the type and id its key says (schema 4),
    // in the database of its type (schema 5).
    constexpr const char* kTypeNames[] = {"", "organisation", "placement", "reservation", "mobility", "contact"};
    // Its key holds the owner as its node code (schema 6: node_codes, 'i' || id -> code).
    auto code = txn.get(txn.open_db("node_codes", 0), "i" + victim.owner.raw());
    ASSERT_TRUE(code.has_value());
    const std::string key = victim.encode().substr(0, 1) + std::string(*code) + victim.encode().substr(33);
    txn.put(txn.open_db((std::string("records_") + kTypeNames[victim.type]).c_str(), 0), key, serialize_state(stale));
    stale.set_type(victim.type);
    *stale.mutable_id() = victim.to_proto();
    // ... with a digest that agrees with it, as an old build's would.
    lmdb::Dbi meta = txn.open_db("meta", 0);
    StateDigest digest = StateDigest::from(*Hash256::from_raw(*txn.get(meta, "digest")));
    digest.subtract(record_hash(victim, r.record(victim)->bytes));
    digest.add(record_hash(victim, serialize_state(stale)));
    txn.put(meta, "digest", digest.value().raw());
    txn.commit();
  }
  auto s = open_store(t / "store");
  ASSERT_TRUE(s);
  testing::expect_same_state(*s, r);
}

// A delta from a newer version: an operation of a kind this one does not
// know (here field 40 of Operation) next to one it knows.
TEST(StoreAuthority, UnknownOperationsAreKeptCountedAndChangeNothing) {
  TempDir t;
  auto s = open_store(t / "store");
  ASSERT_TRUE(s);
  testkit::Author a(1);
  RecordKey org = a.next_key(v1::ORGANISATION, 1);
  v1::Operation future;
  future.GetReflection()->MutableUnknownFields(&future)->AddLengthDelimited(40, "a newer operation");
  std::vector<v1::Operation> ops{future};
  for (auto& op : ops::create_organisation(org, {})) ops.push_back(op);
  auto out = s->apply({a.emit(ops)});
  ASSERT_TRUE(out.ok()) << out.error().message();
  ASSERT_EQ(out->applied.size(), 1u);
  EXPECT_EQ(*s->unknown_operations(), 1u);
  auto st = s->record(org);
  ASSERT_TRUE(st.ok() && *st);
  EXPECT_TRUE((*st)->created());
  EXPECT_EQ((*st)->rejected_size(), 0);
  auto evidence = s->evidence();
  ASSERT_TRUE(evidence.ok());
  ASSERT_EQ(evidence->size(), 1u);
  EXPECT_EQ((*evidence)[0].rejected_operation().reason(), "unknown_operation");
  EXPECT_EQ(*s->digest(), *s->digest_recomputed());
  // The delta is stored as it was signed: the chain goes on from it.
  auto next = s->apply({a.emit(ops::create_organisation(a.next_key(v1::ORGANISATION), {}))});
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->applied.size(), 1u);
}

}  // namespace
}  // namespace conect::storage
