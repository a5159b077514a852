// The store's bytes do not depend on how deltas were batched. apply() folds
// every record a group touched once, from the operations stored before the
// group (read back from the log at the positions `ops` lists) and the group's own (borrowed from the
// deltas in hand), and writes heads once per origin per group: so one delta
// per call, random multi-origin batches with duplicates and gaps, and the
// whole history in one call must leave every sub-database byte-identical,
// equivocation freezes included.
#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <string>

#include "conect/crdt/ops.h"
#include "conect/storage/lmdb.h"
#include "conect/storage/store.h"
#include "history.h"

namespace conect::storage {
namespace {

using testing::open_store;
using testing::TempDir;

using Dump = testing::SubDatabases;

void expect_same_dump(const Dump& a, const Dump& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (const auto& [name, entries] : a) {
    auto it = b.find(name);
    ASSERT_NE(it, b.end()) << what << ": no database " << name;
    EXPECT_EQ(entries.size(), it->second.size()) << what << ": entries of " << name;
    for (const auto& [k, v] : entries) {
      auto e = it->second.find(k);
      if (e == it->second.end()) {
        ADD_FAILURE() << what << ": " << name << " lacks key " << to_hex(k);
        continue;
      }
      EXPECT_EQ(to_hex(v), to_hex(e->second)) << what << ": " << name << " differs at " << to_hex(k);
    }
  }
}

StoreOptions fast_options() {
  StoreOptions o = testing::test_options();
  o.no_sync = true;  // hundreds of small commits; durability is not what is checked here
  return o;
}

// A chain of `a` that creates a placement and rewrites it twice, and a fork
// at seq 2: freezing at 2 must refold the placement from seq 1 alone.
struct Forked {
  std::vector<VerifiedDelta> chain;
  VerifiedDelta fork;
};
Forked forked_rewrites(testkit::Author& a) {
  Forked f;
  RecordKey k = a.next_key(v1::PLACEMENT);
  v1::Placement p;
  p.set_trade("welding");
  p.set_status(v1::PLACEMENT_OPEN);
  auto* w = p.add_windows();
  w->set_window_id(1);
  w->set_capacity(3);
  f.chain.push_back(a.emit(ops::create_placement(k, p)));
  auto rewrite = [&](const char* city) {
    v1::Placement q;
    q.set_city(city);
    return std::vector<v1::Operation>{ops::write_placement(k, q, {v1::Placement::kCityFieldNumber})};
  };
  f.fork = a.emit_fork(rewrite("Kiruna"));
  f.chain.push_back(a.emit(rewrite("Alta")));
  f.chain.push_back(a.emit(rewrite("Tornio")));
  f.chain.push_back(a.emit(rewrite("Luleå")));
  return f;
}

// What the hook was handed: each delta's body must be whole again (the
// refold borrows its operations and gives them back).
struct Hooked {
  std::mutex mu;
  std::size_t deltas = 0;
  std::size_t bodies_intact = 0;
  void attach(Store& s) {
    s.set_on_committed([this](std::span<const VerifiedDelta> ds) {
      std::lock_guard lock(mu);
      for (const auto& d : ds) {
        ++deltas;
        v1::DeltaBody signed_body;
        if (signed_body.ParseFromString(d.signed_delta.body()) &&
            signed_body.SerializeAsString() == d.body.SerializeAsString() &&
            d.body.ops_size() == signed_body.ops_size())
          ++bodies_intact;
      }
    });
  }
};

class Batching : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(Batching, StoreBytesDoNotDependOnBatching) {
  TempDir t;
  auto h = testing::random_history({.authors = 5, .deltas = 300, .seed = GetParam()});
  testkit::Author freezer(4242);
  Forked f = forked_rewrites(freezer);
  const auto& c = f.chain;

  {  // one delta per call
    auto s = open_store(t / "one", fast_options());
    for (const auto& d : h.deltas) ASSERT_TRUE(s->apply({d}).ok());
    for (const auto& d : c) ASSERT_TRUE(s->apply({d}).ok());
    auto out = s->apply({f.fork});
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->equivocations.size(), 1u);
  }
  Hooked random_hook, whole_hook;
  {  // random multi-origin batches, duplicates and gaps; the fork with the chain's tail
    auto s = open_store(t / "random", fast_options());
    random_hook.attach(*s);
    std::mt19937_64 rng(GetParam() * 31);
    testing::deliver_randomly(*s, h, rng);
    ASSERT_TRUE(s->apply({c[0], c[1]}).ok());
    auto out = s->apply({c[2], c[3], f.fork, c[3]});
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->equivocations.size(), 1u);
    EXPECT_EQ(out->applied.size(), 2u);
  }
  {  // everything in one call: the fork freezes operations stored by the same group
    auto s = open_store(t / "whole", fast_options());
    whole_hook.attach(*s);
    std::vector<VerifiedDelta> all = h.deltas;
    all.insert(all.end(), c.begin(), c.end());
    all.push_back(f.fork);
    auto out = s->apply(std::move(all));
    ASSERT_TRUE(out.ok());
    EXPECT_EQ(out->applied.size(), h.deltas.size() + c.size());
    EXPECT_EQ(out->equivocations.size(), 1u);
    auto placement = s->record(RecordKey::mint(v1::PLACEMENT, freezer.id(), Seq{1}, 0));
    ASSERT_TRUE(placement.ok() && *placement);
    EXPECT_EQ((*placement)->placement().city(), "") << "writes past the fork still count";
    EXPECT_EQ(s->digest()->hex(), s->digest_recomputed()->hex());
  }

  Dump one = testing::dump_subdatabases(t / "one");
  ASSERT_GT(one.at("records").size(), 50u);
  ASSERT_GE(one.at("evidence").size(), 1u);
  expect_same_dump(one, testing::dump_subdatabases(t / "random"), "random batches vs one per call");
  expect_same_dump(one, testing::dump_subdatabases(t / "whole"), "one call vs one per call");

  std::size_t stored = h.deltas.size() + c.size();
  EXPECT_EQ(whole_hook.deltas, stored);
  EXPECT_EQ(whole_hook.bodies_intact, stored);
  EXPECT_EQ(random_hook.deltas, stored);
  EXPECT_EQ(random_hook.bodies_intact, stored);
}

INSTANTIATE_TEST_SUITE_P(Seeds, Batching, ::testing::Values(1, 2, 3));

}  // namespace
}  // namespace conect::storage
