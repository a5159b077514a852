// conect_courier_sim: the courier state machine (node/courier,
// docs/privacy.md "Delivery") under the simulator's faults, from one seed:
// messages dropped, duplicated, delayed and so reordered; links cut and
// healed (partitions); nodes crashed and restarted (the courier's memory is
// thrown away, the store stays); records reaching nodes late (the sync is
// modelled as each record and the owner's head arriving at a random time).
//
// The heal leaves a sparse connected graph (a random tree plus a few
// edges, auditors as leaves), so data reaches most audience members only
// through relays that carry the ciphertext (docs/privacy.md "Carry");
// acknowledgements (EnvelopeAck operations) reach other nodes at random
// times, as the sync would bring them.
//
// Invariants checked on every run:
//   - at every step: only an audience member ever stores a plaintext, and
//     only the one its record commits to; offers in flight per peer and
//     every relay queue stay within their bounds;
//   - after heal + quiet: every audience member that announced a seal key
//     holds the personal data of every record that was not erased, no node
//     holds erased data, and every relay queue is empty (acknowledged,
//     delivered or dropped).
//
//   CONECT_COURIER_SIM_SEED=N   run that one seed (verbose)
//   CONECT_COURIER_SIM_SEEDS=N  run seeds 1..N (default 300)
// The same seed gives the same run, decision for decision.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "../../courier/world.h"

namespace {

using namespace conect;
using namespace conect::courier;
using namespace conect::courier::test;

struct SimOutcome {
  bool ok = true;
  std::string failure;
  std::uint64_t frames = 0, dropped = 0, duplicated = 0, crashes = 0, partitions = 0, records = 0, stored = 0,
                carried = 0, queue_full = 0, peak_queue = 0;
};

class CourierSim {
 public:
  explicit CourierSim(std::uint64_t seed) : rng_(seed) {}

