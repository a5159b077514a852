// A small in-memory world for the courier state machine (node/courier):
// nodes with a CourierView over plain maps, records with personal data, and
// the actions carried out as the daemon does (StoreBlob into the blob map).
// Shared by the unit tests, the courier simulation and the fuzz target.
#pragma once

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include "conect/courier/courier.h"
#include "conect/crdt/audience.h"
#include "conect/crdt/identity.h"

namespace conect::courier::test {

// What every node of the world knows: records, logs' heads, roster, seal keys.
// (The sync protocol is not modelled: tests set what has "arrived".)
class MemView final : public CourierView {
 public:
  explicit MemView(NodeId self) : self_(self) {}

  Result<std::uint64_t> head_seq(const NodeId& origin) const override {
    if (fail_reads) return Error(Errc::storage_error, "injected");
    auto it = heads.find(origin);
    return it == heads.end() ? 0 : it->second;
  }
  Result<std::optional<v1::RecordState>> record(const RecordKey& key) const override {
    if (fail_reads) return Error(Errc::storage_error, "injected");
    auto it = records.find(key);
    if (it == records.end()) return std::optional<v1::RecordState>{};
    return std::optional<v1::RecordState>{it->second};
  }
  Result<std::optional<std::string>> blob(const Hash256& c) const override {
    if (fail_reads) return Error(Errc::storage_error, "injected");
    auto it = blobs.find(c);
    if (it == blobs.end()) return std::optional<std::string>{};
    return std::optional<std::string>{it->second};
  }
  Result<std::map<NodeId, v1::MemberRole>> member_roles() const override { return roles; }
  Result<std::map<NodeId, SealPublicKey>> seal_keys() const override { return seal_keys_; }
  Result<bool> acknowledged(const Hash256& c, const NodeId& member) const override {
    return acks.contains({c, member});
  }
  Status own_records(const RecordVisitor& visit) const override {
    ++own_record_scans;
    if (fail_reads) return Error(Errc::storage_error, "injected");
    for (const auto& [k, s] : records)
      if (k.owner == self_) visit(k, s);
    return {};
  }
  // Tests change the maps below directly, so the generation is a digest of
  // everything this view answers from: any change moves it, as a commit
  // moves the store's.
  std::uint64_t generation() const override {
    std::string all;
    for (const auto& [id, seq] : heads) all += id.raw() + std::to_string(seq) + ';';
    for (const auto& [k, st] : records) all += k.text() + st.SerializeAsString() + ';';
    for (const auto& [c, bytes] : blobs) all += c.raw() + bytes + ';';
    for (const auto& [id, role] : roles) all += id.raw() + std::to_string(role) + ';';
    for (const auto& [id, key] : seal_keys_) all += id.raw() + key.raw() + ';';
    for (const auto& [c, member] : acks) all += c.raw() + member.raw() + ';';
    all += fail_reads ? "f" : "r";
    return std::hash<std::string>{}(all);
  }
  // Store::put_blob: a tombstone refuses for good.
  Status put_blob(const Hash256& c, const std::string& bytes) {
    auto it = blobs.find(c);
    if (it != blobs.end() && it->second.empty()) return Error(Errc::not_authorised, "erased");
    blobs[c] = bytes;
    return {};
  }

  std::map<NodeId, std::uint64_t> heads;
  std::map<RecordKey, v1::RecordState> records;
  std::map<Hash256, std::string> blobs;
  std::map<NodeId, v1::MemberRole> roles;
  std::map<NodeId, SealPublicKey> seal_keys_;
  std::set<std::pair<Hash256, NodeId>> acks;  // EnvelopeAck operations this node's store holds
  bool fail_reads = false;
  mutable std::size_t own_record_scans = 0;

 private:
  NodeId self_;
};

inline std::array<std::uint8_t, 32> seed_of(std::uint8_t tag, std::uint8_t n) {
  std::array<std::uint8_t, 32> s{};
  s.fill(n);
  s[0] = tag;
  return s;
}

struct WorldNode {
  WorldNode(std::uint8_t n, CourierConfig cfg = {})
      : identity(KeyPair::from_seed(seed_of(1, n))),
        seal(SealKey::from_seed(seed_of(2, n))),
        view(identity.public_key()) {
    cfg.self = identity.public_key();
    courier = std::make_unique<Courier>(cfg, view, seal);
  }
  NodeId id() const { return identity.public_key(); }

  KeyPair identity;
  SealKeyring seal;
  MemView view;
  std::unique_ptr<Courier> courier;
  std::vector<Event> events;
  std::vector<SendAction> sent;  // every frame this node sent, in order
  bool refuse_stores = false;    // StoreBlob fails (a full disk)
  bool refuse_acks = false;      // AuthorAck fails (a store fenced after a restore)
  std::size_t acks_authored = 0;
};

// Nodes, the links between them, and a queue of frames in flight. Actions
// are carried out the way the daemon does; frames go into the queue and are
// handed over by deliver_all() (or dropped by the caller).
class World {
 public:
  WorldNode& add(std::uint8_t n, v1::MemberRole role = v1::SCHOOL, CourierConfig cfg = {}) {
    nodes.push_back(std::make_unique<WorldNode>(n, cfg));
    WorldNode& w = *nodes.back();
    roster[w.id()] = role;
    if (role != v1::AUDITOR) seal_keys[w.id()] = w.seal.current().public_key();
    sync_roster();
    return w;
  }
  void sync_roster() {
    for (auto& n : nodes) {
      n->view.roles = roster;
      n->view.seal_keys_ = seal_keys;
    }
  }
  WorldNode* find(const NodeId& id) {
    for (auto& n : nodes)
      if (n->id() == id) return n.get();
    return nullptr;
  }

