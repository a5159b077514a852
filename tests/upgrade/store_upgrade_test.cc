// Store upgrades (storage/include/conect/storage/schema.h): the committed
// 0.2.0 store opens with today's code and answers as the 0.2.0 node did; the
// steps of an upgrade run in one transaction, so a kill -9 or a failing step
// in the middle leaves the old store usable; a newer store, and an older one
// opened without `upgrade`, are refused untouched.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>

#include <gtest/gtest.h>

#include "../storage/history.h"
#include "test_plan.h"
#include "v020.h"

namespace conect::upgrade {
namespace {

namespace fs = std::filesystem;
using storage::SchemaPlan;
using storage::Store;
using storage::testing::set_schema;
using storage::testing::TempDir;

// Reads meta.schema and the test marker, and whether the aside sub-database
// exists, with the raw LMDB layer (no upgrade logic involved).
struct RawState {
  std::uint32_t schema = 0;
  std::string marker;
  bool aside_exists = false;
};
RawState raw_state(const fs::path& dir) {
  RawState r;
  lmdb::EnvOptions eo;
  eo.map_size = std::uint64_t{256} << 20;
  auto env = lmdb::Env::open(dir, eo);
  EXPECT_TRUE(env.ok());
  if (!env.ok()) return r;
  lmdb::ReadTxn txn = env->begin_read();
  MDB_dbi meta = 0, aside = 0;
  EXPECT_EQ(mdb_dbi_open(txn.handle(), "meta", 0, &meta), MDB_SUCCESS);
  if (auto v = txn.get(lmdb::Dbi{meta}, "schema"); v && v->size() == 4)
    for (unsigned char c : *v) r.schema = r.schema << 8 | c;
  if (auto v = txn.get(lmdb::Dbi{meta}, kMarkerKey)) r.marker = std::string(*v);
  r.aside_exists = mdb_dbi_open(txn.handle(), kAsideDb, 0, &aside) == MDB_SUCCESS;
  return r;
}

// The 0.2.0 store was written at schema 1: every build upgrades from there.
constexpr std::uint32_t kFixtureSchema = 1;

TEST(SchemaPlan, PlanIsContiguous) {
  const SchemaPlan& plan = storage::current_schema();
  EXPECT_EQ(plan.check(), "") << "register one step per bump of kSchemaVersion in storage/src/schema.cc";
  EXPECT_EQ(plan.version, storage::kSchemaVersion);
  EXPECT_EQ(plan.oldest(), kFixtureSchema) << "this build must still upgrade a 0.2.0 store";
}

TEST(SchemaPlan, CheckRefusesGapsAndAWrongEnd) {
  auto step = [](std::uint32_t from) {
    return storage::SchemaStep{from, "step", [](lmdb::WriteTxn&) { return Status::Ok(); }};
  };
  SchemaPlan gap{4, {step(1), step(3)}};
  EXPECT_NE(gap.check().find("from 3 found where one from 2"), std::string::npos) << gap.check();
  SchemaPlan short_end{4, {step(1), step(2)}};
  EXPECT_NE(short_end.check().find("end at 3"), std::string::npos) << short_end.check();
  TempDir t;
  auto s = Store::open(copy_store(t.path()), upgrade_options(&gap));
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::invalid_argument)) << s.error().message();
}

TEST(Upgrade020, StoreOpensAndAnswersAsZeroTwoZeroDid) {
  TempDir t;
  auto dir = copy_store(t.path());
  auto started = std::chrono::steady_clock::now();
  auto s = Store::open(dir, upgrade_options());
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  ASSERT_TRUE(s.ok()) << s.error().message();
  const auto& up = (*s)->upgraded();
  if (storage::current_schema().steps.empty()) {
    EXPECT_FALSE(up.has_value()) << "schema 1 needs no upgrade";
  } else {
    ASSERT_TRUE(up.has_value());
    EXPECT_EQ(up->from, kFixtureSchema);
    EXPECT_EQ(up->to, storage::kSchemaVersion);
  }
  std::printf("open of the 0.2.0 store: %.1f ms (upgrade steps: %zu)\n", ms, storage::current_schema().steps.size());
  expect_answers_of_020(**s);
}

