// The store's bytes do not depend on how deltas were batched. apply() folds
// every record a group touched once, from the operations stored before the
// group (read back from the log at the positions `ops` lists) and the group's own (borrowed from the
// deltas in hand), and writes heads once per origin per group: so one delta
// per call, random multi-origin batches with duplicates and gaps, batches
// sharing their commits (apply_each), and the whole history in one call must
// leave every sub-database byte-identical, equivocation freezes included.
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

  {  // batches sharing commits (apply_each, as the node's writer hands in
     // what queued up during a commit), one refused among them
    auto s = open_store(t / "shared", fast_options());
    std::mt19937_64 rng(GetParam() * 77);
    std::size_t next = 0, applied = 0;
    bool refused_once = false;
    while (next < h.deltas.size()) {
      std::vector<std::vector<VerifiedDelta>> group;
      for (std::size_t b = 1 + rng() % 5; b > 0 && next < h.deltas.size(); --b) {
        std::vector<VerifiedDelta> batch;
        for (std::size_t k = 1 + rng() % 40; k > 0 && next < h.deltas.size(); --k) batch.push_back(h.deltas[next++]);
        group.push_back(std::move(batch));
      }
      // The history's last delta, long before its turn: its chain has a gap.
      const std::size_t early = refused_once ? group.size() : group.size() / 2;
      if (!refused_once) group.insert(group.begin() + static_cast<std::ptrdiff_t>(early), {h.deltas.back()});
      std::vector<std::size_t> sizes;
      for (const auto& b : group) sizes.push_back(b.size());
      auto outs = s->apply_each(std::move(group));
      ASSERT_EQ(outs.size(), sizes.size());
      for (std::size_t i = 0; i < outs.size(); ++i) {
        ASSERT_TRUE(outs[i].ok()) << outs[i].error().message();
        if (!refused_once && i == early) {
          EXPECT_TRUE(outs[i]->applied.empty());
          EXPECT_EQ(outs[i]->rejected.size(), 1u) << "the early delta's refusal is its own batch's";
        } else {
          EXPECT_TRUE(outs[i]->rejected.empty()) << "batch " << i << " was refused with another's delta";
          EXPECT_EQ(outs[i]->applied.size(), sizes[i]);
          applied += outs[i]->applied.size();
        }
      }
      refused_once = true;
    }
    EXPECT_EQ(applied, h.deltas.size());
    for (const auto& d : c) ASSERT_TRUE(s->apply({d}).ok());
    ASSERT_TRUE(s->apply({f.fork}).ok());
  }

  Dump one = testing::dump_subdatabases(t / "one");
  ASSERT_GT(one.at("records_placement").size() + one.at("records_mobility").size(), 50u);
  ASSERT_GE(one.at("evidence").size(), 1u);
  expect_same_dump(one, testing::dump_subdatabases(t / "random"), "random batches vs one per call");
  expect_same_dump(one, testing::dump_subdatabases(t / "whole"), "one call vs one per call");
  expect_same_dump(one, testing::dump_subdatabases(t / "shared"), "batches sharing commits vs one per call");

  std::size_t stored = h.deltas.size() + c.size();
  EXPECT_EQ(whole_hook.deltas, stored);
  EXPECT_EQ(whole_hook.bodies_intact, stored);
  EXPECT_EQ(random_hook.deltas, stored);
  EXPECT_EQ(random_hook.bodies_intact, stored);
}

INSTANTIATE_TEST_SUITE_P(Seeds, Batching, ::testing::Values(1, 2, 3));

// apply_each's batches share one transaction: a write that fails in the
// last batch takes the earlier ones with it, and each caller hears why.
TEST(ApplyEach, BatchesShareOneTransaction) {
  TempDir t;
  auto h = testing::random_history({.authors = 2, .deltas = 30, .seed = 5});
  std::vector<VerifiedDelta> first(h.deltas.begin(), h.deltas.begin() + 10);
  std::vector<VerifiedDelta> second(h.deltas.begin() + 10, h.deltas.begin() + 20);
  std::uint64_t writes = 0;
  std::uint64_t fail_after = UINT64_MAX;
  StoreOptions o = fast_options();
  o.fault_injection = [&](std::uint64_t) {
    return ++writes > fail_after ? Status(Error(Errc::io_error, "injected")) : Status::Ok();
  };
  {  // how many writes the first batch takes on its own
    auto probe = open_store(t / "probe", o);
    ASSERT_TRUE(probe->apply(first).ok());
  }
  fail_after = writes;  // the next store fails at its first write past them
  writes = 0;
  auto s = open_store(t / "s", o);
  auto outs = s->apply_each({first, second});
  ASSERT_EQ(outs.size(), 2u);
  for (const auto& out : outs) {
    ASSERT_FALSE(out.ok()) << "a batch committed apart from the other";
    EXPECT_NE(out.error().message().find("injected"), std::string::npos) << out.error().message();
  }
  for (const auto& d : first) EXPECT_FALSE(*s->head(d.origin)) << "the first batch was committed on its own";
}

}  // namespace
}  // namespace conect::storage
