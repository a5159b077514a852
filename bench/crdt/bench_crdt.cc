// conect_bench_crdt: the CRDT core's figures on one core, each next to the
// raw libsodium figure measured in the same run, printed as a table and as
// JSON ({"bench":"crdt","figures":[...]}, the format of the other benches).
//
//   raw Ed25519 signs/s             crypto_sign_detached, 47-byte input
//   deltas built and signed/s       build_delta of realistic drafts
//   raw Ed25519 verifications/s     crypto_sign_verify_detached
//   single deltas verified/s        verify_single (decode, hash, signature)
//   deltas verified as ranges/s     verify_range over ranges of 1,000: links
//                                   and the last signature only (DESIGN §4)
//   operations folded/s             Replica::apply of a random history
//                                   (chain checks, fold, digest)
//   records folded from scratch/s   fold_record over each record's operations
//
// Usage: conect_bench_crdt [--quick] [--deltas N] [--seconds S]
#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/figures.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/replica.h"
#include "conect/crdt/testkit/author.h"
#include "conect/crdt/testkit/history.h"

using namespace conect;
using Clock = std::chrono::steady_clock;

namespace {

bench::Figures figures("crdt");
double min_seconds = 1.0;

void add(std::string name, double value, std::string unit, std::string note = "") {
  figures.add(std::move(name), value, std::move(unit), std::move(note));
}

// Runs `batch` (which does `per_batch` units of work) until at least
// min_seconds have passed; returns units per second.
template <class F>
double rate(std::size_t per_batch, F batch) {
  std::size_t units = 0;
  auto start = Clock::now();
  double elapsed = 0;
  do {
    batch();
    units += per_batch;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < min_seconds);
  return static_cast<double>(units) / elapsed;
}

volatile int sink = 0;  // keeps results alive

void bench_sign(const testkit::History& h) {
  KeyPair key = testkit::test_key(1);
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk{};
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
  crypto_sign_keypair(pk.data(), sk.data());
  std::string input = "conect/delta/v1" + std::string(32, 'h');  // what build_delta signs
  unsigned char sig[crypto_sign_BYTES];
  double raw = rate(100, [&] {
    for (int i = 0; i < 100; ++i) {
      input[20] = static_cast<char>(i);
      crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(input.data()), input.size(), sk.data());
      sink = sink + sig[0];
    }
  });
  add("raw Ed25519 signs", raw, "/s", "crypto_sign_detached");
  std::vector<DeltaDraft> drafts;
  for (std::size_t i = 0; i < std::min<std::size_t>(h.deltas.size(), 200); ++i)
    drafts.push_back(DeltaDraft{{h.deltas[i].body.ops().begin(), h.deltas[i].body.ops().end()}, {}});
  std::uint64_t seq = 1;
  DeltaId prev;
  double built = rate(drafts.size(), [&] {
    for (const auto& draft : drafts) {
      VerifiedDelta d = build_delta(key, testkit::test_federation(), Seq{seq}, prev, Hlc::make(seq, 0), draft);
      prev = d.id;
      ++seq;
    }
  });
  add("deltas built and signed", built, "/s",
      "build_delta: " + std::to_string(static_cast<int>(100 * built / raw)) + "% of raw");
}

void bench_verify(const testkit::History& h) {
  std::array<unsigned char, crypto_sign_SECRETKEYBYTES> sk{};
  std::array<unsigned char, crypto_sign_PUBLICKEYBYTES> pk{};
  crypto_sign_keypair(pk.data(), sk.data());
  std::string input = "conect/delta/v1" + std::string(32, 'h');
  unsigned char sig[crypto_sign_BYTES];
  crypto_sign_detached(sig, nullptr, reinterpret_cast<const unsigned char*>(input.data()), input.size(), sk.data());
  double raw = rate(100, [&] {
    for (int i = 0; i < 100; ++i)
      sink = sink + crypto_sign_verify_detached(sig, reinterpret_cast<const unsigned char*>(input.data()), input.size(),
                                                pk.data());
  });
  add("raw Ed25519 verifications", raw, "/s", "crypto_sign_verify_detached");

  std::size_t n = std::min<std::size_t>(h.deltas.size(), 500);
  double single = rate(n, [&] {
    for (std::size_t i = 0; i < n; ++i)
      sink = sink + verify_single(testkit::test_federation(), h.deltas[i].signed_delta).ok();
  });
  add("single deltas verified", single, "/s",
      "verify_single: " + std::to_string(static_cast<int>(100 * single / raw)) + "% of raw");

  // One origin's chain of 1,000, checked as one range: links + last signature.
  testkit::Author a(9);
  std::vector<v1::SignedDelta> chain;
  std::size_t range_len = std::min<std::size_t>(1000, h.deltas.size());
  for (std::size_t i = 0; i < range_len; ++i)
    chain.push_back(a.emit({h.deltas[i].body.ops().begin(), h.deltas[i].body.ops().end()}).signed_delta);
  double ranged = rate(chain.size(), [&] {
    auto r = verify_range(testkit::test_federation(), DeltaId{}, chain);
    if (!r.ok()) std::abort();
    sink = sink + static_cast<int>(r->size());
  });
  add("deltas verified as ranges of " + std::to_string(range_len), ranged, "/s",
      "verify_range: " + std::to_string(static_cast<int>(ranged / raw)) + "x raw verify");
}

void bench_fold(const testkit::History& h) {
  double deltas_per_s = rate(h.deltas.size(), [&] {
    Replica r;
    for (const auto& d : h.deltas)
      if (!r.apply(d).ok()) std::abort();
    sink = sink + r.digest().bytes[0];
  });
  double ops_per_delta = static_cast<double>(h.op_count) / static_cast<double>(h.deltas.size());
  char note[96];
  std::snprintf(note, sizeof note, "%zu-delta history, %.0f deltas/s", h.deltas.size(), deltas_per_s);
  add("operations folded (replica apply)", deltas_per_s * ops_per_delta, "/s", note);

  Replica full;
  for (const auto& d : h.deltas) (void)full.apply(d);
  std::vector<std::pair<RecordKey, std::vector<const PositionedOp*>>> records;
  std::size_t ops = 0;
  for (const auto& [key, rec] : full.records()) {
    records.emplace_back(key, std::vector<const PositionedOp*>{});
    for (const auto& p : rec.ops) records.back().second.push_back(&p);
    ops += rec.ops.size();
  }
  double records_per_s = rate(records.size(), [&] {
    for (const auto& [key, refs] : records)
      sink = sink + static_cast<int>(fold_record(key, refs, FoldContext{full.roster(), full}).rejected_size());
  });
  add("records folded from scratch", records_per_s, "/s",
      std::to_string(static_cast<int>(records_per_s * static_cast<double>(ops) / static_cast<double>(records.size()))) +
          " operations/s");
}

}  // namespace

int main(int argc, char** argv) {
  if (!crypto_init()) return 1;
  std::size_t deltas = 10'000;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : "0"; };
    if (a == "--quick") {
      deltas = 300;
      min_seconds = 0.02;
    } else if (a == "--deltas") {
      deltas = std::stoull(next());
    } else if (a == "--seconds") {
      min_seconds = std::stod(next());
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--deltas N] [--seconds S]\n", argv[0]);
      return 2;
    }
  }
  std::fprintf(stderr, "conect crdt bench (one core, %zu-delta history)\n", deltas);
  testkit::HistoryOptions options;
  options.seed = 1;
  options.deltas = deltas;
  testkit::History h = testkit::generate_history(options);
  bench_sign(h);
  bench_verify(h);
  bench_fold(h);
  figures.print_table();
  figures.print_json();
  return 0;
}