TEST(Upgrade020, EveryStepRunsInOneOpenAndTheResultAnswersTheSame) {
  TempDir t;
  auto dir = copy_store(t.path());
  const SchemaPlan plan = test_plan(BackStep::move_back);
  {
    auto s = Store::open(dir, upgrade_options(&plan));
    ASSERT_TRUE(s.ok()) << s.error().message();
    const auto& up = (*s)->upgraded();
    ASSERT_TRUE(up.has_value());
    EXPECT_EQ(up->from, kFixtureSchema);
    EXPECT_EQ(up->to, plan.version);
    ASSERT_EQ(up->steps.size(), plan.steps.size());
    EXPECT_EQ(up->steps.back(), "test: move the trade index back");
    std::printf("upgrade of the 0.2.0 store through %zu steps: %llu ms\n", up->steps.size(),
                static_cast<unsigned long long>(up->duration_ms));
    expect_answers_of_020(**s);
  }
  RawState raw = raw_state(dir);
  EXPECT_EQ(raw.schema, plan.version);
  EXPECT_EQ(raw.marker, "back");
  // Opening again finds nothing to do; a build with the older plan refuses it.
  auto again = Store::open(dir, upgrade_options(&plan));
  ASSERT_TRUE(again.ok()) << again.error().message();
  EXPECT_FALSE((*again)->upgraded().has_value());
  again = Error(Errc::io_error, "closed");
  std::string before = read_file(dir / "data.mdb");
  auto older_build = Store::open(dir, upgrade_options());
  ASSERT_FALSE(older_build.ok());
  EXPECT_NE(older_build.error().detail.find("newer conect"), std::string::npos) << older_build.error().detail;
  EXPECT_TRUE(read_file(dir / "data.mdb") == before) << "the refused store was modified";
}

TEST(Upgrade020, AFailingStepLeavesTheStoreUnchanged) {
  TempDir t;
  auto dir = copy_store(t.path());
  std::string before = read_file(dir / "data.mdb");
  const SchemaPlan plan = test_plan(BackStep::fail);
  auto s = Store::open(dir, upgrade_options(&plan));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.error().detail.find("(test: move the trade index back) failed: test step refuses"), std::string::npos)
      << s.error().detail;
  EXPECT_NE(s.error().detail.find("the store is unchanged (schema 1)"), std::string::npos) << s.error().detail;
  EXPECT_TRUE(read_file(dir / "data.mdb") == before) << "a failed upgrade wrote to the store";
  auto reopened = Store::open(dir, upgrade_options());
  ASSERT_TRUE(reopened.ok()) << reopened.error().message();
  expect_answers_of_020(**reopened);
}

// The child opens the copy with the blocking plan and says "in step" from
// inside the last step, after the first test step moved the trade index
// aside in the same transaction; we kill it there.
TEST(Upgrade020, KillDuringTheUpgradeLeavesTheOldStoreUsable) {
  TempDir t;
  auto dir = copy_store(t.path());
  int out[2], in[2];
  ASSERT_EQ(::pipe(out), 0);
  ASSERT_EQ(::pipe(in), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::dup2(out[1], 1);
    ::dup2(in[0], 0);
    ::close(out[0]);
    ::close(in[1]);
    ::execl(CONECT_UPGRADE_CHILD, CONECT_UPGRADE_CHILD, dir.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(out[1]);
  ::close(in[0]);
  std::string said;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (said.find("in step\n") == std::string::npos && std::chrono::steady_clock::now() < deadline) {
    pollfd p{out[0], POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[256];
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n <= 0) break;
    said.append(buf, static_cast<std::size_t>(n));
  }
  ::kill(pid, SIGKILL);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(out[0]);
  ::close(in[1]);
  ASSERT_NE(said.find("in step\n"), std::string::npos) << "the child never reached the last step: " << said;
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child ended on its own";

  RawState raw = raw_state(dir);
  EXPECT_EQ(raw.schema, kFixtureSchema) << "a killed upgrade left a new schema version";
  EXPECT_EQ(raw.marker, "") << "a killed upgrade left the first step's write";
  EXPECT_FALSE(raw.aside_exists) << "a killed upgrade left the first step's sub-database";
  {
    auto s = Store::open(dir, upgrade_options());
    ASSERT_TRUE(s.ok()) << s.error().message();
    expect_answers_of_020(**s);
  }
  // And the next start upgrades it after all (the open above ran this
  // build's real steps; the test steps follow them).
  const SchemaPlan plan = test_plan(BackStep::move_back);
  auto s = Store::open(dir, upgrade_options(&plan));
  ASSERT_TRUE(s.ok()) << s.error().message();
  ASSERT_TRUE((*s)->upgraded().has_value());
  EXPECT_EQ((*s)->upgraded()->from, storage::kSchemaVersion);
  expect_answers_of_020(**s);
}

TEST(Upgrade020, AnOlderStoreIsRefusedUntouchedWithoutUpgrade) {
  TempDir t;
  auto dir = copy_store(t.path());
  std::string before = read_file(dir / "data.mdb");
  const SchemaPlan plan = test_plan(BackStep::move_back);
  auto options = upgrade_options(&plan);
  options.upgrade = false;
  auto s = Store::open(dir, options);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::schema_mismatch));
  EXPECT_NE(s.error().detail.find("start the node once"), std::string::npos) << s.error().detail;
  EXPECT_TRUE(read_file(dir / "data.mdb") == before) << "the refused store was modified";
}

