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
//   raw crypto_box_seal/s, _open/s  a 32-byte content key to one X25519 key
//   raw XChaCha20-Poly1305 /s       encrypt / decrypt of the personal data
//   envelopes sealed/s              seal_envelope of a participant's name,
//                                   e-mail and birth date (100-200 B) to an
//                                   audience of 1, 2 and 5 members
//   envelopes opened/s              parse_envelope + open_envelope (the slot,
//                                   the ciphertext, the commitment check)
//                                   each envelope figure is the best of three
//                                   rounds taken in turn with its raw limit
//
// Usage: conect_bench_crdt [--quick] [--deltas N] [--seconds S]
//          [--only sign|verify|fold|envelope]
#include <sodium.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "common/figures.h"
#include "common/sample_personal.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/envelope.h"
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

// ------------------------------------------------------------ envelopes

// The best of three rounds of `measured` and of `raw`, taken in turn: on a
// machine shared with builds, a ratio of two figures measured minutes apart
// says more about the load than about the code.
template <class M, class R>
std::pair<double, double> best_interleaved(M measured, R raw) {
  double m = 0, r = 0;
  for (int round = 0; round < 3; ++round) {
    m = std::max(m, measured());
    r = std::max(r, raw());
  }
  return {m, r};
}

std::string percent(double part, double whole) { return std::to_string(static_cast<int>(100 * part / whole)) + "%"; }

