// Opening, schema and file errors, the map limit, roster/peer/blob CRUD,
// backup and restore.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "conect/crdt/ops.h"
#include "conect/storage/lmdb.h"
#include "conect/storage/store.h"
#include "history.h"

namespace conect::storage {
namespace {

namespace fs = std::filesystem;
using testing::file_bytes;
using testing::open_store;
using testing::TempDir;
using testing::test_options;

FederationId federation() { return testkit::test_federation(); }

// A store holding a few authored placements.
void fill(Store& s, const KeyPair& key, int n) {
  for (int i = 0; i < n; ++i) {
    v1::Placement p;
    p.set_trade("welding");
    p.set_country("FI");
    RecordKey placeholder;  // owner left empty: the record minted by op 0
    placeholder.type = v1::PLACEMENT;
    DeltaDraft d;
    d.ops = ops::create_placement(placeholder, p);
    auto r = s.author(key, d, 1'000'000 + static_cast<std::uint64_t>(i));
    ASSERT_TRUE(r.ok()) << r.error().message();
  }
}

TEST(StoreOpen, MissingDirectoryWithoutCreateIsNotFound) {
  TempDir t;
  StoreOptions o;
  auto s = Store::open(t / "nope", o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::not_found)) << s.error().message();
  EXPECT_NE(s.error().detail.find("init"), std::string::npos);
  EXPECT_FALSE(fs::exists(t / "nope"));
  // An existing directory without a store is not a store either.
  fs::create_directories(t / "empty");
  s = Store::open(t / "empty", o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(Errc::not_found));
}

TEST(StoreOpen, InitialiseOnceAndPersist) {
  TempDir t;
  KeyPair key = testkit::test_key(1);
  {
    auto s = open_store(t / "store");
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->federation());
    ASSERT_TRUE(s->initialise(federation(), key.public_key()).ok());
    EXPECT_TRUE(s->initialise(federation(), key.public_key()).ok());
    Status again = s->initialise(federation(), testkit::test_key(2).public_key());
    ASSERT_FALSE(again.ok());
    EXPECT_TRUE(again.error().is(Errc::already_exists));
  }
  StoreOptions o;
  auto s = open_store(t / "store", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->federation(), federation());
  EXPECT_EQ(s->own_id(), key.public_key());
}

TEST(StoreOpen, DefaultMapSizeWorksHere) {
  TempDir t;
  StoreOptions o;
  o.create = true;  // 64 GiB of address space; the file stays small
  auto s = open_store(t / "store", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->map_size(), std::uint64_t{64} << 30);
  KeyPair key = testkit::test_key(1);
  ASSERT_TRUE(s->initialise(federation(), key.public_key()).ok());
  fill(*s, key, 3);
  EXPECT_LT(fs::file_size(t / "store" / "data.mdb"), std::uint64_t{16} << 20);
}

void expect_refused_untouched(const fs::path& dir, Errc code, const std::string& needle) {
  std::string before = file_bytes(dir / "data.mdb");
  StoreOptions o;
  o.create = true;
  auto s = Store::open(dir, o);
  ASSERT_FALSE(s.ok());
  EXPECT_TRUE(s.error().is(code)) << s.error().message();
  EXPECT_NE(s.error().detail.find(needle), std::string::npos) << s.error().detail;
  EXPECT_EQ(file_bytes(dir / "data.mdb"), before) << "the refused file was modified";
}

TEST(StoreOpen, NewerSchemaIsRefusedUntouched) {
  TempDir t;
  {
    auto s = open_store(t / "store");
    KeyPair key = testkit::test_key(1);
    ASSERT_TRUE(s->initialise(federation(), key.public_key()).ok());
    fill(*s, key, 2);
  }
  testing::set_schema(t / "store", kSchemaVersion + 1);
  expect_refused_untouched(t / "store", Errc::schema_mismatch, "newer");
}

TEST(StoreOpen, ForeignLmdbEnvironmentIsRefusedUntouched) {
  TempDir t;
  fs::create_directories(t / "store");
  {
    lmdb::EnvOptions eo;
    eo.max_dbs = 4;
    auto env = lmdb::Env::open(t / "store", eo);
    ASSERT_TRUE(env.ok());
    lmdb::WriteTxn w = env->begin_write();
    lmdb::Dbi other = w.open_db("other", MDB_CREATE);
    w.put(other, "k", "v");
    w.commit();
  }
  expect_refused_untouched(t / "store", Errc::schema_mismatch, "another program");
}