TEST(Upgrade020, ANewerStoreIsRefusedUntouched) {
  TempDir t;
  auto dir = copy_store(t.path());
  set_schema(dir, storage::kSchemaVersion + 1);
  std::string before = read_file(dir / "data.mdb");
  auto s = Store::open(dir, upgrade_options());
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::schema_mismatch));
  EXPECT_NE(
      s.error().detail.find("was written by a newer conect (schema " + std::to_string(storage::kSchemaVersion + 1)),
      std::string::npos)
      << s.error().detail;
  EXPECT_NE(s.error().detail.find("upgrade conect-node, or restore a backup made by this version"), std::string::npos);
  EXPECT_TRUE(read_file(dir / "data.mdb") == before) << "the refused store was modified";
}

}  // namespace
}  // namespace conect::upgrade

namespace conect::upgrade {
namespace {

// The replicated roster on the 0.2.0 store (docs/membership.md, "Upgrading a
// 0.2.0 federation"): it opens with an empty replicated roster (its cards
// stay the local overrides, so it folds as 0.2.0 did), and the documented
// upgrade step (`member upgrade`: Found + an Admit of every trusted card)
// admits the members it trusted, without changing any record.
TEST(Upgrade020, TheReplicatedRosterIsAdoptedByFoundAndTheTrustedCards) {
  TempDir t;
  auto dir = copy_store(t.path());
  auto s = Store::open(dir, upgrade_options());
  ASSERT_TRUE(s.ok()) << s.error().message();
  auto roster = (*s)->roster();
  ASSERT_TRUE(roster.ok());
  EXPECT_TRUE((*roster)->members().empty());
  EXPECT_EQ((*roster)->quorum(), 0u);
  auto digest = *(*s)->digest();

  fs::path key_copy = t.path() / "identity.key";
  fs::copy_file(fixtures() / "data" / "identity.key", key_copy);
  fs::permissions(key_copy, fs::perms::owner_read | fs::perms::owner_write);
  auto key = KeyPair::load(key_copy);
  ASSERT_TRUE(key.ok()) << key.error().message();
  ASSERT_EQ(key->public_key(), *(*s)->own_id());
  auto cards = (*s)->members();
  ASSERT_TRUE(cards.ok());
  DeltaDraft draft;
  v1::MemberCard own;
  for (const auto& [id, card] : *cards)
    if (id == key->public_key()) own = card;
  draft.ops.push_back(membership_ops::found(own, 1));
  std::size_t others = 0;
  for (const auto& [id, card] : *cards)
    if (id != key->public_key()) {
      draft.ops.push_back(membership_ops::admit(card));
      ++others;
    }
  ASSERT_GT(others, 0u);
  auto delta = (*s)->author(*key, std::move(draft), 1'800'000'000'000);
  ASSERT_TRUE(delta.ok()) << delta.error().message();
  roster = (*s)->roster();
  ASSERT_TRUE(roster.ok());
  EXPECT_EQ((*roster)->admitted_ids().size(), 1 + others);
  EXPECT_TRUE((*roster)->rejected().empty()) << (*roster)->rejected().front().detail;
  EXPECT_EQ(*(*s)->digest(), digest) << "adopting the roster changes no record";
  EXPECT_EQ(*(*s)->digest(), *(*s)->digest_recomputed());
}

}  // namespace
}  // namespace conect::upgrade
