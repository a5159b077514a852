// Crash safety with real processes: a child writes into the store and reports
// every durable write on a pipe; the parent kills it with SIGKILL at a random
// moment, reopens the store and checks that every acknowledged write is
// there, no batch is half there, and the digest still matches the log. The
// power-loss rounds also throw away what the child wrote but never synced
// (powerloss/): a kill alone keeps the page cache and cannot see a missing
// fsync.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>

#include "conect/storage/store.h"
#include "crash_common.h"
#include "history.h"
#include "powerloss/power_cut.h"

namespace conect::storage {
namespace {

using testing::TempDir;

struct Child {
  pid_t pid = -1;
  int out = -1;  // read end of the child's stdout
  std::string buffer;
};

using Env = std::vector<std::pair<std::string, std::string>>;

Child spawn(const std::string& dir, const char* mode, std::uint64_t seed, const Env& env = {}) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe");
  std::string seed_s = std::to_string(seed);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::close(fds[0]);
    ::close(fds[1]);
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
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

// Everything wrong with the store after a crash, in words; empty when every
// acknowledged write is there, no batch is half there, and the digest still
// matches the log. (Problems as values: the power-loss test with syncing
// off expects some.)
std::vector<std::string> check_store(const std::string& dir, const Acks& acks) {
  std::vector<std::string> problems;
  auto fail = [&](std::string p) {
    problems.push_back(std::move(p));
    return problems;
  };
  StoreOptions o;
  o.map_size = std::uint64_t{256} << 20;
  auto opened = Store::open(dir, o);
  if (!opened.ok()) return fail("the store does not open: " + opened.error().message());
  Store& s = **opened;
  auto digest = s.digest();
  auto recomputed = s.digest_recomputed();
  if (!digest.ok() || !recomputed.ok()) return fail("the digest cannot be read");
  if (digest->hex() != recomputed->hex()) problems.push_back("the digest does not match the log");

  // Authored: every ack present with its id; the chain is whole and signed.
  KeyPair key = testkit::test_key(crash::kOwnKey);
  auto bytes = s.deltas_from(key.public_key(), Seq{1}, 1'000'000, std::size_t{1} << 30);
  if (!bytes.ok()) return fail("the own log cannot be read: " + bytes.error().message());
  std::vector<v1::SignedDelta> range;
  for (const auto& b : *bytes) range.emplace_back().ParseFromString(b);
  auto chain = verify_range(testkit::test_federation(), DeltaId{}, range);
  if (!chain.ok()) return fail("the own chain is broken: " + chain.error().message());
  auto head = s.head(key.public_key());
  if (!head.ok()) return fail("the own head cannot be read");
  if (chain->size() != (*head ? (*head)->seq.value : 0u)) problems.push_back("the head does not match the log");
  for (const auto& [seq, id] : acks.authored) {
    if (seq > chain->size()) return fail("acknowledged delta " + std::to_string(seq) + " is lost");
    if ((*chain)[seq - 1].id.hex() != id) problems.push_back("delta " + std::to_string(seq) + " has another id");
  }
  // Each stored delta's records were committed with it.
  for (const auto& d : *chain) {
    auto r = s.record(RecordKey::mint(v1::PLACEMENT, key.public_key(), d.seq, 0));
    if (!r.ok() || !*r) problems.push_back("delta " + std::to_string(d.seq.value) + " stored without its record");
  }

  // Applied: every origin at the same batch boundary, at or past the last ack.
  std::uint64_t first = 0;
  for (int o2 = 0; o2 < crash::kOrigins; ++o2) {
    auto h = s.head(testkit::test_key(crash::kFirstOrigin + static_cast<std::uint32_t>(o2)).public_key());
    if (!h.ok()) return fail("a head cannot be read");
    std::uint64_t seq = *h ? (*h)->seq.value : 0;
    if (o2 == 0) first = seq;
    if (seq != first || seq % crash::kPerBatch != 0) problems.push_back("a batch is half stored");
    if (static_cast<std::int64_t>(seq) < (acks.last_batch + 1) * static_cast<std::int64_t>(crash::kPerBatch))
      problems.push_back("an acknowledged batch is lost (origin " + std::to_string(o2) + " at " + std::to_string(seq) +
                         ")");
    if (*h && o2 == crash::kOrigins - 1 && (*h)->id != crash::chain(o2, seq).back().id)
      problems.push_back("the applied chain has another head");
  }
  return problems;
}

std::string joined(const std::vector<std::string>& problems) {
  std::string out;
  for (const auto& p : problems) out += "\n  " + p;
  return out;
}

// One round: start a writer, let it run a random few milliseconds past its
// first acknowledgements, SIGKILL it, collect every acknowledgement it made.
// Returns the number of lines it printed (-1 if it died on its own).
int run_and_kill(const std::string& dir, int round, std::mt19937_64& rng, Acks& acks, const Env& env) {
  const char* mode = round % 2 ? "apply" : "author";
  Child c = spawn(dir, mode, static_cast<std::uint64_t>(round), env);
  std::vector<std::string> lines;
  // Wait (bounded) until the child is writing (every fourth round: only
  // until it opened the store, so some kills land in its first commit),
  // then let it run a random few milliseconds before the kill.
  const std::size_t wait_for = round % 4 == 3 ? 1 : 2;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  bool alive = true;
  while (alive && lines.size() < wait_for && std::chrono::steady_clock::now() < deadline) alive = pump(c, 50, lines);
  if (alive) {
    auto kill_at = std::chrono::steady_clock::now() + std::chrono::milliseconds(rng() % 40);
    while (std::chrono::steady_clock::now() < kill_at) pump(c, 1, lines);
    ::kill(c.pid, SIGKILL);
  }
  int status = 0;
  ::waitpid(c.pid, &status, 0);
  while (pump(c, 0, lines)) {
  }
  ::close(c.out);
  record(lines, acks);
  if (!WIFSIGNALED(status) || lines.size() < wait_for) {
    ADD_FAILURE() << "child (" << mode << ") exited on its own in round " << round << " (status " << status << ", "
                  << lines.size() << " lines)";
    return -1;
  }
  return static_cast<int>(lines.size());
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
    int lines = run_and_kill(dir, round, rng, acks, {});
    ASSERT_GE(lines, 0);
    killed_mid_write += lines > 2;
    auto problems = check_store(dir, acks);
    ASSERT_TRUE(problems.empty()) << "after round " << round << ":" << joined(problems);
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  // Each author round waited for an ack, and so did every apply round but
  // the early-kill ones: lower bounds that do not depend on speed.
  EXPECT_GE(acks.authored.size(), static_cast<std::size_t>(kRounds / 2));
  EXPECT_GE(acks.last_batch + 1, kRounds / 4);
  std::printf("crash test: %d rounds, %zu authored acks, %lld batches, %d kills after 2+ acks, %.1f s\n", kRounds,
              acks.authored.size(), static_cast<long long>(acks.last_batch + 1), killed_mid_write, secs);
}

// ------------------------------------------------------------- power loss
// kill -9 keeps the page cache, so the test above would pass with syncing
// off. Here the writer runs with the power-loss shim preloaded, and after the
// kill every write it made since its last sync is undone (all of them, or a
// random half of the pages): what a disk could hold after a power cut.

Env power_loss_env(const std::filesystem::path& journal, bool no_sync) {
  const char* asan = std::getenv("ASAN_OPTIONS");
  std::string asan_options = std::string(asan ? asan : "") + (asan && *asan ? ":" : "") +
                             "verify_asan_link_order=0";  // the shim is preloaded ahead of ASan's runtime
  Env env{{"LD_PRELOAD", CONECT_POWERLOSS_SHIM},
          {"CONECT_POWERLOSS_JOURNAL", journal.string()},
          {"CONECT_POWERLOSS_FILE", "data.mdb"},
          {"ASAN_OPTIONS", asan_options}};
  if (no_sync) env.emplace_back("CONECT_CRASH_NO_SYNC", "1");
  return env;
}

// One store under the power-loss model: rounds of run, kill, power cut.
struct PowerLossStore {
  TempDir t;
  const std::string dir = (t / "store").string();
  const std::filesystem::path journal = t / "powerloss.journal";
  Acks acks;