TEST(StoreOpen, ForeignFileIsRefusedUntouched) {
  TempDir t;
  fs::create_directories(t / "store");
  {
    std::ofstream out(t / "store" / "data.mdb", std::ios::binary);
    for (int i = 0; i < 4096; ++i) out << "not an lmdb file ";
  }
  expect_refused_untouched(t / "store", Errc::schema_mismatch, "not an LMDB");
  std::ofstream(t / "store" / "data.mdb", std::ios::trunc).close();
  expect_refused_untouched(t / "store", Errc::schema_mismatch, "empty");
}

TEST(StoreOpen, CorruptedFileIsAStorageError) {
  TempDir t;
  {
    auto s = open_store(t / "store");
    KeyPair key = testkit::test_key(1);
    ASSERT_TRUE(s->initialise(federation(), key.public_key()).ok());
    fill(*s, key, 20);
  }
  {
    // Keep the two meta pages, zero every data page.
    std::fstream f(t / "store" / "data.mdb", std::ios::in | std::ios::out | std::ios::binary);
    auto size = fs::file_size(t / "store" / "data.mdb");
    std::string zeros(size - 2 * 4096, '\0');
    f.seekp(2 * 4096);
    f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  }
  expect_refused_untouched(t / "store", Errc::storage_error, "corrupted");
}

