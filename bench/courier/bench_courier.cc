// conect_bench_courier: how long the courier state machine (node/courier,
// docs/privacy.md "Delivery", "Carry") takes to get one mobility's personal
// data from its owner to the host, in one process with nothing in between
// (no sockets, no store: the in-memory world of tests/courier/world.h), one
// hop (A - B) and through a relay (A - C - B), next to the primitives every
// delivery must run, measured in the same run: one crypto_box_seal (the
// owner seals the content key to the host) and one crypto_box_seal_open (the
// host opens it). What the figures say: the machine's own cost above its
// cryptography. The latency between processes adds the link and the
// daemon's sweep timing (docs/performance.md).
//
//   raw crypto_box_seal, _open        one 32-byte content key, microseconds
//   delivery one hop                  owner's sweep (seal to 2 members) to the
//                                     host's HELD answer, median microseconds
//   delivery through a relay          owner's carry, relay's queue and its
//                                     delivery, host's HELD and acknowledgement
//
// Usage: conect_bench_courier [--quick]
#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <vector>

#include "../../tests/courier/world.h"
#include "common/figures.h"

namespace {

using namespace conect;
using namespace conect::courier;
using namespace conect::courier::test;
using Clock = std::chrono::steady_clock;

double micros(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One delivery in a fresh world: the owner's record reaches the host, one
// hop or through one relay; returns microseconds from the first link to the
// host holding the data (checked).
double one_delivery(bool relay, int round) {
  World w;
  WorldNode& a = w.add(1);
  WorldNode& b = w.add(2);
  WorldNode& c = w.add(3);
  const std::string plaintext =
      std::string(16, static_cast<char>(round)) +
      R"({"name":"Aino Virtanen","email":"aino.virtanen@example.fi","birth_date":"2007-05-14"})";
  const Hash256 commitment = blake2b256(plaintext);
  const RecordKey key{v1::MOBILITY, a.id(), 5ull << 16};
  a.view.blobs[commitment] = plaintext;
  w.replicate(key, mobility_state(b.id(), plaintext), 5);
  if (relay) {  // c - b first, so the carry finds its way at once
    w.links.insert({c.id(), b.id()});
    w.links.insert({b.id(), c.id()});
    c.courier->on_peer_connected(b.id(), w.now);
    b.courier->on_peer_connected(c.id(), w.now);
  }
  const auto t0 = Clock::now();
  w.link(a, relay ? c : b);
  w.deliver_all();
  const auto t1 = Clock::now();
  if (b.view.blobs[commitment] != plaintext) std::abort();
  if (relay && c.courier->queued() != 0) std::abort();
  return micros(t1 - t0);
}

}  // namespace

int main(int argc, char** argv) {
  if (!crypto_init()) return 2;
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  const int rounds = quick ? 50 : 1000;
  bench::Figures f("courier");

  unsigned char pk[crypto_box_PUBLICKEYBYTES], sk[crypto_box_SECRETKEYBYTES];
  crypto_box_keypair(pk, sk);
  unsigned char content_key[32], sealed[crypto_box_SEALBYTES + 32], opened[32];
  randombytes_buf(content_key, sizeof content_key);
  std::vector<double> seal, open;
  for (int i = 0; i < rounds; ++i) {
    auto t0 = Clock::now();
    crypto_box_seal(sealed, content_key, sizeof content_key, pk);
    auto t1 = Clock::now();
    if (crypto_box_seal_open(opened, sealed, sizeof sealed, pk, sk) != 0) std::abort();
    auto t2 = Clock::now();
    seal.push_back(micros(t1 - t0));
    open.push_back(micros(t2 - t1));
  }
  const double raw_seal = median(seal), raw_open = median(open);
  f.add("raw crypto_box_seal (32 B key)", raw_seal, "us", "median; the owner runs one per audience member");
  f.add("raw crypto_box_seal_open", raw_open, "us", "median; the recipient runs one");

  std::vector<double> hop, relayed;
  for (int i = 0; i < rounds; ++i) {
    hop.push_back(one_delivery(false, i));
    relayed.push_back(one_delivery(true, i));
  }
  const double one = median(hop), two = median(relayed);
  const double floor = 2 * raw_seal + raw_open;  // sealed to owner and host, opened by the host
  f.add("delivery one hop (A - B)", one, "us",
        "median; " + std::to_string(static_cast<int>(one / floor * 100)) + " % of 2 seals + 1 open");
  f.add("delivery through a relay (A - C - B)", two, "us",
        "median; carry, queue, deliver, ack; " + std::to_string(static_cast<int>(two / floor * 100)) +
            " % of 2 seals + 1 open");
  f.print_table();
  f.print_json();
  return 0;
}
