// conect_courier_sim: the courier state machine (node/courier,
// docs/privacy.md "Delivery") under the simulator's faults, from one seed:
// messages dropped, duplicated, delayed and so reordered; links cut and
// healed (partitions); nodes crashed and restarted (the courier's memory is
// thrown away, the store stays); records reaching nodes late (the sync is
// modelled as each record and the owner's head arriving at a random time).
//
// Invariants checked on every run:
//   - at every step: only an audience member ever stores a plaintext, and
//     only the one its record commits to; offers in flight per peer stay
//     within their bound;
//   - after heal + quiet: every audience member that announced a seal key
//     holds the personal data of every record that was not erased, and no
//     node holds erased data.
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
  std::uint64_t frames = 0, dropped = 0, duplicated = 0, crashes = 0, partitions = 0, records = 0, stored = 0;
};

class CourierSim {
 public:
  explicit CourierSim(std::uint64_t seed) : rng_(seed) {}

  SimOutcome run(bool verbose) {
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
    // Heal: every node up, every link up, everything replicated; quiet.
    for (auto& a : world_.nodes)
      if (down_.contains(a->id())) restart(*a);
    for (auto& a : world_.nodes) {
      for (auto& b : world_.nodes)
        if (a->id() < b->id() && !world_.links.contains({a->id(), b->id()})) up(*a, *b);
    }
    for (const auto& [k, r] : records_)
      for (auto& node : world_.nodes) arrive(*node, k);
    for (int i = 0; i < 120 && out_.ok; ++i) {
      world_.now += 1'000;
      world_.sweep_all();
      route();
      while (!queue_.empty()) deliver_due(true);
      check(verbose);
    }
    if (!out_.ok) return out_;
    // Every audience member with a seal key holds what was not erased.
    for (const auto& [k, r] : records_) {
      for (auto& node : world_.nodes) {
        bool in = r.audience.contains(node->id()) && world_.seal_keys.contains(node->id());
        auto b = node->view.blobs.find(r.commitment);
        bool holds = b != node->view.blobs.end() && !b->second.empty();
        if (r.erased && holds) return fail("erased data still held at " + node->id().hex().substr(0, 8));
        if (!r.erased && in && !holds)
          return fail("audience member " + node->id().hex().substr(0, 8) + " never received " + k.text());
      }
    }
    for (auto& node : world_.nodes) out_.stored += count_events(*node, EventKind::opened);
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
    return CourierConfig{.self = self, .answer_timeout_ms = 5'000, .max_in_flight_per_peer = 4};
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
        if (node->courier->in_flight(other->id()) > 4) {
          fail("offers in flight beyond the bound");
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
    if (!o.ok) {
      ++failures;
      std::printf("seed %llu FAILED %s\n  replay: CONECT_COURIER_SIM_SEED=%llu conect_courier_sim\n",
                  static_cast<unsigned long long>(seed), o.failure.c_str(), static_cast<unsigned long long>(seed));
    }
  }
  std::printf(
      "%llu seeds, %d failed: %llu records, %llu frames (%llu dropped, %llu duplicated), %llu partitions, "
      "%llu crashes, %llu plaintexts stored by audience members\n",
      static_cast<unsigned long long>(count), failures, static_cast<unsigned long long>(total.records),
      static_cast<unsigned long long>(total.frames), static_cast<unsigned long long>(total.dropped),
      static_cast<unsigned long long>(total.duplicated), static_cast<unsigned long long>(total.partitions),
      static_cast<unsigned long long>(total.crashes), static_cast<unsigned long long>(total.stored));
  return failures == 0 ? 0 : 1;
}
