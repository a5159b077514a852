// Fuzz target: the sync engine as a peer drives it. The input is a sequence
// of frames (u16 big-endian length || bytes) that one connected roster
// member sends, each handed to SyncEngine::on_message_bytes with the clock a
// little later; every ApplyBatch the engine asks for is carried out on an
// in-memory log with the store's acceptance rules and reported back, and
// the timer runs between frames. Beyond "no crash, no sanitizer report", it
// checks the engine's bounds after every frame: buffered bytes within
// max_buffer_bytes, out-of-order batches within their bound, one peer's
// credit within half the budget, and every delta handed out linking to the
// origin's head (the log refuses nothing but dependencies).
// Frames of the courier's messages (SyncMessage fields 8-11, docs/privacy.md)
// go to the courier state machine instead, as the daemon routes them
// (courier_fuzz_world.h: a record of the peer's and one of its own, both
// with personal data, and a third member to carry for); its bounds (offers
// in flight, the relay queue) are checked after every frame too.
//
// Seeds (tests/fuzz/corpus/sync): `conect_fuzz_sync_corpus DIR` records what
// an honest engine sends over a catch-up, live pushes and an equivocation.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <variant>

#include "courier_fuzz_world.h"
#include "fuzz_check.h"
#include "mem_log.h"

namespace {

using namespace conect;
using namespace conect::sync;
using conect::sync::test::Author;
using conect::sync::test::MemLog;
using conect::sync::test::test_federation;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const bool init = crypto_init();
  if (!init) return 0;
  // The engine under test (seed 2) and the peer whose frames these are
  // (seed 1), as in the corpus maker; the log holds a few of the peer's
  // deltas so that summaries, probes and evidence meet real heads.
  static Author peer(1, test_federation()), self(2, test_federation()), other(3, test_federation());
  static const std::vector<VerifiedDelta> held = [] {
    Author a(1, test_federation());
    std::vector<VerifiedDelta> v;
    for (int k = 0; k < 3; ++k) v.push_back(a.next());
    return v;
  }();
  MemLog log;
  if (size > 0 && (data[0] & 1)) (void)log.apply(held);
  SyncConfig cfg;
  cfg.federation = test_federation();
  cfg.self = self.id();
  cfg.limits.max_delta_bytes = 64 * 1024;
  cfg.max_buffer_bytes = 1u << 20;
  cfg.window_bytes = 256 * 1024;
  std::uint64_t now = 1000;
  SyncEngine engine(cfg, log, {peer.id(), other.id()}, now);
  engine.on_peer_connected(peer.id(), (size > 0 && (data[0] & 2)) ? PeerRole::dialler : PeerRole::acceptor, now);
  static const conect::courier::test::CourierFuzzWorld personal(self.id(), peer.id());
  conect::courier::test::MemView view = personal.view;  // what a StoreBlob writes stays in this run
  conect::courier::CourierConfig ccfg;
  ccfg.self = self.id();
  ccfg.max_carried = 8;  // small, so a fuzzed input reaches the bound
  ccfg.max_carried_bytes = 64 * 1024;
  conect::courier::Courier courier(ccfg, view, personal.self_seal);
  courier.on_peer_connected(peer.id(), now);
  auto drain = [&] {
    while (auto a = engine.poll()) {
      if (auto* ap = std::get_if<ApplyBatchAction>(&*a)) {
        FUZZ_CHECK(!ap->deltas.empty());
        FUZZ_CHECK(ap->deltas.front().seq.value == log.seq(ap->origin) + 1);
        Status st = log.apply(ap->deltas);
        engine.on_batch_applied({ap->apply_id, st}, now);
      } else if (auto* ev = std::get_if<StoreEvidenceAction>(&*a)) {
        FUZZ_CHECK(ev->first.origin == ev->second.origin && ev->first.seq == ev->second.seq);
        log.add_evidence(*ev);
      }
    }
    FUZZ_CHECK(engine.buffered_bytes() <= cfg.max_buffer_bytes);
    FUZZ_CHECK(engine.reordered_batches() <= cfg.max_reorder_batches * cfg.max_fetches);
    FUZZ_CHECK(engine.peer_credit(peer.id()) <= cfg.max_buffer_bytes / 2);
    while (auto a = courier.poll()) {
      if (auto* b = std::get_if<conect::courier::StoreBlobAction>(&*a)) {
        // Only a plaintext the signed record commits to is ever stored.
        FUZZ_CHECK(blake2b256(b->plaintext) == b->commitment);
        FUZZ_CHECK(b->record == personal.peer_record());
        courier.on_blob_stored(b->store_id, view.put_blob(b->commitment, b->plaintext), now);
      } else if (auto* k = std::get_if<conect::courier::AuthorAckAction>(&*a)) {
        view.acks.insert({k->commitment, self.id()});
        courier.on_ack_authored(k->commitment, {}, now);
      }
    }
    FUZZ_CHECK(courier.in_flight(peer.id()) <= ccfg.max_in_flight_per_peer);
    FUZZ_CHECK(courier.carries_in_flight(peer.id()) <= ccfg.max_in_flight_per_peer);
    FUZZ_CHECK(courier.queued() <= ccfg.max_carried && courier.queued_bytes() <= ccfg.max_carried_bytes);
  };
  drain();
  std::size_t at = size > 0 ? 1 : 0;
  while (at + 2 <= size) {
    const std::size_t len = (std::size_t{data[at]} << 8) | data[at + 1];
    at += 2;
    const std::size_t n = std::min(len, size - at);
    const std::string_view frame(reinterpret_cast<const char*>(data + at), n);
    v1::SyncMessage m;
    if (m.ParseFromArray(frame.data(), static_cast<int>(frame.size())) &&
        conect::courier::Courier::is_courier_message(m))
      courier.on_message(peer.id(), m, now);
    else
      engine.on_message_bytes(peer.id(), frame, now);
    at += n;
    drain();
    now += 700;
    engine.on_timer(now);
    courier.sweep(now);
    drain();
  }
  now += 60'000;  // every request times out, every buffered push expires
  engine.on_timer(now);
  courier.sweep(now);
  drain();
  if (std::getenv("CONECT_FUZZ_VERBOSE") != nullptr)
    std::fprintf(stderr, "holds %llu of the peer's deltas and %zu blobs, %llu messages in, %llu refused/unproven\n",
                 static_cast<unsigned long long>(log.seq(peer.id())), view.blobs.size(),
                 static_cast<unsigned long long>(engine.stats().messages_in),
                 static_cast<unsigned long long>(engine.stats().batches_refused + engine.stats().evidence_unproven));
  return 0;
}