  SimOutcome run(bool verbose) {
    world_.spread_acks = false;
    const int n = pick(3, 6);
    for (int i = 0; i < n; ++i) {
      v1::MemberRole role = i == n - 1 && chance(0.3) ? v1::AUDITOR : (chance(0.3) ? v1::COMPANY : v1::SCHOOL);
      world_.add(static_cast<std::uint8_t>(i + 1), role, config(NodeId{}));
    }
    // A member that announced no seal key (yet): it must never receive.
    if (chance(0.3)) {
      world_.seal_keys.erase(world_.nodes[static_cast<std::size_t>(pick(0, n - 1))]->id());
      world_.sync_roster();
    }
    for (auto& a : world_.nodes)
      for (auto& b : world_.nodes)
        if (a->id() < b->id() && chance(0.7)) up(*a, *b);
    const std::uint64_t end = 120'000;
    std::uint64_t next_sweep = world_.now;
    while (world_.now < end) {
      step();
      if (world_.now >= next_sweep) {
        world_.sweep_all();
        route();
        next_sweep = world_.now + 1'000;
      }
      if (!check(verbose)) return out_;
      world_.now += static_cast<std::uint64_t>(pick(1, 200));
    }
    // Heal: every node up, the final sparse graph linked (every link made
    // anew), everything replicated, acknowledgements spread; quiet.
    for (auto& a : world_.nodes)
      if (down_.contains(a->id())) restart(*a);
    for (auto& a : world_.nodes)
      for (auto& b : world_.nodes) cut(*a, *b);
    for (const auto& [x, y] : final_graph()) up(*world_.nodes[x], *world_.nodes[y]);
    for (const auto& [k, r] : records_)
      for (auto& node : world_.nodes) arrive(*node, k);
    for (auto& node : world_.nodes)
      for (const auto& ack : world_.ack_log) node->view.acks.insert(ack);
    for (int i = 0; i < 120 && out_.ok; ++i) {
      world_.now += 1'000;
      world_.sweep_all();
      route();
      while (!queue_.empty()) deliver_due(true);
      for (auto& node : world_.nodes)  // the healed sync brings every acknowledgement
        for (const auto& ack : world_.ack_log) node->view.acks.insert(ack);
      check(verbose);
    }
    if (verbose)
      for (auto& node : world_.nodes) {
        std::fprintf(stderr, "%s role %d: queued %zu", node->id().hex().substr(0, 8).c_str(),
                     static_cast<int>(world_.roster.at(node->id())), node->courier->queued());
        for (int k = 0; k <= static_cast<int>(EventKind::ack_authored); ++k)
          std::fprintf(stderr, " %s=%zu", event_name(static_cast<EventKind>(k)),
                       count_events(*node, static_cast<EventKind>(k)));
        std::fprintf(stderr, "\n");
      }
    if (!out_.ok) return out_;
    // Every audience member with a seal key holds what was not erased.
    for (const auto& [k, r] : records_) {
      for (auto& node : world_.nodes) {
        bool in = r.audience.contains(node->id()) && world_.seal_keys.contains(node->id());
        auto b = node->view.blobs.find(r.commitment);
        bool holds = b != node->view.blobs.end() && !b->second.empty();
        if (r.erased && holds) return fail("erased data still held at " + node->id().hex().substr(0, 8));
        if (!r.erased && in && !holds) {
          if (verbose) {
            for (auto& x : world_.nodes) {
              std::fprintf(stderr, "  %s%s%s links:", x->id().hex().substr(0, 8).c_str(),
                           x->id() == k.owner ? " (owner)" : "", x.get() == node.get() ? " (recipient)" : "");
              for (auto& y : world_.nodes)
                if (world_.links.contains({x->id(), y->id()}))
                  std::fprintf(stderr, " %s", y->id().hex().substr(0, 8).c_str());
              std::fprintf(stderr, " | queued=%d acked=%d record=%d head=%llu/%llu\n",
                           x->courier->queued_for(r.commitment, node->id()) ? 1 : 0,
                           x->view.acks.contains({r.commitment, node->id()}) ? 1 : 0,
                           x->view.records.contains(k) ? 1 : 0, static_cast<unsigned long long>(x->view.heads[k.owner]),
                           static_cast<unsigned long long>(r.owner_seq));
              for (const auto& e : x->events)
                if (e.record == k.text() || e.kind == EventKind::carry_accepted ||
                    e.kind == EventKind::carry_refused_by_peer)
                  std::fprintf(stderr, "     %s peer=%s reason=%s detail=%s\n", event_name(e.kind),
                               e.peer.hex().substr(0, 8).c_str(), e.reason.c_str(), e.detail.c_str());
            }
          }
          return fail("audience member " + node->id().hex().substr(0, 8) + " never received " + k.text());
        }
      }
    }
    for (auto& node : world_.nodes) {
      if (node->courier->queued() != 0)
        return fail("relay " + node->id().hex().substr(0, 8) + " still carries " +
                    std::to_string(node->courier->queued()) + " envelopes after the heal");
      if (node->courier->parked() != 0)
        return fail("node " + node->id().hex().substr(0, 8) + " still keeps " +
                    std::to_string(node->courier->parked()) + " deliveries parked after the heal");
      out_.stored += count_events(*node, EventKind::opened);
      out_.carried += count_events(*node, EventKind::carry_queued);
      out_.queue_full += count_events(*node, EventKind::carry_dropped, "queue_full");
    }
    return out_;
  }

 private:
  struct Rec {
    std::string plaintext;
    Hash256 commitment;
    std::set<NodeId> audience;
    v1::RecordState state;
    std::uint64_t owner_seq = 0;
    bool erased = false;
  };
  struct InFlight {
    std::uint64_t at;
    NodeId from, to;
    v1::SyncMessage message;
  };

