// The courier (node/courier) behind fuzz_sync_engine, and the corpus maker's
// copy of it: the engine's node (self) and the fuzzing peer each own a
// mobility with personal data whose audience is the two of them, so a
// frame from the peer reaches every check of the recipient side (its record
// is held here) and the owner side has something to offer; a third member,
// never linked, is what the peer asks self to carry envelopes for.
#pragma once

#include <memory>
#include <string>

#include "../courier/world.h"

namespace conect::courier::test {

struct CourierFuzzWorld {
  CourierFuzzWorld(const NodeId& self_id, const NodeId& peer_id)
      : self(self_id),
        peer(peer_id),
        self_seal(SealKey::from_seed(seed_of(9, 2))),
        peer_seal(SealKey::from_seed(seed_of(9, 1))),
        third(KeyPair::from_seed(seed_of(9, 3)).public_key()),
        third_seal(SealKey::from_seed(seed_of(9, 4))),
        view(self_id) {
    view.roles = {{self, v1::SCHOOL}, {peer, v1::SCHOOL}, {third, v1::COMPANY}};
    view.seal_keys_ = {
        {self, self_seal.current().public_key()}, {peer, peer_seal.public_key()}, {third, third_seal.public_key()}};
    view.records[peer_record()] = mobility_state(self, peer_plaintext());
    view.records[own_record()] = mobility_state(peer, own_plaintext());
    view.blobs[blake2b256(own_plaintext())] = own_plaintext();
    view.heads[peer] = 3;
    view.heads[self] = 1;
  }
  RecordKey peer_record() const { return RecordKey{v1::MOBILITY, peer, 1ull << 16}; }
  RecordKey own_record() const { return RecordKey{v1::MOBILITY, self, 1ull << 16}; }
  static std::string peer_plaintext() { return std::string(16, 'p') + R"({"name":"Fuzz Peer"})"; }
  static std::string own_plaintext() { return std::string(16, 'o') + R"({"name":"Fuzz Self"})"; }
  // An envelope the peer honestly seals for self: the recipient's happy path.
  std::string peer_envelope() const {
    SealTarget t[] = {{peer, peer_seal.public_key()}, {self, self_seal.current().public_key()}};
    auto e = seal_envelope(peer_plaintext(), blake2b256(peer_plaintext()), peer, t);
    return e.ok() ? *e : std::string();
  }
  // An envelope of one of the peer's contacts, for `third` to open: what the
  // peer asks self to carry.
  RecordKey peer_contact() const { return RecordKey{v1::CONTACT, peer, 2ull << 16}; }
  std::string carried_envelope() const {
    SealTarget t[] = {{peer, peer_seal.public_key()}, {third, third_seal.public_key()}};
    auto e = seal_envelope(peer_plaintext(), blake2b256(peer_plaintext()), peer, t);
    return e.ok() ? *e : std::string();
  }
  std::unique_ptr<Courier> make_courier(CourierConfig cfg = {}) const {
    cfg.self = self;
    return std::make_unique<Courier>(cfg, view, self_seal);
  }

  NodeId self, peer;
  SealKeyring self_seal;
  SealKey peer_seal;
  NodeId third;
  SealKey third_seal;
  MemView view;
};

}  // namespace conect::courier::test
