// Writes the seed corpus of fuzz_sync_engine: two honest engines (seeds 1
// and 2, as the target uses) over in-memory logs, and the frames engine 1
// sends engine 2, one file per scene, in the target's input format (a flags
// byte, then u16 big-endian length || frame). Run by hand:
//   conect_fuzz_sync_corpus tests/fuzz/corpus/sync
#include <cstdio>
#include <deque>
#include <fstream>
#include <string>
#include <variant>

#include "courier_fuzz_world.h"
#include "mem_log.h"

namespace {

using namespace conect;
using namespace conect::sync;
using conect::sync::test::Author;
using conect::sync::test::MemLog;
using conect::sync::test::test_federation;

struct Node {
  Author author;
  MemLog log;
  std::unique_ptr<SyncEngine> engine;
};

// Runs a scene and returns what node 0 sent node 1, as one input.
std::string scene(int variant) {
  Node a{Author(1, test_federation()), {}, nullptr}, b{Author(2, test_federation()), {}, nullptr};
  Author other(3, test_federation());
  const int count = variant == 0 ? 5 : variant == 1 ? 40 : 3;
  for (int k = 0; k < count; ++k) (void)a.log.apply({a.author.next(variant == 1 ? 600 : 40)});
  if (variant == 2) (void)b.log.apply(a.log.chain(a.author.id()));  // in sync, then live pushes
  std::uint64_t now = 1000;
  SyncConfig ca, cb;
  ca.federation = cb.federation = test_federation();
  ca.self = a.author.id();
  cb.self = b.author.id();
  a.engine = std::make_unique<SyncEngine>(ca, a.log, std::vector<NodeId>{b.author.id(), other.id()}, now);
  b.engine = std::make_unique<SyncEngine>(cb, b.log, std::vector<NodeId>{a.author.id(), other.id()}, now);
  // Flags: bit 1, the target's engine dials (as node 1 does here); bit 0,
  // its log holds node 0's first 3 deltas (as node 1's does in variant 2).
  std::string out(1, static_cast<char>(2 | (variant == 2 ? 1 : 0)));
  std::deque<std::pair<int, std::string>> wire;
  auto drain = [&](Node& n, int to) {
    while (auto act = n.engine->poll()) {
      if (auto* s = std::get_if<SendAction>(&*act)) {
        std::string bytes = s->message.SerializeAsString();
        if (to == 1 && bytes.size() < 65536) {
          out.push_back(static_cast<char>(bytes.size() >> 8));
          out.push_back(static_cast<char>(bytes.size() & 0xff));
          out += bytes;
        }
        wire.emplace_back(to, std::move(bytes));
      } else if (auto* ap = std::get_if<ApplyBatchAction>(&*act)) {
        n.engine->on_batch_applied({ap->apply_id, n.log.apply(ap->deltas)}, now);
      }
    }
  };
  b.engine->on_peer_connected(a.author.id(), PeerRole::dialler, now);
  a.engine->on_peer_connected(b.author.id(), PeerRole::acceptor, now);
  drain(*&a, 1);
  drain(*&b, 0);
  for (int round = 0; round < 2; ++round) {
    for (std::size_t k = 0; k < 10000 && !wire.empty(); ++k) {
      auto [to, bytes] = std::move(wire.front());
      wire.pop_front();
      Node& n = to == 1 ? b : a;
      n.engine->on_message_bytes(to == 1 ? a.author.id() : b.author.id(), bytes, now);
      drain(a, 1);
      drain(b, 0);
    }
    if (variant == 2 && round == 0) {
      for (int k = 0; k < 3; ++k) {
        auto d = a.author.next();
        (void)a.log.apply({d});
        a.engine->on_local_commit(std::span<const VerifiedDelta>(&d, 1), now);
      }
      drain(a, 1);
    }
  }
  if (variant == 3) {  // equivocation evidence of origin `other`, and a padded push
    auto e1 = other.next();
    Author fork(3, test_federation());
    auto x = fork.fork(1, DeltaId{});
    v1::SyncMessage m;
    *m.mutable_evidence()->mutable_evidence()->mutable_first() = e1.signed_delta;
    *m.mutable_evidence()->mutable_evidence()->mutable_second() = x.signed_delta;
    std::string bytes = m.SerializeAsString();
    out.push_back(static_cast<char>(bytes.size() >> 8));
    out.push_back(static_cast<char>(bytes.size() & 0xff));
    out += bytes;
    v1::SyncMessage p;
    *p.mutable_push()->mutable_delta() = a.author.next().signed_delta;
    bytes = p.SerializeAsString() + std::string("\x7a\x04pppp", 6);
    out.push_back(static_cast<char>(bytes.size() >> 8));
    out.push_back(static_cast<char>(bytes.size() & 0xff));
    out += bytes;
  }
  return out;
}

// Frames of personal-data delivery (docs/privacy.md) from the peer: an
// envelope it honestly sealed, the same sent too early (owner_seq ahead),
// one with a flipped ciphertext byte, and an answer for self's own record.
std::string personal_scene() {
  Author peer(1, test_federation()), self(2, test_federation());
  conect::courier::test::CourierFuzzWorld w(self.id(), peer.id());
  std::string out(1, '\0');
  auto frame = [&](const v1::SyncMessage& m) {
    std::string bytes = m.SerializeAsString();
    out.push_back(static_cast<char>(bytes.size() >> 8));
    out.push_back(static_cast<char>(bytes.size() & 0xff));
    out += bytes;
  };
  v1::SyncMessage d;
  *d.mutable_personal_deliver()->mutable_record() = w.peer_record().to_proto();
  d.mutable_personal_deliver()->set_type(v1::MOBILITY);
  d.mutable_personal_deliver()->set_envelope(w.peer_envelope());
  d.mutable_personal_deliver()->set_owner_seq(3);
  v1::SyncMessage early = d;
  early.mutable_personal_deliver()->set_owner_seq(9);
  v1::SyncMessage flipped = d;
  flipped.mutable_personal_deliver()->mutable_envelope()->back() ^= 1;
  v1::SyncMessage answer;
  answer.mutable_personal_answer()->set_commitment(blake2b256(w.own_plaintext()).raw());
  answer.mutable_personal_answer()->set_outcome(v1::PERSONAL_HELD);
  for (const auto* m : {&early, &flipped, &d, &d, &answer}) frame(*m);
  // Carry (docs/privacy.md "Carry"): the peer asks self to carry its
  // contact's envelope to the third member; then past the hop limit, and
  // with nothing left to live.
  v1::SyncMessage carry;
  auto* c = carry.mutable_personal_carry();
  *c->mutable_record() = w.peer_contact().to_proto();
  c->set_type(v1::CONTACT);
  c->set_envelope(w.carried_envelope());
  c->set_owner_seq(3);
  c->set_recipient(w.third.raw());
  c->set_ttl_ms(60'000);
  c->set_hops(1);
  c->set_hop_limit(2);
  v1::SyncMessage past = carry;
  past.mutable_personal_carry()->set_hops(3);
  v1::SyncMessage expired = carry;
  expired.mutable_personal_carry()->set_ttl_ms(0);
  for (const auto* m : {&carry, &past, &expired, &carry}) frame(*m);
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || !crypto_init()) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const char* names[] = {"catch-up-5", "catch-up-40-large", "live-pushes", "evidence-and-padding"};
  for (int v = 0; v < 4; ++v) {
    std::ofstream f(std::string(argv[1]) + "/" + names[v], std::ios::binary);
    f << scene(v);
  }
  std::ofstream f(std::string(argv[1]) + "/personal-delivery", std::ios::binary);
  f << personal_scene();
  return 0;
}
