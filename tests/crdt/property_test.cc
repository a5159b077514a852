// The CRDT laws over random histories (DESIGN §3): every replica that holds
// the same deltas holds the same bytes, whatever the order of arrival and
// however often a delta arrives; merging is idempotent, commutative and
// associative; and no replica ever shows a window confirmed beyond capacity,
// at any step. A failure names its seed: rerun with
//   CONECT_PROPERTY_SEED=<seed> ./conect_crdt_property_tests --gtest_filter='Shard/CrdtLaws.*/0'
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "conect/crdt/replica.h"
#include "conect/crdt/testkit/author.h"
#include "conect/crdt/testkit/history.h"

namespace conect {
namespace {

using testkit::deliver_shuffled;
using testkit::generate_history;
using testkit::History;
using testkit::HistoryOptions;
using testkit::merge_into;

constexpr std::uint64_t kSeeds = 200;
constexpr std::uint64_t kShards = 4;  // separate tests, so ctest -j runs them side by side
constexpr std::size_t kDeltas = 1000;
constexpr std::uint64_t kMergeEvery = 20;  // every 20th seed of a shard also checks the merge laws

std::vector<std::uint64_t> seeds(std::uint64_t shard) {
  if (const char* one = std::getenv("CONECT_PROPERTY_SEED")) {
    if (shard != 0) return {};
    return {std::strtoull(one, nullptr, 10)};
  }
  std::vector<std::uint64_t> out;
  for (std::uint64_t s = 1 + shard; s <= kSeeds; s += kShards) out.push_back(s);
  return out;
}

// Record bytes of two replicas are equal, key by key; returns the first difference.
std::string first_difference(const Replica& a, const Replica& b) {
  if (a.records().size() != b.records().size())
    return std::to_string(a.records().size()) + " records vs " + std::to_string(b.records().size());
  for (auto ia = a.records().begin(), ib = b.records().begin(); ia != a.records().end(); ++ia, ++ib) {
    if (ia->first != ib->first) return "record sets differ at " + ia->first.text();
    if (ia->second.bytes != ib->second.bytes)
      return "record " + ia->first.text() + " differs:\n" + ia->second.state.DebugString() + "\nvs\n" +
             ib->second.state.DebugString();
  }
  return {};
}

// Placements whose availability the delta may have changed.
std::set<RecordKey> touched_placements(const Replica& r, const VerifiedDelta& d) {
  std::set<RecordKey> out;
  for (const auto& op : d.body.ops()) {
    auto key = op_target(op);
    if (!key.ok()) continue;
    if (key->type == v1::PLACEMENT) out.insert(*key);
    if (key->type != v1::RESERVATION) continue;
    const ReplicaRecord* rec = r.record(*key);
    if (rec && rec->state.created())
      if (auto p = RecordKey::from_proto(v1::PLACEMENT, rec->state.reservation().placement())) out.insert(*p);
  }
  return out;
}

// Availability never negative and never confirmed beyond capacity. The
// generator's owners never lower capacity below what they confirmed, so any
// overbooking here is the merge's fault.
std::string capacity_violation(const Replica& r, const std::set<RecordKey>& placements) {
  for (const auto& p : placements) {
    for (const auto& w : r.availability(p)) {
      bool ok = w.confirmed <= w.capacity && w.overbooked_by == 0 && w.available == w.capacity - w.confirmed;
      if (!ok)
        return "placement " + p.text() + " window " + std::to_string(w.window_id) + ": capacity " +
               std::to_string(w.capacity) + ", confirmed " + std::to_string(w.confirmed) + ", available " +
               std::to_string(w.available);
    }
  }
  return {};
}

std::size_t rejected_total(const Replica& r) {
  std::size_t n = r.untargeted().size();
  for (const auto& [key, rec] : r.records()) n += static_cast<std::size_t>(rec.state.rejected_size());
  return n;
}

// Where the rejected operations are: what the generator made forbidden
// (hostile references, auditors' operations, ...) and nothing else.
std::string position_difference(const std::set<testkit::OpAt>& got, const std::set<testkit::OpAt>& want) {
  std::string out;
  auto name = [](const testkit::OpAt& p) {
    return "delta " + std::to_string(std::get<1>(p).value) + " of " + std::get<0>(p).hex().substr(0, 8) + " op " +
           std::to_string(std::get<2>(p));
  };
  for (const auto& p : got)
    if (!want.contains(p)) out += "rejected but allowed: " + name(p) + "\n";
  for (const auto& p : want)
    if (!got.contains(p)) out += "forbidden but not rejected: " + name(p) + "\n";
  return out;
}

std::set<testkit::OpAt> rejected_positions(const Replica& r) {
  std::set<testkit::OpAt> out;
  for (const auto& [key, rec] : r.records())
    for (const auto& op : rec.state.rejected())
      out.emplace(*NodeId::from_raw(op.position().origin()), Seq{op.position().seq()}, op.position().index());
  return out;
}

// A replica receives every delta in a random order, with duplicates; after
// each delta the placements it touched must not be overbooked.
void deliver_checked(Replica& r, const History& h, std::mt19937_64& rng) {
  std::string violation;
  Status s = deliver_shuffled(r, h.deltas, rng, 0.05, [&](const VerifiedDelta& d) {
    if (violation.empty()) violation = capacity_violation(r, touched_placements(r, d));
  });
  ASSERT_TRUE(s.ok()) << s.error().message();
  ASSERT_EQ(violation, "");
  ASSERT_EQ(r.delta_count(), h.deltas.size());
  ASSERT_EQ(r.op_count(), h.op_count);
  ASSERT_EQ(capacity_violation(r, {h.placements.begin(), h.placements.end()}), "");
  // Exactly the forbidden operations were rejected.
  ASSERT_EQ(position_difference(rejected_positions(r), h.unauthorised), "");
  ASSERT_EQ(rejected_total(r), h.unauthorised_ops);
}

// The same set of operations folded in one go, in another order with
// duplicates (the replica folded record by record as deltas arrived):
// byte-identical records and the same digest.
void compare_with_one_fold(const Replica& r, const History& h, std::mt19937_64& rng) {
  DeltaSetView chains(h.deltas);
  FoldContext ctx{h.roster, chains};
  std::map<RecordKey, std::vector<PositionedOp>> by_record;
  for (const auto& p : testkit::positioned_ops(h.deltas)) by_record[*op_target(p.op)].push_back(p);
  StateDigest digest;
  for (auto& [key, ops] : by_record) {
    std::vector<const PositionedOp*> refs;
    for (const auto& p : ops) refs.push_back(&p);
    std::uniform_int_distribution<std::size_t> pick(0, ops.size() - 1);
    for (std::size_t k = 0; k < ops.size() / 4; ++k) refs.push_back(&ops[pick(rng)]);
    std::shuffle(refs.begin(), refs.end(), rng);
    std::string bytes = serialize_state(fold_record(key, refs, ctx));
    digest.add(record_hash(key, bytes));
    const ReplicaRecord* held = r.record(key);
    ASSERT_NE(held, nullptr) << key.text();
    ASSERT_EQ(bytes, held->bytes) << "record " << key.text();
  }
  ASSERT_EQ(by_record.size(), r.records().size());
  ASSERT_EQ(digest.value(), r.digest());
}

// Merging partial replicas: idempotent, commutative, associative.
void check_merge_laws(const History& h, std::mt19937_64& rng) {
  std::vector<Replica> part(3);
  for (auto& p : part) {
    p.set_roster(h.roster);
    std::size_t limit = std::uniform_int_distribution<std::size_t>(0, h.deltas.size())(rng);
    ASSERT_TRUE(deliver_shuffled(p, h.deltas, rng, 0.0, {}, limit).ok());
  }
  auto merged = [&](std::size_t first, std::size_t second) {
    Replica acc = part[first];
    EXPECT_TRUE(merge_into(acc, part[second], rng).ok());
    return acc;
  };
  Replica ab = merged(0, 1), ba = merged(1, 0);
  EXPECT_EQ(ab.digest(), ba.digest());
  EXPECT_EQ(first_difference(ab, ba), "");
  Replica aa = merged(0, 0);
  EXPECT_EQ(aa.digest(), part[0].digest());
  EXPECT_EQ(aa.delta_count(), part[0].delta_count());
  Replica bc = merged(1, 2);
  Replica a_bc = part[0];
  ASSERT_TRUE(merge_into(a_bc, bc, rng).ok());
  ASSERT_TRUE(merge_into(ab, part[2], rng).ok());  // (a b) c
  EXPECT_EQ(a_bc.digest(), ab.digest());
  EXPECT_EQ(first_difference(a_bc, ab), "");
  EXPECT_EQ(capacity_violation(ab, {h.placements.begin(), h.placements.end()}), "");
}

void check_seed(std::uint64_t seed) {
  HistoryOptions options;
  options.seed = seed;
  options.deltas = kDeltas;
  options.schools = 3;
  options.companies = 2 + seed % 2;
  options.auditors = 1;
  History h = generate_history(options);
  ASSERT_GE(h.deltas.size(), kDeltas);
  ASSERT_GE(h.members.size(), 6u);
  std::mt19937_64 rng(seed * 7919);
  Replica a;
  a.set_roster(h.roster);
  deliver_checked(a, h, rng);
  if (::testing::Test::HasFatalFailure()) return;
  compare_with_one_fold(a, h, rng);
  if (::testing::Test::HasFatalFailure()) return;
  // Spread over the shards alike: the position of the seed within its shard.
  std::uint64_t turn = (seed - 1) / kShards;
  if (turn % 4 == 1) {
    // The roster learnt only after every delta (a late card, or later a late
    // membership operation): the refold must reach the same bytes.
    Replica late;
    ASSERT_TRUE(deliver_shuffled(late, h.deltas, rng, 0.0).ok());
    late.set_roster(h.roster);
    ASSERT_EQ(late.digest(), a.digest());
    ASSERT_EQ(first_difference(late, a), "");
  }
  if (turn % 2 == 0) {  // a second replica, in another order (every other seed, for time)
    Replica b;
    b.set_roster(h.roster);
    deliver_checked(b, h, rng);
    if (::testing::Test::HasFatalFailure()) return;
    ASSERT_EQ(b.digest(), a.digest());
    ASSERT_EQ(first_difference(b, a), "");
  }
  if (turn % kMergeEvery == 0) check_merge_laws(h, rng);
}

class CrdtLaws : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(CrdtLaws, RandomHistoriesConvergeAndNeverOverbook) {
  for (std::uint64_t seed : seeds(GetParam())) {
    SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with CONECT_PROPERTY_SEED=" + std::to_string(seed) + ")");
    check_seed(seed);
    if (::testing::Test::HasFailure()) {
      std::fprintf(stderr, "CRDT property failed for seed %llu\n", static_cast<unsigned long long>(seed));
      return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Shard, CrdtLaws, ::testing::Range<std::uint64_t>(0, kShards));

// The histories must exercise what the laws are about, or passing means little.
TEST(CrdtHistories, CoverEveryRecordTypeAndRace) {
  HistoryOptions options;
  options.seed = 42;
  options.auditors = 1;
  History h = generate_history(options);
  Replica r;
  r.set_roster(h.roster);
  for (const auto& d : h.deltas) ASSERT_TRUE(r.apply(d).ok());
  // Every kind of reference and role rule is exercised, and references that
  // hold (a placement's own contact as its mentor) are kept.
  std::map<std::string, int> refused;
  int mentors = 0;
  const std::string auditor = h.members.back().raw();
  for (const auto& [key, rec] : r.records()) {
    for (const auto& op : rec.state.rejected()) {
      if (op.position().origin() == auditor) ++refused["auditor"];
      for (const char* field : {"host_organisation", "mentor_contact", "organisation names"})
        if (op.detail().starts_with(field)) ++refused[field + std::string(" ") + op.rule()];
    }
    mentors += key.type == v1::PLACEMENT && rec.state.created() && rec.state.placement().has_mentor_contact();
  }
  EXPECT_GT(refused["auditor"], 10);
  EXPECT_GT(refused["host_organisation not_authorised"], 0);
  EXPECT_GT(refused["host_organisation invalid_argument"], 0);
  EXPECT_GT(refused["mentor_contact not_authorised"], 0);
  EXPECT_GT(refused["organisation names not_authorised"], 0);
  EXPECT_GT(mentors, 0);
  std::map<v1::RecordType, int> types;
  std::map<v1::ReservationDecision, int> decisions;
  int confirmations = 0, host_writes = 0, set_removes = 0, erased = 0, deps = 0, full_windows = 0;
  for (const auto& [key, rec] : r.records()) {
    ++types[key.type];
    if (key.type == v1::RESERVATION) ++decisions[rec.state.reservation().decision()];
    if (key.type == v1::MOBILITY) {
      confirmations += rec.state.mobility().confirmations_size();
      host_writes += rec.state.mobility().has_host() ? 1 : 0;
    }
    erased += rec.state.erased_size();
  }
  for (const auto& d : h.deltas) {
    deps += d.body.deps_size();
    for (const auto& op : d.body.ops()) set_removes += op.has_set() && op.set().remove();
  }
  for (const auto& p : h.placements)
    for (const auto& w : r.availability(p)) full_windows += w.capacity > 0 && w.available == 0;
  EXPECT_EQ(types.size(), 5u);
  EXPECT_GT(decisions[v1::RESERVATION_CONFIRMED], 5);
  EXPECT_GT(decisions[v1::RESERVATION_REJECTED], 5);
  EXPECT_GT(decisions[v1::RESERVATION_CANCELLED], 5);
  EXPECT_GT(decisions[v1::RESERVATION_PENDING], 0);
  EXPECT_GT(confirmations, 5);
  EXPECT_GT(host_writes, 5);
  EXPECT_GT(set_removes, 5);
  EXPECT_GT(erased, 0);
  EXPECT_GT(deps, 5);
  EXPECT_GT(full_windows, 0);
  EXPECT_GT(h.unauthorised_ops, 10u);
  std::set<std::uint64_t> hlcs;
  bool out_of_order = false;  // some delta sorts before an earlier-generated one
  for (std::size_t i = 1; i < h.deltas.size(); ++i) out_of_order |= h.deltas[i].hlc < h.deltas[i - 1].hlc;
  EXPECT_TRUE(out_of_order);
}

}  // namespace
}  // namespace conect
