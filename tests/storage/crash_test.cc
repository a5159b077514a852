// Crash safety with real processes: a child writes into the store and reports
// every durable write on a pipe; the parent kills it with SIGKILL at a random
// moment, reopens the store and checks that every acknowledged write is
// there, no batch is half there, and the digest still matches the log.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <sstream>

#include "conect/storage/store.h"
#include "crash_common.h"
#include "history.h"

namespace conect::storage {
namespace {

using testing::TempDir;

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout
  std::string buffer;
};

Child spawn(const std::string& dir, const char* mode, std::uint64_t seed) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  std::string seed_s = std::to_string(seed);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    ::execl(CONECT_CRASH_CHILD, CONECT_CRASH_CHILD, dir.c_str(), mode, seed_s.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(fds[1]);
  return Child{pid, fds[0], {}};
}

// Reads whatever is available within `wait_ms`; complete lines go to `lines`.
// Returns false at end of file.
bool pump(Child& c, int wait_ms, std::vector<std::string>& lines) {
  pollfd p{c.out, POLLIN, 0};
  if (::poll(&p, 1, wait_ms) <= 0) return true;
  char buf[4096];
  ssize_t n = ::read(c.out, buf, sizeof buf);
  if (n <= 0) return false;
  c.buffer.append(buf, static_cast<std::size_t>(n));
  for (std::size_t nl; (nl = c.buffer.find('\n')) != std::string::npos;) {
    lines.push_back(c.buffer.substr(0, nl));
    c.buffer.erase(0, nl + 1);
  }
  return true;
}

struct Acks {
  std::map<std::uint64_t, std::string> authored;  // seq -> delta id hex
  std::int64_t last_batch = -1;
};

void record(const std::vector<std::string>& lines, Acks& acks) {
  for (const auto& l : lines) {
    std::istringstream in(l);
    std::string tag;
    in >> tag;
    if (tag == "A") {
      std::uint64_t seq;
      std::string id;
      in >> seq >> id;
      acks.authored[seq] = id;
    } else if (tag == "B") {
      std::int64_t b;
      in >> b;
      acks.last_batch = std::max(acks.last_batch, b);
    }
  }
}

void verify(const std::string& dir, const Acks& acks, int round) {
  SCOPED_TRACE("after round " + std::to_string(round));
  StoreOptions o;
  o.map_size = std::uint64_t{256} << 20;
  auto opened = Store::open(dir, o);
  ASSERT_TRUE(opened.ok()) << opened.error().message();
  Store& s = **opened;
  auto digest = s.digest();
  auto recomputed = s.digest_recomputed();
  ASSERT_TRUE(digest.ok() && recomputed.ok());
  EXPECT_EQ(digest->hex(), recomputed->hex());

  // Authored: every ack present with its id; the chain is whole and signed.
  KeyPair key = testkit::test_key(crash::kOwnKey);
  auto bytes = s.deltas_from(key.public_key(), Seq{1}, 1'000'000, std::size_t{1} << 30);
  ASSERT_TRUE(bytes.ok());
  std::vector<v1::SignedDelta> range;
  for (const auto& b : *bytes) range.emplace_back().ParseFromString(b);
  auto chain = verify_range(testkit::test_federation(), DeltaId{}, range);
  ASSERT_TRUE(chain.ok()) << chain.error().message();
  auto head = s.head(key.public_key());
  ASSERT_TRUE(head.ok());
  EXPECT_EQ(chain->size(), *head ? (*head)->seq.value : 0u);
  for (const auto& [seq, id] : acks.authored) {
    ASSERT_LE(seq, chain->size()) << "acknowledged delta " << seq << " is lost";
    EXPECT_EQ((*chain)[seq - 1].id.hex(), id);
  }
  // Each stored delta's records were committed with it.
  for (const auto& d : *chain) {
    auto r = s.record(RecordKey::mint(v1::PLACEMENT, key.public_key(), d.seq, 0));
    ASSERT_TRUE(r.ok() && *r) << "delta " << d.seq.value << " stored without its record";
  }

  // Applied: every origin at the same batch boundary, at or past the last ack.
  std::uint64_t first = 0;
  for (int o2 = 0; o2 < crash::kOrigins; ++o2) {
    auto h = s.head(testkit::test_key(crash::kFirstOrigin + static_cast<std::uint32_t>(o2)).public_key());
    ASSERT_TRUE(h.ok());
    std::uint64_t seq = *h ? (*h)->seq.value : 0;
    if (o2 == 0) first = seq;
    EXPECT_EQ(seq, first) << "a batch is half stored";
    EXPECT_EQ(seq % crash::kPerBatch, 0u) << "a batch is half stored";
    EXPECT_GE(static_cast<std::int64_t>(seq), (acks.last_batch + 1) * static_cast<std::int64_t>(crash::kPerBatch))
        << "an acknowledged batch is lost";
    if (*h && o2 == crash::kOrigins - 1) {
      auto want = crash::chain(o2, seq);
      EXPECT_EQ((*h)->id, want.back().id);
    }
  }
}

TEST(CrashSafety, KillNineLosesNothingAcknowledged) {
  TempDir t;
  const std::string dir = (t / "store").string();
  std::mt19937_64 rng(0xc0ffee);
  Acks acks;
  const int kRounds = 60;
  auto started = std::chrono::steady_clock::now();
  int killed_mid_write = 0;
  for (int round = 0; round < kRounds; ++round) {
    const char* mode = round % 2 ? "apply" : "author";
    Child c = spawn(dir, mode, static_cast<std::uint64_t>(round));
    std::vector<std::string> lines;
    // Wait (bounded) until the child is writing (every fourth round: only
    // until it opened the store, so some kills land in its first commit),
    // then let it run a random few milliseconds before the kill.
    const std::size_t wait_for = round % 4 == 3 ? 1 : 2;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    bool alive = true;
    while (alive && lines.size() < wait_for && std::chrono::steady_clock::now() < deadline) alive = pump(c, 50, lines);
    ASSERT_TRUE(alive) << "child exited early in round " << round << " (" << mode << ")";
    ASSERT_GE(lines.size(), wait_for) << "child never got going";
    auto kill_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(rng() % 40);
    while (std::chrono::steady_clock::now() < kill_at) pump(c, 1, lines);
    ::kill(c.pid, SIGKILL);
    int status = 0;
    ::waitpid(c.pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child died on its own (status " << status << ")";
    while (pump(c, 0, lines)) {
    }
    ::close(c.out);
    killed_mid_write += lines.size() > 2;
    record(lines, acks);
    verify(dir, acks, round);
    if (::testing::Test::HasFatalFailure()) return;
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // Each author round waited for an ack, and so did every apply round but
  // the early-kill ones: lower bounds that do not depend on speed.
  EXPECT_GE(acks.authored.size(), static_cast<std::size_t>(kRounds / 2));
  EXPECT_GE(acks.last_batch + 1, kRounds / 4);
  std::printf("crash test: %d rounds, %zu authored acks, %lld batches, %d kills after 2+ acks, %.1f s\n", kRounds,
              acks.authored.size(), static_cast<long long>(acks.last_batch + 1), killed_mid_write, secs);
}

}  // namespace
}  // namespace conect::storage
