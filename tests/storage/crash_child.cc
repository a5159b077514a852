// The process the crash test kills with SIGKILL. It writes into the store
// without end and reports each write on stdout only after the call that
// made it durable returned:
//   author mode: 4 threads author drafts; "A <seq> <delta id hex>" per ack.
//   apply mode:  one batch of kPerBatch deltas of each of kOrigins origins
//                per transaction; "B <batch number>" per ack.
//   hold mode:   keeps the store open until killed (another process that has
//                it open, for the compaction test).
//   compact mode: compacts once (Store::compact) and ends the process with
//                _exit(9) at the step named by the third argument ("copied",
//                "closed", "renamed"), as kill -9 would; "C" if it got through.
// Usage: conect_storage_crash_child DIR author|apply|hold|compact SEED|STEP
// CONECT_CRASH_NO_SYNC=1 opens the store with no_sync (MDB_NOSYNC): the
// switch that shows the power-loss test failing when nothing is fsync'd.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <random>
#include <string>
#include <thread>

#include "conect/storage/store.h"
#include "crash_common.h"

namespace {

using namespace conect;
using namespace conect::storage;

std::mutex out_mu;

void report(const std::string& line) {
  std::lock_guard lock(out_mu);
  std::string l = line + "\n";
  const char* p = l.data();
  std::size_t left = l.size();
  while (left > 0) {
    ssize_t n = ::write(1, p, left);
    if (n <= 0) _exit(4);
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

int author_mode(Store& store, std::uint64_t seed) {
  KeyPair key = testkit::test_key(crash::kOwnKey);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(seed * 31 + static_cast<std::uint64_t>(t));
      for (std::uint64_t i = 0;; ++i) {
        DeltaDraft draft;
        int n = 1 + static_cast<int>(rng() % 3);
        for (int k = 0; k < n; ++k) {
          v1::Placement p;
          p.set_trade("trade-" + std::to_string(rng() % 5));
          p.set_status(v1::PLACEMENT_OPEN);
          auto made =
              ops::create_placement(RecordKey{v1::PLACEMENT, {}, static_cast<std::uint64_t>(draft.ops.size())}, p);
          for (auto& op : made) draft.ops.push_back(std::move(op));
        }
        auto d = store.author(key, draft, 2'000'000 + i);
        if (!d.ok()) {
          std::fprintf(stderr, "author: %s\n", d.error().message().c_str());
          _exit(5);
        }
        report("A " + std::to_string(d->seq.value) + " " + d->id.hex());
      }
    });
  for (auto& th : threads) th.join();
  return 0;
}

int apply_mode(Store& store) {
  std::uint64_t have = 0;
  std::vector<crash::ChainGen> gens;
  for (int o = 0; o < crash::kOrigins; ++o) {
    gens.emplace_back(o);
    auto head = store.head(testkit::test_key(crash::kFirstOrigin + static_cast<std::uint32_t>(o)).public_key());
    if (!head.ok()) _exit(6);
    std::uint64_t h = *head ? (*head)->seq.value : 0;
    if (o > 0 && h != have) _exit(6);  // the parent checks this too
    have = h;
    if (*head) gens.back().resume((*head)->seq, (*head)->id);
  }
  for (std::uint64_t b = have / crash::kPerBatch;; ++b) {
    std::vector<VerifiedDelta> batch;
    for (auto& g : gens)
      for (std::uint64_t s = 0; s < crash::kPerBatch; ++s) batch.push_back(g.next());
    auto out = store.apply(std::move(batch));
    if (!out.ok() || out->applied.size() != crash::kOrigins * crash::kPerBatch) {
      std::fprintf(stderr, "apply failed: %s\n", out.ok() ? "not all applied" : out.error().message().c_str());
      _exit(7);
    }
    report("B " + std::to_string(b));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DIR author|apply|hold|compact SEED|STEP\n", argv[0]);
    return 2;
  }
  crypto_init();
  StoreOptions o;
  o.create = true;
  o.map_size = std::uint64_t{256} << 20;
  const char* no_sync = std::getenv("CONECT_CRASH_NO_SYNC");
  o.no_sync = no_sync && std::strcmp(no_sync, "1") == 0;
  const std::string mode = argv[2], arg = argv[3];
  if (mode == "compact")
    o.compaction_step = [arg](std::string_view step) {
      if (step == arg) _exit(9);
    };
  auto store = Store::open(argv[1], o);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.error().message().c_str());
    return 3;
  }
  KeyPair key = testkit::test_key(crash::kOwnKey);
  if (!(*store)->initialise(testkit::test_federation(), key.public_key()).ok()) return 3;
  report("R");  // open and ready
  if (mode == "hold")
    for (;;) ::pause();
  if (mode == "compact") {
    auto done = (*store)->compact();
    if (!done.ok()) {
      std::fprintf(stderr, "compact: %s\n", done.error().message().c_str());
      return 6;
    }
    report(std::string("C ") + (done->compacted ? "compacted" : "busy"));
    return 0;
  }
  if (mode == "author") return author_mode(**store, std::stoull(arg));
  return apply_mode(**store);
}