// Root ignores file modes, so the check runs as an unprivileged user.
TEST(StoreOpen, ReadOnlyDirectoryIsAnIoError) {
  TempDir t;
  {
    auto s = open_store(t / "store");
    ASSERT_TRUE(s);
  }
  fs::permissions(t.path(), fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
  fs::permissions(t / "store", fs::perms::owner_read | fs::perms::owner_exec | fs::perms::group_read |
                                   fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
  for (const char* f : {"data.mdb", "lock.mdb"})
    fs::permissions(t / "store" / f, fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
  std::string before = file_bytes(t / "store" / "data.mdb");
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::close(pipefd[0]);
    if (::geteuid() == 0 && ::setuid(65534) != 0) _exit(3);
    StoreOptions o;
    auto s = Store::open(t / "store", o);
    std::string report = s.ok() ? "opened" : s.error().message();
    (void)!::write(pipefd[1], report.data(), report.size());
    _exit(0);
  }
  ::close(pipefd[1]);
  std::string report;
  char buf[512];
  for (ssize_t n; (n = ::read(pipefd[0], buf, sizeof buf)) > 0;) report.append(buf, static_cast<std::size_t>(n));
  ::close(pipefd[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (WIFEXITED(status) && WEXITSTATUS(status) == 3) GTEST_SKIP() << "cannot drop privileges here";
  EXPECT_EQ(report.rfind("io_error", 0), 0u) << report;
  EXPECT_NE(report.find("writable"), std::string::npos) << report;
  EXPECT_EQ(file_bytes(t / "store" / "data.mdb"), before);
}

TEST(StoreMap, FullMapIsStorageFullAndLosesNothing) {
  TempDir t;
  StoreOptions o = test_options();
  o.map_size = std::uint64_t{1} << 20;
  auto s = open_store(t / "store", o);
  ASSERT_TRUE(s);
  KeyPair key = testkit::test_key(1);
  ASSERT_TRUE(s->initialise(federation(), key.public_key()).ok());

  testkit::Author other(7);
  std::vector<VerifiedDelta> chain;
  for (int i = 0; i < 400; ++i) {
    v1::Placement p;
    p.set_trade(std::string(1500, 'w'));
    chain.push_back(other.emit(ops::create_placement(other.next_key(v1::PLACEMENT), p)));
  }
  std::size_t stored = 0;
  Error full;
  for (std::size_t i = 0; i < chain.size(); i += 10) {
    std::vector<VerifiedDelta> batch(chain.begin() + static_cast<long>(i), chain.begin() + static_cast<long>(i + 10));
    auto before = s->digest();
    auto r = s->apply(batch);
    if (!r.ok()) {
      full = r.error();
      EXPECT_EQ(s->digest()->hex(), before->hex());
      break;
    }
    stored += r->applied.size();
  }
  ASSERT_TRUE(full.is(Errc::storage_full)) << full.message();
  EXPECT_NE(full.detail.find("map_size_mib"), std::string::npos) << full.detail;
  EXPECT_GT(stored, 0u);
  auto head = s->head(other.id());
  ASSERT_TRUE(head.ok() && *head);
  EXPECT_EQ((*head)->seq.value, stored);
  EXPECT_EQ(s->digest()->hex(), s->digest_recomputed()->hex());
  // Authoring fails the same way, and leaves nothing behind either.
  auto a = s->author(key, DeltaDraft{}, 5);
  if (!a.ok()) {
    EXPECT_TRUE(a.error().is(Errc::storage_full));
  }
  s.reset();

  // Reopened with a larger map, the rest goes in.
  o.map_size = std::uint64_t{64} << 20;
  s = open_store(t / "store", o);
  ASSERT_TRUE(s);
  auto r = s->apply(std::vector<VerifiedDelta>(chain.begin() + static_cast<long>(stored), chain.end()));
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->applied.size(), chain.size() - stored);
  EXPECT_EQ(s->digest()->hex(), s->digest_recomputed()->hex());
}

TEST(StoreMap, GrowsUpToTheCeiling) {
  TempDir t;
  StoreOptions o = test_options();
  o.map_size = std::uint64_t{1} << 20;
  o.max_map_size = std::uint64_t{64} << 20;
  auto s = open_store(t / "store", o);
  ASSERT_TRUE(s);
  testkit::Author other(7);
  std::vector<VerifiedDelta> chain;
  for (int i = 0; i < 400; ++i) {
    v1::Placement p;
    p.set_trade(std::string(1500, 'w'));
    chain.push_back(other.emit(ops::create_placement(other.next_key(v1::PLACEMENT), p)));
  }
  std::thread reader([&] {
    for (int i = 0; i < 200; ++i) (void)s->digest();
  });
  for (std::size_t i = 0; i < chain.size(); i += 10) {
    auto r = s->apply(
        std::vector<VerifiedDelta>(chain.begin() + static_cast<long>(i), chain.begin() + static_cast<long>(i + 10)));
    EXPECT_TRUE(r.ok()) << r.error().message();
    if (!r.ok()) break;
  }
  reader.join();
  EXPECT_GT(s->map_size(), std::uint64_t{1} << 20);
  EXPECT_LE(s->map_size(), std::uint64_t{64} << 20);
  EXPECT_EQ((*s->head(other.id()))->seq.value, 400u);
}

TEST(StoreCrud, MembersPeersBlobs) {
  TempDir t;
  auto s = open_store(t / "store");
  ASSERT_TRUE(s);
  NodeId a = testkit::test_key(1).public_key(), b = testkit::test_key(2).public_key();
  v1::MemberCard card;
  card.set_body("body-a");
  card.set_signature("sig");
  ASSERT_TRUE(s->put_member(a, card).ok());
  card.set_body("body-b");
  ASSERT_TRUE(s->put_member(b, card).ok());
  auto m = s->member(a);
  ASSERT_TRUE(m.ok() && *m);
  EXPECT_EQ((*m)->body(), "body-a");
  EXPECT_EQ(s->members()->size(), 2u);
  ASSERT_TRUE(s->remove_member(a).ok());
  EXPECT_TRUE(s->remove_member(a).error().is(Errc::not_found));
  EXPECT_FALSE(*s->member(a));

  ASSERT_TRUE(s->put_peer("ws://127.0.0.1:7700/sync", "state-1").ok());
  ASSERT_TRUE(s->put_peer("ws://127.0.0.1:7700/sync", "state-2").ok());
  EXPECT_EQ(**s->peer("ws://127.0.0.1:7700/sync"), "state-2");
  EXPECT_EQ(s->peers()->size(), 1u);
  EXPECT_TRUE(s->put_peer("", "x").error().is(Errc::invalid_argument));
  ASSERT_TRUE(s->remove_peer("ws://127.0.0.1:7700/sync").ok());
  EXPECT_TRUE(s->remove_peer("ws://127.0.0.1:7700/sync").error().is(Errc::not_found));

  Hash256 c = blake2b256("salt|name");
  ASSERT_TRUE(s->put_blob(c, "sealed").ok());
  EXPECT_EQ(**s->blob(c), "sealed");
  ASSERT_TRUE(s->erase_blob(c).ok());
  EXPECT_FALSE(*s->blob(c));
  Status again = s->put_blob(c, "sealed");
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.error().is(Errc::not_authorised));

  // A batch is all or none: one erased commitment in it stores nothing.
  Hash256 d = blake2b256("salt|other"), e = blake2b256("salt|third");
  EXPECT_TRUE(s->put_blobs({{d, "d"}, {c, "c"}, {e, "e"}}).error().is(Errc::not_authorised));
  EXPECT_FALSE(*s->blob(d));
  EXPECT_FALSE(*s->blob(e));
  EXPECT_TRUE(s->put_blobs({{d, "d"}, {e, ""}}).error().is(Errc::invalid_argument));
  ASSERT_TRUE(s->put_blobs({{d, "d"}, {e, "e"}}).ok());
  EXPECT_EQ(**s->blob(d), "d");
  EXPECT_EQ(**s->blob(e), "e");
}

TEST(StoreBackup, RestoreGivesTheSameStateAndFencesAuthoring) {
  TempDir t;
  KeyPair key = testkit::test_key(1);
  Hash256 digest;
  VersionVector vv;
  {
    auto s = open_store(t / "store");
    ASSERT_TRUE(s->initialise(federation(), key.public_key()).ok());
    fill(*s, key, 25);
    ASSERT_TRUE(s->put_blob(blake2b256("x"), "sealed").ok());
    ASSERT_TRUE(s->backup(t / "backup").ok());
    EXPECT_EQ(fs::status(t / "backup" / "data.mdb").permissions() & fs::perms::all,
              fs::perms::owner_read | fs::perms::owner_write);
    EXPECT_TRUE(s->backup(t / "backup").error().is(Errc::already_exists));
    digest = *s->digest();
    vv = *s->version_vector();
    fill(*s, key, 1);  // written after the backup: not in it
  }
  ASSERT_TRUE(Store::restore(t / "backup", t / "restored").ok());
  EXPECT_TRUE(Store::restore(t / "backup", t / "restored").error().is(Errc::already_exists));
  StoreOptions o;
  auto s = open_store(t / "restored", o);
  ASSERT_TRUE(s);
  EXPECT_EQ(s->digest()->hex(), digest.hex());
  EXPECT_EQ(s->digest_recomputed()->hex(), digest.hex());
  EXPECT_EQ(s->version_vector()->at(key.public_key()).seq.value, vv.at(key.public_key()).seq.value);
  EXPECT_EQ(**s->blob(blake2b256("x")), "sealed");
  EXPECT_TRUE(s->author_fenced());
  EXPECT_EQ(s->author_fence(), "restore");
  auto r = s->author(key, DeltaDraft{}, 10);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.error().is(Errc::not_authorised));
  ASSERT_TRUE(s->lift_author_fence().ok());
  EXPECT_FALSE(s->author_fenced());
  EXPECT_EQ(s->author_fence(), std::nullopt);
  EXPECT_TRUE(s->author(key, DeltaDraft{}, 10).ok());
  // The daemon fences a store it finds behind its own chain (a rolled-back
  // data directory) the same way; the fence outlives a reopen.
  ASSERT_TRUE(s->fence_author("rollback").ok());
  s.reset();
  s = open_store(t / "restored", o);
  EXPECT_EQ(s->author_fence(), "rollback");
  EXPECT_TRUE(s->author(key, DeltaDraft{}, 11).error().is(Errc::not_authorised));

  fs::create_directories(t / "junk");
  std::ofstream(t / "junk" / "data.mdb") << "junk junk junk";
  Status bad = Store::restore(t / "junk", t / "other");
  ASSERT_FALSE(bad.ok());
  EXPECT_TRUE(bad.error().is(Errc::schema_mismatch));
  EXPECT_FALSE(fs::exists(t / "other" / "data.mdb"));
}

// The copy of the store (with every member's personal data in its blobs) is
// private from its first byte: a watcher polling the backup while it is
// written never sees it readable by group or others.
TEST(StoreBackup, BackupIsPrivateFromTheStart) {
  TempDir t;
  auto s = open_store(t / "store");
  ASSERT_TRUE(s);
  std::vector<std::pair<Hash256, std::string>> blobs;
  for (int i = 0; i < 256; ++i) blobs.emplace_back(blake2b256("blob " + std::to_string(i)), std::string(64 << 10, 'p'));
  ASSERT_TRUE(s->put_blobs(blobs).ok());
  mode_t old_umask = ::umask(022);
  std::atomic<bool> done{false};
  std::atomic<unsigned> seen{0};  // group/other bits ever observed
  std::atomic<int> observations{0};
  std::thread watcher([&] {
    while (!done) {
      struct stat st {};
      for (const fs::path& p : {t / "backup", t / "backup" / "data.mdb"}) {
        if (::stat(p.c_str(), &st) != 0) continue;
        seen |= st.st_mode & 077;
        ++observations;
      }
    }
  });
  Status st = s->backup(t / "backup");
  done = true;
  watcher.join();
  ::umask(old_umask);
  ASSERT_TRUE(st.ok()) << st.error().message();
  EXPECT_GT(observations.load(), 0);
  EXPECT_EQ(seen.load(), 0u) << "the backup was readable by others while it was written";
  EXPECT_EQ(fs::status(t / "backup").permissions() & fs::perms::all, fs::perms::owner_all);
}

}  // namespace
}  // namespace conect::storage