  void link(WorldNode& a, WorldNode& b) {
    links.insert({a.id(), b.id()});
    links.insert({b.id(), a.id()});
    a.courier->on_peer_connected(b.id(), now);
    b.courier->on_peer_connected(a.id(), now);
    drain_all();
  }
  void unlink(WorldNode& a, WorldNode& b) {
    links.erase({a.id(), b.id()});
    links.erase({b.id(), a.id()});
    a.courier->on_peer_disconnected(b.id(), now);
    b.courier->on_peer_disconnected(a.id(), now);
    drain_all();
  }

  // Carries out every action of one node (frames go into the queue).
  void drain(WorldNode& w) {
    while (auto a = w.courier->poll()) {
      if (auto* s = std::get_if<SendAction>(&*a)) {
        w.sent.push_back(*s);
        if (links.contains({w.id(), s->peer})) wire.push_back({w.id(), s->peer, s->message});
      } else if (auto* b = std::get_if<StoreBlobAction>(&*a)) {
        Status st = w.refuse_stores ? Status(Error(Errc::storage_full, "injected"))
                                    : w.view.put_blob(b->commitment, b->plaintext);
        w.courier->on_blob_stored(b->store_id, st, now);
      } else if (auto* k = std::get_if<AuthorAckAction>(&*a)) {
        if (w.refuse_acks) {
          w.courier->on_ack_authored(k->commitment, Error(Errc::not_authorised, "fenced"), now);
          continue;
        }
        ++w.acks_authored;
        w.view.acks.insert({k->commitment, w.id()});
        ack_log.push_back({k->commitment, w.id()});
        if (spread_acks)
          for (auto& n : nodes) n->view.acks.insert({k->commitment, w.id()});
        w.courier->on_ack_authored(k->commitment, {}, now);
      } else if (auto* e = std::get_if<Event>(&*a)) {
        w.events.push_back(*e);
      }
    }
  }
  void drain_all() {
    for (auto& n : nodes) drain(*n);
  }
  // Hands every queued frame to its receiver (and what that causes), until quiet.
  void deliver_all(std::size_t max_rounds = 100) {
    for (std::size_t r = 0; r < max_rounds && !wire.empty(); ++r) {
      auto batch = std::move(wire);
      wire.clear();
      for (auto& f : batch) {
        if (!links.contains({f.from, f.to})) continue;  // the link went down meanwhile
        WorldNode* to = find(f.to);
        to->courier->on_message(f.from, f.message, now);
        drain(*to);
      }
    }
  }
  void sweep_all() {
    for (auto& n : nodes) {
      n->courier->sweep(now);
      drain(*n);
    }
  }
  // Every node learns a record (and the owner's head) as the sync would.
  void replicate(const RecordKey& key, const v1::RecordState& state, std::uint64_t owner_seq) {
    for (auto& n : nodes) {
      n->view.records[key] = state;
      n->view.heads[key.owner] = std::max(n->view.heads[key.owner], owner_seq);
    }
  }

  struct Frame {
    NodeId from, to;
    v1::SyncMessage message;
  };
  std::vector<std::unique_ptr<WorldNode>> nodes;
  std::set<std::pair<NodeId, NodeId>> links;
  std::deque<Frame> wire;
  std::map<NodeId, v1::MemberRole> roster;
  std::map<NodeId, SealPublicKey> seal_keys;
  std::uint64_t now = 1'000;
  // Acknowledgements authored, in order; with spread_acks every node's store
  // holds one at once (the sync is not modelled), else only its author's.
  std::vector<std::pair<Hash256, NodeId>> ack_log;
  bool spread_acks = true;
};

// A mobility owned by `owner`, received by `host`'s organisation, whose
// personal data is `plaintext` (salt || content).
inline v1::RecordState mobility_state(const NodeId& host, const std::string& plaintext) {
  v1::RecordState s;
  auto* fixed = s.mutable_mobility()->mutable_fixed();
  fixed->mutable_receiving_organisation()->set_owner(host.raw());
  fixed->mutable_receiving_organisation()->set_serial(1);
  fixed->mutable_participant()->mutable_personal()->set_commitment(blake2b256(plaintext).raw());
  s.set_created(true);
  return s;
}

inline std::size_t count_events(const WorldNode& w, EventKind k, std::string_view reason = {}) {
  std::size_t n = 0;
  for (const auto& e : w.events)
    if (e.kind == k && (reason.empty() || e.reason == reason)) ++n;
  return n;
}

}  // namespace conect::courier::test
