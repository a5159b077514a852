// Erasure reaches the disk (DESIGN §5, docs/privacy.md "Erasure"): after an
// erasure the plaintext lingers in data.mdb's free pages until the store is
// compacted; Store::compact swaps in a compacting copy, loses nothing else,
// waits for other processes that have the store open, and survives a crash
// at each of its steps. Real LMDB files, read back byte by byte.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <stdexcept>

#include "conect/crdt/ops.h"
#include "conect/storage/store.h"
#include "crash_common.h"
#include "history.h"

namespace conect::storage {
namespace {

namespace fs = std::filesystem;
using testing::file_bytes;
using testing::TempDir;

constexpr std::string_view kName = "Zofia Erasedottir-Quarnstrom";
constexpr std::string_view kEmail = "zofia.quarnstrom@example.invalid";

bool file_holds(const fs::path& p, std::string_view needle) { return file_bytes(p).find(needle) != std::string::npos; }

StoreOptions options() {
  StoreOptions o;
  o.create = true;
  o.map_size = std::uint64_t{256} << 20;  // as the crash child opens it
  return o;
}

// What must survive a compaction untouched.
struct Snapshot {
  Hash256 digest;
  VersionVector vv;
  std::size_t members = 0;
  std::map<v1::RecordType, std::uint64_t> counts;
  std::vector<std::string> own_log;
};
Snapshot snapshot(const Store& s, const NodeId& own) {
  Snapshot out;
  out.digest = *s.digest();
  out.vv = *s.version_vector();
  out.members = s.members()->size();
  out.counts = *s.counts();
  out.own_log = *s.deltas_from(own, Seq{1}, 1'000'000, std::size_t{1} << 30);
  return out;
}
void expect_same(const Snapshot& a, const Snapshot& b) {
  EXPECT_EQ(a.digest, b.digest);
  EXPECT_EQ(a.vv.size(), b.vv.size());
  for (const auto& [origin, head] : a.vv) {
    ASSERT_TRUE(b.vv.count(origin));
    EXPECT_EQ(b.vv.at(origin).seq, head.seq);
    EXPECT_EQ(b.vv.at(origin).id, head.id);
  }
  EXPECT_EQ(a.members, b.members);
  EXPECT_EQ(a.counts, b.counts);
  EXPECT_EQ(a.own_log, b.own_log);
}

// A store with placements, a roster entry, a kept blob and a contact whose
// personal data (held in clear, as on an audience node) its owner erased.
struct Erased {
  Hash256 erased;  // the erased contact's commitment
  Hash256 kept;    // another blob, not erased
  RecordKey contact;
};
Erased make_store_with_an_erasure(Store& s) {
  KeyPair key = testkit::test_key(crash::kOwnKey);
  EXPECT_TRUE(s.initialise(testkit::test_federation(), key.public_key()).ok());
  v1::MemberCard card;
  card.set_body("a partner school's card");
  EXPECT_TRUE(s.put_member(testkit::test_key(7).public_key(), card).ok());
  std::uint64_t now = 1'000'000;
  for (int i = 0; i < 30; ++i) {
    v1::Placement p;
    p.set_trade("welding");
    p.set_country("FI");
    DeltaDraft d;
    d.ops = ops::create_placement(RecordKey{v1::PLACEMENT, {}, 0}, p);
    EXPECT_TRUE(s.author(key, d, ++now).ok());
  }
  const std::string plaintext = std::string(16, 's') + R"({"name":")" + std::string(kName) + R"(","email":")" +
                                std::string(kEmail) + R"(","phone":"+358 40 1234567"})";
  Erased out;
  out.erased = blake2b256(plaintext);
  out.kept = blake2b256("kept");
  EXPECT_TRUE(s.put_blobs({{out.erased, plaintext}, {out.kept, "kept personal data of another record"}}).ok());
  v1::Contact c;
  c.set_display_name("Coordinator");
  c.mutable_personal()->set_commitment(out.erased.raw());
  DeltaDraft create;
  create.ops = ops::create_contact(RecordKey{v1::CONTACT, {}, 0}, c);
  auto made = s.author(key, create, ++now);
  EXPECT_TRUE(made.ok());
  out.contact = RecordKey::mint(v1::CONTACT, key.public_key(), made->seq, 0);
  DeltaDraft erase;
  erase.ops.push_back(ops::erase(out.contact, out.erased));
  EXPECT_TRUE(s.author(key, erase, ++now).ok());
  return out;
}