  int pick(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool chance(double p) { return std::bernoulli_distribution(p)(rng_); }
  SimOutcome fail(std::string why) {
    out_.ok = false;
    out_.failure = "at " + std::to_string(world_.now) + " ms: " + why;
    return out_;
  }

  void up(WorldNode& a, WorldNode& b) {
    if (down_.contains(a.id()) || down_.contains(b.id())) return;
    world_.links.insert({a.id(), b.id()});
    world_.links.insert({b.id(), a.id()});
    a.courier->on_peer_connected(b.id(), world_.now);
    b.courier->on_peer_connected(a.id(), world_.now);
    world_.drain(a);
    world_.drain(b);
    route();
  }
  void cut(WorldNode& a, WorldNode& b) {
    if (!world_.links.contains({a.id(), b.id()})) return;
    world_.links.erase({a.id(), b.id()});
    world_.links.erase({b.id(), a.id()});
    a.courier->on_peer_disconnected(b.id(), world_.now);
    b.courier->on_peer_disconnected(a.id(), world_.now);
  }

  void restart(WorldNode& x) {
    down_.erase(x.id());
    out_.stored += count_events(x, EventKind::opened);
    x.courier = std::make_unique<Courier>(config(x.id()), x.view, x.seal);
    x.events.clear();
  }
  static CourierConfig config(const NodeId& self) {
    return CourierConfig{.self = self,
                         .answer_timeout_ms = 5'000,
                         .max_in_flight_per_peer = 4,
                         .hop_limit = kMaxHopLimit,  // any path of a 6-node graph
                         .max_carried = kMaxQueue,
                         .max_parked_per_peer = 4};
  }
  static constexpr std::size_t kMaxQueue = 64;

  // A random spanning tree over the nodes that are not auditors, auditors
  // hung on as leaves, and about one extra edge in three nodes.
  std::vector<std::pair<std::size_t, std::size_t>> final_graph() {
    std::vector<std::size_t> members, auditors;
    for (std::size_t i = 0; i < world_.nodes.size(); ++i)
      (world_.roster.at(world_.nodes[i]->id()) == v1::AUDITOR ? auditors : members).push_back(i);
    std::shuffle(members.begin(), members.end(), rng_);
    std::vector<std::pair<std::size_t, std::size_t>> edges;
    for (std::size_t i = 1; i < members.size(); ++i)
      edges.push_back({members[static_cast<std::size_t>(pick(0, static_cast<int>(i) - 1))], members[i]});
    for (std::size_t a : auditors)
      edges.push_back({members[static_cast<std::size_t>(pick(0, static_cast<int>(members.size()) - 1))], a});
    for (std::size_t k = 0; k < members.size() / 3; ++k) {
      std::size_t x = members[static_cast<std::size_t>(pick(0, static_cast<int>(members.size()) - 1))];
      std::size_t y = members[static_cast<std::size_t>(pick(0, static_cast<int>(members.size()) - 1))];
      if (x != y) edges.push_back({x, y});
    }
    return edges;
  }

  // The sync, modelled: a record (and its owner's head) reaches a node.
  void arrive(WorldNode& node, const RecordKey& k) {
    const Rec& r = records_.at(k);
    node.view.records[k] = r.state;
    auto& h = node.view.heads[k.owner];
    h = std::max(h, r.owner_seq);
    if (r.erased) {
      // Applying the Erase leaves a tombstone where data was held.
      auto b = node.view.blobs.find(r.commitment);
      if (b != node.view.blobs.end()) b->second.clear();
    }
    // As the daemon does after each applied batch: parked deliveries are
    // checked again.
    node.courier->on_applied(world_.now);
    world_.drain(node);
  }

  void step() {
    const int roll = pick(0, 99);
    auto& nodes = world_.nodes;
    WorldNode& x = *nodes[static_cast<std::size_t>(pick(0, static_cast<int>(nodes.size()) - 1))];
    WorldNode& y = *nodes[static_cast<std::size_t>(pick(0, static_cast<int>(nodes.size()) - 1))];
    if (roll < 8 && world_.roster.at(x.id()) != v1::AUDITOR) {  // a new record with personal data
      Rec r;
      r.plaintext =
          std::string(16, static_cast<char>(pick(0, 255))) + "{\"n\":" + std::to_string(records_.size()) + "}";
      r.commitment = blake2b256(r.plaintext);
      RecordKey k{chance(0.5) ? v1::MOBILITY : v1::CONTACT, x.id(), (++seq_[x.id()]) << 16};
      if (k.type == v1::MOBILITY) {
        r.state = mobility_state(y.id(), r.plaintext);
      } else {
        r.state.set_created(true);
        r.state.mutable_contact()->mutable_personal()->set_commitment(r.commitment.raw());
        if (chance(0.5)) {
          auto* a = r.state.mutable_contact()->mutable_audience();
          a->set_kind(v1::AUDIENCE_MEMBERS);
          a->add_members(y.id().raw());
        }
      }
      r.audience = personal_audience(k, r.state, world_.roster);
      r.owner_seq = seq_[x.id()];
      x.view.blobs[r.commitment] = r.plaintext;
      records_[k] = r;
      arrive(x, k);
      ++out_.records;
    } else if (roll < 20 && !records_.empty()) {  // the sync brings a record somewhere
      auto it = records_.begin();
      std::advance(it, pick(0, static_cast<int>(records_.size()) - 1));
      arrive(x, it->first);
    } else if (roll < 22 && !records_.empty()) {  // its owner erases one
      auto it = records_.begin();
      std::advance(it, pick(0, static_cast<int>(records_.size()) - 1));
      Rec& r = it->second;
      if (!r.erased) {
        r.erased = true;
        r.state.add_erased(r.commitment.raw());
        r.owner_seq = ++seq_[it->first.owner];
        arrive(*world_.find(it->first.owner), it->first);
      }
    } else if (roll < 27 && &x != &y) {  // a partition forms
      cut(x, y);
      ++out_.partitions;
    } else if (roll < 35 && &x != &y) {  // and heals
      up(x, y);
    } else if (roll < 37 && !down_.contains(x.id())) {  // a crash: memory gone, the store stays
      for (auto& other : nodes)
        if (other.get() != &x) cut(x, *other);
      down_.insert(x.id());
      queue_.erase(std::remove_if(queue_.begin(), queue_.end(), [&](const InFlight& f) { return f.to == x.id(); }),
                   queue_.end());
      ++out_.crashes;
    } else if (roll < 40 && down_.contains(x.id())) {
      restart(x);
    } else if (roll < 55 && !world_.ack_log.empty()) {  // the sync brings an acknowledgement somewhere
      x.view.acks.insert(
          world_.ack_log[static_cast<std::size_t>(pick(0, static_cast<int>(world_.ack_log.size()) - 1))]);
    }
    deliver_due(false);
  }

  // Frames the nodes sent go on the simulated wire: dropped, duplicated or
  // delayed (which reorders them).
  void route() {
    for (auto& f : world_.wire) {
      ++out_.frames;
      if (chance(0.1)) {
        ++out_.dropped;
        continue;
      }
      const int copies = chance(0.05) ? 2 : 1;
      out_.duplicated += static_cast<std::uint64_t>(copies - 1);
      for (int c = 0; c < copies; ++c)
        queue_.push_back({world_.now + static_cast<std::uint64_t>(pick(1, 400)), f.from, f.to, f.message});
    }
    world_.wire.clear();
  }
  void deliver_due(bool all) {
    std::stable_sort(queue_.begin(), queue_.end(), [](const InFlight& a, const InFlight& b) { return a.at < b.at; });
    std::vector<InFlight> due;
    while (!queue_.empty() && (all || queue_.front().at <= world_.now)) {
      due.push_back(std::move(queue_.front()));
      queue_.erase(queue_.begin());
    }
    for (auto& f : due) {
      if (!world_.links.contains({f.from, f.to})) continue;
      WorldNode* to = world_.find(f.to);
      to->courier->on_message(f.from, f.message, world_.now);
      world_.drain(*to);
    }
    route();
  }

  bool check(bool verbose) {
    for (auto& node : world_.nodes) {
      for (const auto& [c, bytes] : node->view.blobs) {
        if (bytes.empty()) continue;
        const Rec* r = nullptr;
        for (const auto& [k, rec] : records_)
          if (rec.commitment == c) r = &rec;
        if (!r || blake2b256(bytes) != c) {
          fail("a plaintext no record commits to is stored");
          return false;
        }
        if (!r->audience.contains(node->id())) {
          fail("node " + node->id().hex().substr(0, 8) + " outside the audience holds personal data");
          return false;
        }
      }
      for (auto& other : world_.nodes)
        if (node->courier->in_flight(other->id()) > 4 || node->courier->carries_in_flight(other->id()) > 4) {
          fail("offers in flight beyond the bound");
          return false;
        }
      if (node->courier->parked() > 4 * (world_.nodes.size() - 1)) {
        fail("parked deliveries beyond their bound");
        return false;
      }
      out_.peak_queue = std::max<std::uint64_t>(out_.peak_queue, node->courier->queued());
      if (node->courier->queued() > kMaxQueue) {
        fail("a relay queue beyond its bound");
        return false;
      }
    }
    if (verbose && world_.now % 10'000 < 200)
      std::fprintf(stderr, "t=%llu queue=%zu records=%llu\n", static_cast<unsigned long long>(world_.now),
                   queue_.size(), static_cast<unsigned long long>(out_.records));
    return true;
  }

  std::mt19937_64 rng_;
  World world_;
  std::map<RecordKey, Rec> records_;
  std::map<NodeId, std::uint64_t> seq_;
  std::set<NodeId> down_;
  std::vector<InFlight> queue_;
  SimOutcome out_;
};

}  // namespace

int main() {
  if (!crypto_init()) return 2;
  const char* one = std::getenv("CONECT_COURIER_SIM_SEED");
  const char* many = std::getenv("CONECT_COURIER_SIM_SEEDS");
  const std::uint64_t first = one ? std::strtoull(one, nullptr, 10) : 1;
  const std::uint64_t count = one ? 1 : (many ? std::strtoull(many, nullptr, 10) : 300);
  int failures = 0;
  SimOutcome total;
  for (std::uint64_t seed = first; seed < first + count; ++seed) {
    SimOutcome o = CourierSim(seed).run(one != nullptr);
    total.frames += o.frames;
    total.dropped += o.dropped;
    total.duplicated += o.duplicated;
    total.crashes += o.crashes;
    total.partitions += o.partitions;
    total.records += o.records;
    total.stored += o.stored;
    total.carried += o.carried;
    total.queue_full += o.queue_full;
    total.peak_queue = std::max(total.peak_queue, o.peak_queue);
    if (!o.ok) {
      ++failures;
      std::printf("seed %llu FAILED %s\n  replay: CONECT_COURIER_SIM_SEED=%llu conect_courier_sim\n",
                  static_cast<unsigned long long>(seed), o.failure.c_str(), static_cast<unsigned long long>(seed));
    }
  }
  std::printf(
      "%llu seeds, %d failed: %llu records, %llu frames (%llu dropped, %llu duplicated), %llu partitions, "
      "%llu crashes, %llu plaintexts stored by audience members, %llu envelopes carried by relays (%llu refused "
      "for a full queue, largest queue %llu)\n",
      static_cast<unsigned long long>(count), failures, static_cast<unsigned long long>(total.records),
      static_cast<unsigned long long>(total.frames), static_cast<unsigned long long>(total.dropped),
      static_cast<unsigned long long>(total.duplicated), static_cast<unsigned long long>(total.partitions),
      static_cast<unsigned long long>(total.crashes), static_cast<unsigned long long>(total.stored),
      static_cast<unsigned long long>(total.carried), static_cast<unsigned long long>(total.queue_full),
      static_cast<unsigned long long>(total.peak_queue));
  return failures == 0 ? 0 : 1;
}
