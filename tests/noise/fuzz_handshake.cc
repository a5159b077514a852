// libFuzzer target for node/net's readers of untrusted bytes:
//   mode 0/1  raw bytes as handshake messages to a responder / an initiator
//   mode 2    fuzzed HandshakePayload inside a valid Noise message 2, so the
//             payload parser and the identity checks see the bytes
//   mode 3    frames into an established SecureChannel: genuine, forged,
//             bit-flipped and closing frames in a fuzzer-chosen order
// Beyond "no crash", it checks the rules: a failure latches, nothing forged
// ever opens, and genuine in-order frames open until the first failure.
#include <sodium.h>

#include <cstdint>
#include <cstdlib>
#include <string>

#include "conect/crdt/identity.h"
#include "conect/net/secure_channel.h"

namespace {

using namespace conect;
using namespace conect::net;

void check(bool condition) {
  if (!condition) std::abort();
}

struct World {
  FederationId federation;
  KeyPair alice_id = KeyPair::from_seed({1});
  KeyPair bob_id = KeyPair::from_seed({2});
  PeerCredentials alice;
  PeerCredentials bob;

  World()
      : alice(alice_id, key(11), federation_id()),
        bob(bob_id, key(22), federation_id()) {
    federation = federation_id();
  }
  static FederationId federation_id() {
    FederationId f;
    f.bytes.fill(0x42);
    return f;
  }
  static NoiseStaticKey key(std::uint8_t seed) {
    std::array<std::uint8_t, 32> priv{};
    priv.fill(seed);
    auto k = NoiseStaticKey::from_private(priv);
    check(k.ok());
    return *k;
  }
};

const World& world() {
  static const World* w = [] {
    check(crypto_init());
    return new World();
  }();
  return *w;
}

class Reader {
 public:
  Reader(const std::uint8_t* data, std::size_t size) : p_(data), n_(size) {}
  bool more() const { return n_ > 0; }
  std::uint8_t byte() {
    if (n_ == 0) return 0;
    --n_;
    return *p_++;
  }
  // A 2-byte big-endian length, then up to that many bytes.
  std::string frame() {
    std::size_t len = static_cast<std::size_t>(byte()) << 8;
    len |= byte();
    return take(len);
  }
  std::string rest() { return take(n_); }

 private:
  std::string take(std::size_t len) {
    len = std::min(len, n_);
    std::string out(reinterpret_cast<const char*>(p_), len);
    p_ += len;
    n_ -= len;
    return out;
  }
  const std::uint8_t* p_;
  std::size_t n_;
};

constexpr std::size_t kMaxFrame = 4096;

HandshakeDriver driver(NoiseRole role) {
  const World& w = world();
  HandshakeOptions o;
  o.role = role;
  o.max_frame_bytes = kMaxFrame;
  if (role == NoiseRole::initiator) o.expected_peer = w.bob_id.public_key();
  o.is_member = [](const NodeId&) { return true; };
  auto d = HandshakeDriver::create(role == NoiseRole::initiator ? w.alice : w.bob, std::move(o));
  check(d.ok());
  return std::move(d).value();
}

void fuzz_raw_messages(Reader& in, NoiseRole role) {
  HandshakeDriver d = driver(role);
  check(d.start().ok());
  while (in.more()) {
    auto out = d.receive(in.frame());
    if (!out) {
      check(d.has_failed() && !d.is_complete());
      check(!d.receive("again").ok());
      return;
    }
  }
}

void fuzz_payload(Reader& in) {
  const World& w = world();
  HandshakeDriver alice = driver(NoiseRole::initiator);
  auto raw = NoiseXX::create(NoiseRole::responder, handshake_prologue(w.federation),
                             w.bob.noise_static().keypair());
  check(raw.ok());
  auto m1 = alice.start();
  check(m1.ok() && raw->read_message(m1->at(0)).ok());
  auto m2 = raw->write_message(in.rest());
  if (!m2) return;  // over 65535 bytes
  auto out = alice.receive(*m2);
  // Only Bob's own binding over Bob's static key can be accepted.
  if (out) check(alice.peer() == w.bob_id.public_key());
  else check(alice.has_failed());
}

void fuzz_frames(Reader& in) {
  HandshakeDriver a = driver(NoiseRole::initiator);
  HandshakeDriver b = driver(NoiseRole::responder);
  auto m1 = a.start();
  auto m2 = b.receive(m1->at(0));
  auto m3 = a.receive(m2->at(0));
  auto hb = b.receive(m3->at(0));
  check(m3.ok() && hb.ok());
  auto sender = a.take_channel();
  auto receiver = b.take_channel();
  check(sender.ok() && receiver.ok());
  check(receiver->open(m3->at(1)).ok());
  bool broken = false;
  while (in.more() && !sender->sent_final()) {
    std::uint8_t op = in.byte() % 4;
    std::string body = in.frame();
    if (op == 0 || op == 2) {  // genuine frame, maybe bit-flipped
      auto f = sender->seal(body);
      if (!f) continue;  // over the limit: refused, not sent
      if (op == 2 && !f->empty()) {
        std::size_t bit = (body.empty() ? 0 : static_cast<std::uint8_t>(body[0])) % (f->size() * 8);
        (*f)[bit / 8] = static_cast<char>((*f)[bit / 8] ^ (1 << (bit % 8)));
      }
      auto r = receiver->open(*f);
      if (op == 0 && !broken) check(r.ok() && r->kind == FrameKind::message && r->plaintext == body);
      else check(!r.ok());
      broken = broken || !r.ok();
    } else if (op == 1) {  // forged bytes
      auto r = receiver->open(body);
      check(!r.ok());
      broken = true;
    } else {  // clean close
      auto f = sender->close();
      check(f.ok());
      auto r = receiver->open(*f);
      if (!broken) check(r.ok() && r->kind == FrameKind::final);
      else check(!r.ok());
    }
    check(broken == receiver->has_failed());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Reader in(data, size);
  switch (in.byte() % 4) {
    case 0: fuzz_raw_messages(in, NoiseRole::responder); break;
    case 1: fuzz_raw_messages(in, NoiseRole::initiator); break;
    case 2: fuzz_payload(in); break;
    default: fuzz_frames(in); break;
  }
  return 0;
}