// The state an erasure must leave, compacted or not.
void expect_erased_and_nothing_else_lost(const Store& s, const Erased& e) {
  EXPECT_FALSE(*s.blob(e.erased));
  EXPECT_EQ(**s.blob(e.kept), "kept personal data of another record");
  EXPECT_EQ((*s.record(e.contact))->erased_size(), 1);
  EXPECT_EQ(*s.digest(), *s.digest_recomputed());
}

TEST(Compaction, ErasedPlaintextLeavesTheLiveFileAndNothingElseDoes) {
  TempDir t;
  const fs::path data = t / "store" / "data.mdb";
  auto s = testing::open_store(t / "store", options());
  Erased e = make_store_with_an_erasure(*s);
  const NodeId own = testkit::test_key(crash::kOwnKey).public_key();
  expect_erased_and_nothing_else_lost(*s, e);
  EXPECT_TRUE(*s->compaction_due());
  // The reason for all this: erased, yet still in the file's free pages.
  // (Were LMDB to scrub them, this test would say so here.)
  ASSERT_TRUE(file_holds(data, kName)) << "the erased plaintext is no longer in data.mdb before compacting";
  Snapshot before = snapshot(*s, own);

  auto done = s->compact();
  ASSERT_TRUE(done.ok()) << done.error().message();
  ASSERT_TRUE(done->compacted) << done->busy;
  EXPECT_EQ(done->reason, "erasure");
  EXPECT_GT(done->bytes_before, 0u);
  EXPECT_LE(done->bytes_after, done->bytes_before);
  EXPECT_EQ(done->bytes_after, fs::file_size(data));

  EXPECT_FALSE(file_holds(data, kName));
  EXPECT_FALSE(file_holds(data, kEmail));
  EXPECT_FALSE(fs::exists(t / "store" / "data.mdb.compacting"));
  EXPECT_FALSE(*s->compaction_due());
  expect_erased_and_nothing_else_lost(*s, e);
  expect_same(before, snapshot(*s, own));
  // The tombstone came along: a late copy is still refused.
  EXPECT_TRUE(s->put_blob(e.erased, "late copy").error().is(Errc::not_authorised));

  // The store keeps working, and opens again as it was.
  KeyPair key = testkit::test_key(crash::kOwnKey);
  DeltaDraft more;
  more.ops = ops::create_placement(RecordKey{v1::PLACEMENT, {}, 0}, v1::Placement{});
  ASSERT_TRUE(s->author(key, more, 9'000'000).ok());
  Snapshot after = snapshot(*s, own);
  s.reset();
  auto again = Store::open(t / "store", options());
  ASSERT_TRUE(again.ok()) << again.error().message();
  expect_same(after, snapshot(**again, own));
  EXPECT_FALSE(file_holds(data, kName));
}

TEST(Compaction, DueOnlyWhenHeldPlaintextWasErased) {
  TempDir t;
  auto s = testing::open_store(t / "store", options());
  ASSERT_TRUE(s->initialise(testkit::test_federation(), testkit::test_key(1).public_key()).ok());
  EXPECT_FALSE(*s->compaction_due());
  // A tombstone for data this node never held leaves nothing behind.
  ASSERT_TRUE(s->erase_blob(blake2b256("never held")).ok());
  EXPECT_FALSE(*s->compaction_due());
  ASSERT_TRUE(s->put_blob(blake2b256("held"), "held plaintext").ok());
  EXPECT_FALSE(*s->compaction_due());
  ASSERT_TRUE(s->erase_blob(blake2b256("held")).ok());
  EXPECT_TRUE(*s->compaction_due());
  // The mark outlives a restart, so a node that stops before compacting
  // compacts when it starts again.
  s.reset();
  s = testing::open_store(t / "store", options());
  EXPECT_TRUE(*s->compaction_due());
  ASSERT_TRUE(s->compact()->compacted);
  EXPECT_FALSE(*s->compaction_due());
}

