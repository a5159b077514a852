// Handshakes per second with both sides in one thread (so the figure is the
// CPU cost of BOTH ends on one core), split into its parts so a regression
// can be placed: the bare Noise XX exchange, conect's full handshake (Noise +
// payloads + binding verification + stream key derivation), and the
// libsodium primitives it is made of. Then sealed/opened frames per second.
#include <benchmark/benchmark.h>
#include <sodium.h>

#include "conect/crdt/identity.h"
#include "conect/net/secure_channel.h"

namespace {

using namespace conect;
using namespace conect::net;

struct Fixture {
  FederationId federation;
  KeyPair alice_id = KeyPair::generate();
  KeyPair bob_id = KeyPair::generate();
  PeerCredentials alice{alice_id, make_key(), federation};
  PeerCredentials bob{bob_id, make_key(), federation};
  static NoiseStaticKey make_key() {
    if (!crypto_init()) std::abort();
    auto k = NoiseStaticKey::generate();
    if (!k) std::abort();
    return *k;
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

HandshakeDriver make_driver(NoiseRole role) {
  const Fixture& f = fixture();
  HandshakeOptions o;
  o.role = role;
  if (role == NoiseRole::initiator) o.expected_peer = f.bob_id.public_key();
  o.is_member = [](const NodeId&) { return true; };
  auto d = HandshakeDriver::create(role == NoiseRole::initiator ? f.alice : f.bob, std::move(o));
  if (!d) std::abort();
  return std::move(d).value();
}

// One complete conect handshake, both sides, including both stream headers.
std::pair<SecureChannel, SecureChannel> handshake() {
  HandshakeDriver a = make_driver(NoiseRole::initiator);
  HandshakeDriver b = make_driver(NoiseRole::responder);
  auto m1 = a.start();
  auto m2 = b.receive(m1->at(0));
  auto m3 = a.receive(m2->at(0));
  auto hb = b.receive(m3->at(0));
  if (!m3 || !hb) std::abort();
  auto ca = a.take_channel();
  auto cb = b.take_channel();
  if (!cb->open(m3->at(1)) || !ca->open(hb->at(0))) std::abort();
  return {std::move(*ca), std::move(*cb)};
}

void BM_ConectHandshake(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(handshake());
  state.counters["handshakes_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                          benchmark::Counter::kIsRate);
}
BENCHMARK(BM_ConectHandshake)->Unit(benchmark::kMicrosecond);

void BM_NoiseXXOnly(benchmark::State& state) {
  const Fixture& f = fixture();
  for (auto _ : state) {
    auto a = NoiseXX::create(NoiseRole::initiator, "p", f.alice.noise_static().keypair());
    auto b = NoiseXX::create(NoiseRole::responder, "p", f.bob.noise_static().keypair());
    auto m1 = a->write_message({});
    if (!b->read_message(*m1)) std::abort();
    auto m2 = b->write_message({});
    if (!a->read_message(*m2)) std::abort();
    auto m3 = a->write_message({});
    if (!b->read_message(*m3)) std::abort();
    benchmark::DoNotOptimize(a->split());
    benchmark::DoNotOptimize(b->split());
  }
  state.counters["handshakes_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                          benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NoiseXXOnly)->Unit(benchmark::kMicrosecond);

void BM_X25519(benchmark::State& state) {
  auto a = DhKeyPair::generate();
  auto b = DhKeyPair::generate();
  for (auto _ : state) benchmark::DoNotOptimize(dh(*a, b->public_key()));
}
BENCHMARK(BM_X25519)->Unit(benchmark::kMicrosecond);

void BM_Ed25519Verify(benchmark::State& state) {
  const Fixture& f = fixture();
  for (auto _ : state)
    benchmark::DoNotOptimize(verify_static_binding(f.bob_id.public_key(), f.bob.noise_static().public_key(),
                                                   f.federation, f.bob.binding().raw()));
}
BENCHMARK(BM_Ed25519Verify)->Unit(benchmark::kMicrosecond);

void BM_SealOpen(benchmark::State& state) {
  auto [a, b] = handshake();
  std::string message(static_cast<std::size_t>(state.range(0)), 'm');
  for (auto _ : state) {
    auto frame = a.seal(message);
    auto opened = b.open(*frame);
    if (!opened) std::abort();
    benchmark::DoNotOptimize(opened->plaintext.data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) * state.range(0));
  state.counters["frames_per_s"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                      benchmark::Counter::kIsRate);
}
BENCHMARK(BM_SealOpen)->Arg(64)->Arg(4096)->Arg(256 * 1024);

}  // namespace

BENCHMARK_MAIN();