  // False if the child died on its own (reported as a failure).
  bool round(int n, std::mt19937_64& rng, bool no_sync, powerloss::Cut cut, powerloss::CutStats* stats = nullptr) {
    if (run_and_kill(dir, n, rng, acks, power_loss_env(journal, no_sync)) < 0) return false;
    auto s = powerloss::power_cut(std::filesystem::path(dir) / "data.mdb", journal, cut, rng);
    if (stats) *stats = s;
    return true;
  }
};

TEST(CrashSafety, PowerLossLosesNothingAcknowledged) {
  PowerLossStore store;
  std::mt19937_64 rng(0xfeed);
  const int kRounds = 30;
  auto started = std::chrono::steady_clock::now();
  powerloss::CutStats total, stats;
  int cuts_that_dropped = 0;
  for (int round = 0; round < kRounds; ++round) {
    ASSERT_TRUE(store.round(round, rng, false, round % 2 ? powerloss::Cut::random : powerloss::Cut::all, &stats));
    total.writes += stats.writes;
    total.pages_dropped += stats.pages_dropped;
    total.pages_kept += stats.pages_kept;
    cuts_that_dropped += stats.pages_dropped > 0;
    auto problems = check_store(store.dir, store.acks);
    ASSERT_TRUE(problems.empty()) << "after the power cut of round " << round << ":" << joined(problems);
  }
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_GE(store.acks.authored.size(), static_cast<std::size_t>(kRounds / 2));
  // The model did something: some kills landed before a sync, and their
  // unsynced pages were thrown away.
  EXPECT_GT(cuts_that_dropped, 0);
  std::printf(
      "power-loss test: %d rounds, %zu authored acks, %lld batches, %zu unsynced writes, %zu pages "
      "dropped and %zu kept in %d cuts, %.1f s\n",
      kRounds, store.acks.authored.size(), static_cast<long long>(store.acks.last_batch + 1), total.writes,
      total.pages_dropped, total.pages_kept, cuts_that_dropped, secs);
}

// The test's teeth: with syncing turned off (MDB_NOSYNC), a power cut loses
// acknowledged writes, and check_store sees it. The first round syncs, so
// the store is there and only the unsynced writes go.
TEST(CrashSafety, PowerLossTestCatchesAMissingFsync) {
  PowerLossStore store;
  std::mt19937_64 rng(0xbad);
  ASSERT_TRUE(store.round(0, rng, false, powerloss::Cut::all));
  ASSERT_TRUE(check_store(store.dir, store.acks).empty());
  std::vector<std::string> problems;
  for (int round = 1; round < 5 && problems.empty(); ++round) {
    ASSERT_TRUE(store.round(round * 2, rng, true, powerloss::Cut::all));  // author rounds
    problems = check_store(store.dir, store.acks);
  }
  ASSERT_FALSE(problems.empty()) << "with MDB_NOSYNC a power cut must lose acknowledged writes";
  std::printf("without fsync, the power-loss check reports:%s\n", joined(problems).c_str());
}

}  // namespace
}  // namespace conect::storage