// Readers that skip work while last_commit_id() stays the same (the
// courier's scan of own records) must see a compaction's swap as a change,
// and every later commit too, although the copy's LMDB ids start again.
TEST(Compaction, TheCommitIdKeepsGrowingAcrossTheSwap) {
  TempDir t;
  auto s = testing::open_store(t / "store", options());
  ASSERT_TRUE(s->initialise(testkit::test_federation(), testkit::test_key(1).public_key()).ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(s->put_blob(blake2b256(std::to_string(i)), std::to_string(i)).ok());
  const std::uint64_t before = s->last_commit_id();
  ASSERT_TRUE(s->put_blob(blake2b256("one more"), "one more").ok());
  EXPECT_GT(s->last_commit_id(), before);
  const std::uint64_t before_swap = s->last_commit_id();
  ASSERT_TRUE(s->compact()->compacted);
  const std::uint64_t after_swap = s->last_commit_id();
  EXPECT_GT(after_swap, before_swap);
  ASSERT_TRUE(s->put_blob(blake2b256("after"), "after").ok());
  EXPECT_GT(s->last_commit_id(), after_swap);
}

// ------------------------------------------------ other processes, crashes

struct Child {
  pid_t pid = -1;
  int out = -1;
};

Child spawn(const fs::path& dir, const char* mode, const std::string& arg) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execl(CONECT_CRASH_CHILD, CONECT_CRASH_CHILD, dir.c_str(), mode, arg.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(fds[1]);
  return Child{pid, fds[0]};
}

// The child's next line, waiting up to 60 s.
std::string read_line(const Child& c) {
  std::string line;
  for (char ch; line.empty() || line.back() != '\n';) {
    pollfd p{c.out, POLLIN, 0};
    if (::poll(&p, 1, 60'000) <= 0) return line;
    if (::read(c.out, &ch, 1) != 1) return line;
    line += ch;
  }
  line.pop_back();
  return line;
}

int wait_exit(Child& c) {
  int status = 0;
  ::waitpid(c.pid, &status, 0);
  ::close(c.out);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(Compaction, WaitsWhileAnotherProcessHasTheStoreOpen) {
  TempDir t;
  const fs::path data = t / "store" / "data.mdb";
  auto s = testing::open_store(t / "store", options());
  Erased e = make_store_with_an_erasure(*s);
  Child holder = spawn(t / "store", "hold", "0");
  ASSERT_EQ(read_line(holder), "R");

  // Replacing the file under the other process would leave it writing into
  // the old one: refused, as a value, and nothing changed.
  auto busy = s->compact();
  ASSERT_TRUE(busy.ok()) << busy.error().message();
  EXPECT_FALSE(busy->compacted);
  EXPECT_NE(busy->busy.find("another process"), std::string::npos);
  EXPECT_TRUE(*s->compaction_due());
  EXPECT_TRUE(file_holds(data, kName));
  expect_erased_and_nothing_else_lost(*s, e);

  ::kill(holder.pid, SIGKILL);
  EXPECT_EQ(wait_exit(holder), 128 + SIGKILL);
  auto done = s->compact();
  ASSERT_TRUE(done.ok()) << done.error().message();
  EXPECT_TRUE(done->compacted) << done->busy;
  EXPECT_FALSE(file_holds(data, kName));
  expect_erased_and_nothing_else_lost(*s, e);
}

TEST(Compaction, ACrashAtAnyStepLeavesTheOldStoreOrTheNewOne) {
  for (const char* step : {"copied", "closed", "renamed"}) {
    SCOPED_TRACE(step);
    TempDir t;
    const fs::path dir = t / "store", data = dir / "data.mdb";
    const NodeId own = testkit::test_key(crash::kOwnKey).public_key();
    Erased e;
    Snapshot before;
    {
      auto s = testing::open_store(dir, options());
      e = make_store_with_an_erasure(*s);
      before = snapshot(*s, own);
    }
    Child c = spawn(dir, "compact", step);
    EXPECT_EQ(read_line(c), "R");
    EXPECT_EQ(wait_exit(c), 9) << "the child did not stop at " << step;

    auto s = Store::open(dir, options());
    ASSERT_TRUE(s.ok()) << s.error().message();
    expect_erased_and_nothing_else_lost(**s, e);
    expect_same(before, snapshot(**s, own));
    EXPECT_FALSE(fs::exists(dir / "data.mdb.compacting"));
    // Before the rename the old file is the store (plaintext and all); after
    // it the new one. Either way the mark survived, so the node compacts
    // (again) at its next start.
    EXPECT_EQ(file_holds(data, kName), std::string_view(step) != "renamed");
    EXPECT_TRUE(*(*s)->compaction_due());
    ASSERT_TRUE((*s)->compact()->compacted);
    EXPECT_FALSE(file_holds(data, kName));
    expect_same(before, snapshot(**s, own));
  }
}

TEST(Compaction, AHalfWrittenCopyIsRemovedAtOpen) {
  TempDir t;
  {
    auto s = testing::open_store(t / "store", options());
    make_store_with_an_erasure(*s);
  }
  std::ofstream(t / "store" / "data.mdb.compacting") << "half a copy";
  auto s = Store::open(t / "store", options());
  ASSERT_TRUE(s.ok()) << s.error().message();
  EXPECT_FALSE(fs::exists(t / "store" / "data.mdb.compacting"));
}

}  // namespace
}  // namespace conect::storage