void bench_envelopes(std::size_t samples) {
  std::vector<bench::SamplePersonal> personal;
  std::size_t plain_bytes = 0, shortest = SIZE_MAX, longest = 0;
  for (std::size_t i = 0; i < samples; ++i) {
    personal.push_back(bench::sample_personal(i));
    plain_bytes += personal.back().bytes.size();
    shortest = std::min(shortest, personal.back().bytes.size());
    longest = std::max(longest, personal.back().bytes.size());
  }
  const std::string plain_sizes = std::to_string(plain_bytes / samples) + " B mean (" + std::to_string(shortest) + "-" +
                                  std::to_string(longest) + ")";

  // The primitives' limits: one crypto_box_seal per audience member (of the
  // 32-byte content key), one AEAD pass over the plaintext with the 68-byte
  // header as associated data.
  unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
  crypto_box_keypair(pk, sk);
  unsigned char content_key[32], sealed[crypto_box_SEALBYTES + 32], opened[32];
  randombytes_buf(content_key, sizeof content_key);
  auto raw_seal_rate = [&] {
    return rate(100, [&] {
      for (int i = 0; i < 100; ++i) {
        crypto_box_seal(sealed, content_key, sizeof content_key, pk);
        sink = sink + sealed[0];
      }
    });
  };
  auto raw_open_rate = [&] {
    return rate(100, [&] {
      for (int i = 0; i < 100; ++i) sink = sink + crypto_box_seal_open(opened, sealed, sizeof sealed, pk, sk);
    });
  };
  const double raw_seal = raw_seal_rate();
  add("raw crypto_box_seal (32 B key)", raw_seal, "/s", "X25519 + XSalsa20-Poly1305");
  const double raw_open = raw_open_rate();
  add("raw crypto_box_seal_open", raw_open, "/s");

  const std::string ad(envelope::kHeaderBytes, 'h');
  unsigned char nonce[crypto_aead_xchacha20poly1305_ietf_NPUBBYTES];
  randombytes_buf(nonce, sizeof nonce);
  std::string ct(envelope::kMaxPlaintext + envelope::kTagBytes, '\0'), pt = ct;
  auto uc = [](const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  auto muc = [](std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); };
  unsigned long long len = 0;
  const double raw_encrypt = rate(personal.size(), [&] {
    for (const auto& p : personal) {
      crypto_aead_xchacha20poly1305_ietf_encrypt(muc(ct), &len, uc(p.bytes), p.bytes.size(), uc(ad), ad.size(), nullptr,
                                                 nonce, content_key);
      sink = sink + ct[0];
    }
  });
  add("raw XChaCha20-Poly1305 encrypt", raw_encrypt, "/s", plain_sizes + ", 68 B AD");
  std::vector<std::string> ciphertexts;
  for (const auto& p : personal) {
    crypto_aead_xchacha20poly1305_ietf_encrypt(muc(ct), &len, uc(p.bytes), p.bytes.size(), uc(ad), ad.size(), nullptr,
                                               nonce, content_key);
    ciphertexts.emplace_back(ct.data(), len);
  }
  const double raw_decrypt = rate(ciphertexts.size(), [&] {
    for (const auto& c : ciphertexts)
      sink = sink + crypto_aead_xchacha20poly1305_ietf_decrypt(muc(pt), &len, nullptr, uc(c), c.size(), uc(ad),
                                                               ad.size(), nonce, content_key);
  });
  add("raw XChaCha20-Poly1305 decrypt", raw_decrypt, "/s");

  // Five members with their seal keys; the owner seals, the last addressed
  // member opens (slots are sorted by member id: which one does not matter).
  std::vector<SealTarget> members;
  std::vector<SealKey> seal_keys;
  for (std::uint8_t m = 0; m < 5; ++m) {
    std::array<std::uint8_t, 32> seed{};
    seed.fill(static_cast<std::uint8_t>(0x50 + m));
    seal_keys.push_back(SealKey::from_seed(seed));
    members.push_back({testkit::test_key(20 + m).public_key(), seal_keys.back().public_key()});
  }
  const NodeId owner = testkit::test_key(19).public_key();
  for (std::size_t audience : {1, 2, 5}) {
    const std::span<const SealTarget> to(members.data(), audience);
    std::vector<std::string> envelopes(personal.size());
    const auto [sealed_per_s, seal_now] = best_interleaved(
        [&] {
          return rate(personal.size(), [&] {
            for (std::size_t i = 0; i < personal.size(); ++i) {
              auto e = seal_envelope(personal[i].bytes, personal[i].commitment, owner, to);
              if (!e.ok()) std::abort();
              envelopes[i] = std::move(*e);
            }
          });
        },
        raw_seal_rate);
    const double seal_limit = 1 / (static_cast<double>(audience) / seal_now + 1 / raw_encrypt);
    const std::string who = std::to_string(audience) + (audience == 1 ? " member" : " members");
    std::size_t envelope_bytes = 0;
    for (const auto& e : envelopes) envelope_bytes += e.size();
    add("envelopes sealed, audience of " + who, sealed_per_s, "/s",
        std::to_string(envelope_bytes / envelopes.size()) + " B; " + percent(sealed_per_s, seal_limit) + " of " +
            std::to_string(audience) + " raw seal(s) + 1 encrypt (" + std::to_string(static_cast<int>(seal_limit)) +
            "/s)");

    const SealTarget& me = members[audience - 1];
    const SealKey& my_key = seal_keys[audience - 1];
    const auto [opened_per_s, open_now] = best_interleaved(
        [&] {
          return rate(personal.size(), [&] {
            for (std::size_t i = 0; i < personal.size(); ++i) {
              auto parsed = parse_envelope(envelopes[i]);
              if (!std::holds_alternative<Envelope>(parsed)) std::abort();
              auto plain = open_envelope(std::get<Envelope>(parsed), me.member, my_key, personal[i].commitment, owner);
              if (!std::holds_alternative<std::string>(plain)) std::abort();
              sink = sink + std::get<std::string>(plain)[0];
            }
          });
        },
        raw_open_rate);
    const double open_limit = 1 / (1 / open_now + 1 / raw_decrypt);
    add("envelopes opened, audience of " + who, opened_per_s, "/s",
        percent(opened_per_s, open_limit) + " of 1 raw seal_open + 1 decrypt (" +
            std::to_string(static_cast<int>(open_limit)) + "/s)");
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (!crypto_init()) return 1;
  std::size_t deltas = 10'000;
  std::string only;
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
    } else if (a == "--only") {
      only = next();
    } else {
      std::fprintf(stderr, "usage: %s [--quick] [--deltas N] [--seconds S] [--only sign|verify|fold|envelope]\n",
                   argv[0]);
      return 2;
    }
  }
  std::fprintf(stderr, "conect crdt bench (one core, %zu-delta history)\n", deltas);
  testkit::HistoryOptions options;
  options.seed = 1;
  options.deltas = deltas;
  auto want = [&](const char* section) { return only.empty() || only == section; };
  testkit::History h = only == "envelope" ? testkit::History{} : testkit::generate_history(options);
  if (want("sign")) bench_sign(h);
  if (want("verify")) bench_verify(h);
  if (want("fold")) bench_fold(h);
  if (want("envelope")) bench_envelopes(deltas < 1000 ? 64 : 1000);
  figures.print_table();
  figures.print_json();
  return 0;
}
