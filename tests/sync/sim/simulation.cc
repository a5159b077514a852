#include "simulation.h"

#include <algorithm>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <vector>

#include "conect/crdt/identity.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/author.h"
#include "conect/sync/engine.h"
#include "sim_store.h"
#include "workload.h"

namespace conect::sim {
namespace {

using sync::SyncEngine;

enum class Ev { deliver, timer, apply, author, crash, restart, partition, heal, equivocate };

struct Event {
  std::uint64_t time = 0;
  std::uint64_t order = 0;
  Ev kind{};
  int a = -1, b = -1;
  std::uint64_t epoch = 0;
  std::string bytes{};
  bool operator>(const Event& o) const { return time != o.time ? time > o.time : order > o.order; }
};

struct Node {
  int index = 0;
  KeyPair key;
  std::unique_ptr<SimStore> store;
  std::unique_ptr<SyncEngine> engine;
  bool alive = true;
  std::uint64_t incarnation = 0;
  std::deque<sync::ApplyBatchAction> applies;
  bool apply_scheduled = false;
  std::uint64_t timer_when = 0;
  std::int64_t skew = 0;
  explicit Node(KeyPair k) : key(std::move(k)) {}
};

struct Link {
  bool exists = false;
  bool up = false;
  bool cut = false;
  std::uint64_t epoch = 0;
};

struct Acked {
  NodeId origin;
  Seq seq;
  DeltaId id;
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& o) : opt_(o), rng_(o.seed * 0x9e3779b97f4a7c15ull + 1) {}
  SimResult run();

 private:
  // setup
  void build();
  sync::SyncConfig engine_config(const Node& n);
  std::vector<NodeId> roster() const;
  // events
  void push(Event e) {
    e.order = order_++;
    queue_.push(std::move(e));
  }
  void step(const Event& e);
  void drain(Node& n);
  void send(Node& from, const NodeId& to, const v1::SyncMessage& m);
  void link_up(int a, int b);
  void link_down(int a, int b);
  Link& link(int a, int b) { return links_[static_cast<std::size_t>(std::min(a, b) * 8 + std::max(a, b))]; }
  void crash(Node& n);
  void restart(Node& n);
  void author(Node& n);
  void apply_one(Node& n);
  void partition();
  void heal();
  void equivocate();
  // invariants
  void check_step(Node& n);
  void check_capacity(Node& n, std::span<const VerifiedDelta> changed);
  bool converged(std::string* why);
  void fail(const std::string& what);
  void log(const std::string& s) {
    if (opt_.verbose) std::cerr << "[" << now_ << "ms] " << s << "\n";
  }
  std::uint64_t uniform(std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(rng_);
  }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }
  int index_of(const NodeId& id) const {
    for (const auto& n : nodes_)
      if (n->key.public_key() == id) return n->index;
    return -1;
  }

  SimOptions opt_;
  std::mt19937_64 rng_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  std::uint64_t order_ = 0;
  std::uint64_t now_ = 0;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Link> links_ = std::vector<Link>(64);
  std::vector<Acked> acked_;
  FederationId federation_ = testkit::test_federation();
  std::optional<KeyPair> evil_;
  bool faults_ = true;
  double drop_ = 0, dup_ = 0;
  std::uint64_t max_delay_ = 0;
  std::uint64_t chaos_end_ = 0;
  sync::PushMode mode_ = sync::PushMode::eager;
  std::uint64_t have_delay_ = 0;
  SimResult result_;
};

// ------------------------------------------------------------------- setup

std::vector<NodeId> Simulation::roster() const {
  std::vector<NodeId> r;
  for (const auto& n : nodes_) r.push_back(n->key.public_key());
  if (evil_) r.push_back(evil_->public_key());
  return r;
}

sync::SyncConfig Simulation::engine_config(const Node& n) {
  sync::SyncConfig c;
  c.federation = federation_;
  c.self = n.key.public_key();
  c.seed = opt_.seed * 131 + static_cast<std::uint64_t>(n.index) * 7 + n.incarnation;
  c.push_mode = mode_;
  c.have_delay_ms = have_delay_;
  c.summary_interval_ms = 300;
  c.summary_jitter_ms = 100;
  c.request_timeout_ms = 700;
  c.buffer_ttl_ms = 2000;
  c.limits.max_delta_bytes = 8 * 1024;
  c.limits.max_batch_bytes = 8 * 1024;
  c.limits.max_batch_count = 16;
  c.window_count = 8;
  c.window_bytes = 16 * 1024;
  c.max_buffer_bytes = 48 * 1024;
  c.max_buffered_pushes = 8;
  c.max_fetches = 4;
  c.max_fetches_per_peer = 2;
  return c;
}

void Simulation::build() {
  const int n = static_cast<int>(uniform(3, 7));
  result_.nodes = n;
  for (int i = 0; i < n; ++i) {
    auto node = std::make_unique<Node>(testkit::test_key(static_cast<std::uint32_t>(opt_.seed % 1000) * 16 + static_cast<std::uint32_t>(i) + 1));
    node->index = i;
    node->skew = static_cast<std::int64_t>(uniform(0, 400)) - 200;
    if (opt_.lmdb) {
      node->store = make_lmdb_store(federation_, node->key.public_key(), opt_.tmp_root / ("node" + std::to_string(i)));
      if (!node->store) return fail("LMDB store could not be opened");
    } else {
      node->store = make_replica_store(federation_);
    }
    nodes_.push_back(std::move(node));
  }
  if (chance(0.35)) evil_ = testkit::test_key(900000 + static_cast<std::uint32_t>(opt_.seed % 1000));
  drop_ = chance(0.7) ? std::uniform_real_distribution<double>(0, 0.12)(rng_) : 0;
  dup_ = chance(0.5) ? std::uniform_real_distribution<double>(0, 0.06)(rng_) : 0;
  max_delay_ = uniform(2, 150);
  chaos_end_ = uniform(3000, 7000);
  mode_ = chance(0.5) ? sync::PushMode::eager : sync::PushMode::lazy;
  have_delay_ = chance(0.5) ? 0 : uniform(5, 40);
  // A ring keeps the graph connected; chords add redundancy.
  for (int i = 0; i < n; ++i) link((i + 1) % n, i).exists = true;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (chance(0.4)) link(i, j).exists = true;
  for (auto& node : nodes_) node->engine = std::make_unique<SyncEngine>(engine_config(*node), *node->store, roster(), now_);
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (link(i, j).exists) link_up(i, j);
  for (auto& node : nodes_) push({.time = uniform(1, 400), .kind = Ev::author, .a = node->index});
  for (std::uint64_t c = uniform(0, 3); c > 0; --c) push({.time = uniform(500, chaos_end_), .kind = Ev::crash, .a = static_cast<int>(uniform(0, static_cast<std::uint64_t>(n - 1)))});
  for (std::uint64_t p = uniform(0, 2); p > 0; --p) push({.time = uniform(300, chaos_end_), .kind = Ev::partition});
  if (evil_) push({.time = uniform(200, chaos_end_ / 2), .kind = Ev::equivocate});
}

// -------------------------------------------------------------- event loop

void Simulation::drain(Node& n) {
  while (n.alive && n.engine) {
    auto a = n.engine->poll();
    if (!a) break;
    if (auto* s = std::get_if<sync::SendAction>(&*a)) {
      send(n, s->peer, s->message);
    } else if (auto* ap = std::get_if<sync::ApplyBatchAction>(&*a)) {
      n.applies.push_back(std::move(*ap));
      if (!n.apply_scheduled) {
        n.apply_scheduled = true;
        push({.time = now_ + uniform(0, 15), .kind = Ev::apply, .a = n.index, .epoch = n.incarnation});
      }
    } else if (auto* ev = std::get_if<sync::StoreEvidenceAction>(&*a)) {
      if (auto st = n.store->add_evidence(ev->first, ev->second); !st.ok())
        fail("node " + std::to_string(n.index) + " could not store evidence: " + st.error().message());
    } else if (auto* d = std::get_if<sync::DisconnectAction>(&*a)) {
      fail("node " + std::to_string(n.index) + " disconnected honest peer " + std::to_string(index_of(d->peer)) +
           ": " + d->reason.message());
    } else if (auto* t = std::get_if<sync::ArmTimerAction>(&*a)) {
      n.timer_when = t->when;
      push({.time = std::max(t->when, now_), .kind = Ev::timer, .a = n.index, .epoch = n.incarnation});
    } else if (auto* e = std::get_if<sync::EventAction>(&*a)) {
      if (e->event.kind == sync::EventKind::equivocation_detected || e->event.kind == sync::EventKind::apply_failed)
        log("node " + std::to_string(n.index) + " " + sync::event_name(e->event.kind) + " " + e->event.detail);
    }
  }
  check_step(n);
}

void Simulation::send(Node& from, const NodeId& to, const v1::SyncMessage& m) {
  const int j = index_of(to);
  if (j < 0) return fail("engine sent to an unknown peer");
  Link& l = link(from.index, j);
  if (!l.up) return;
  std::string bytes = m.SerializeAsString();
  ++result_.messages;
  result_.bytes += bytes.size();
  if (faults_ && chance(drop_)) {
    ++result_.dropped;
    return;
  }
  const int copies = faults_ && chance(dup_) ? 2 : 1;
  result_.duplicated += static_cast<std::uint64_t>(copies - 1);
  for (int c = 0; c < copies; ++c)
    push({.time = now_ + uniform(1, max_delay_), .kind = Ev::deliver, .a = from.index, .b = j, .epoch = l.epoch, .bytes = bytes});
}

void Simulation::link_up(int a, int b) {
  Link& l = link(a, b);
  Node& x = *nodes_[static_cast<std::size_t>(a)];
  Node& y = *nodes_[static_cast<std::size_t>(b)];
  if (!l.exists || l.up || l.cut || !x.alive || !y.alive) return;
  l.up = true;
  ++l.epoch;
  const bool a_dials = chance(0.5);
  x.engine->on_peer_connected(y.key.public_key(), a_dials ? sync::PeerRole::dialler : sync::PeerRole::acceptor, now_);
  y.engine->on_peer_connected(x.key.public_key(), a_dials ? sync::PeerRole::acceptor : sync::PeerRole::dialler, now_);
  drain(x);
  drain(y);
}

void Simulation::link_down(int a, int b) {
  Link& l = link(a, b);
  if (!l.up) return;
  l.up = false;
  ++l.epoch;
  for (auto [p, q] : {std::pair{a, b}, std::pair{b, a}}) {
    Node& x = *nodes_[static_cast<std::size_t>(p)];
    if (x.alive) {
      x.engine->on_peer_disconnected(nodes_[static_cast<std::size_t>(q)]->key.public_key(), now_);
      drain(x);
    }
  }
}

void Simulation::crash(Node& n) {
  if (!n.alive) return;
  log("crash node " + std::to_string(n.index));
  ++result_.crashes;
  for (const auto& o : nodes_)
    if (o->index != n.index) link_down(n.index, o->index);
  n.alive = false;
  n.engine.reset();
  n.applies.clear();  // handed out but not committed: lost
  n.apply_scheduled = false;
  n.timer_when = 0;
  ++n.incarnation;
  if (auto st = n.store->reopen(); !st.ok()) return fail("reopen after crash: " + st.error().message());
  push({.time = now_ + uniform(100, 1500), .kind = Ev::restart, .a = n.index});
}

void Simulation::restart(Node& n) {
  if (n.alive) return;
  log("restart node " + std::to_string(n.index));
  n.alive = true;
  n.engine = std::make_unique<SyncEngine>(engine_config(n), *n.store, roster(), now_);
  for (const auto& o : nodes_)
    if (o->index != n.index) link_up(n.index, o->index);
  drain(n);
}

void Simulation::author(Node& n) {
  if (n.alive) {
    const Seq seq = n.store->head(n.key.public_key())->seq.next();
    if (auto draft = next_write(rng_, *n.store, n.key.public_key(), seq)) {
      auto d = n.store->author(n.key, std::move(*draft),
                               static_cast<std::uint64_t>(static_cast<std::int64_t>(now_ + 1'700'000'000'000) + n.skew));
      if (!d.ok()) return fail("author on node " + std::to_string(n.index) + ": " + d.error().message());
      acked_.push_back({d->origin, d->seq, d->id});
      ++result_.authored;
      check_capacity(n, std::span<const VerifiedDelta>(&*d, 1));
      n.engine->on_local_commit(std::span<const VerifiedDelta>(&*d, 1), now_);
      drain(n);
    }
  }
  const std::uint64_t next = now_ + uniform(150, 1000);
  if (next < chaos_end_) push({.time = next, .kind = Ev::author, .a = n.index});
}

void Simulation::apply_one(Node& n) {
  n.apply_scheduled = false;
  if (!n.alive || n.applies.empty()) return;
  sync::ApplyBatchAction ap = std::move(n.applies.front());
  n.applies.pop_front();
  std::vector<VerifiedDelta> batch = ap.deltas;
  Status st = n.store->apply(std::move(ap.deltas));
  check_capacity(n, batch);
  n.engine->on_batch_applied({ap.apply_id, st}, now_);
  if (!n.applies.empty()) {
    n.apply_scheduled = true;
    push({.time = now_ + uniform(0, 15), .kind = Ev::apply, .a = n.index, .epoch = n.incarnation});
  }
  drain(n);
}

void Simulation::partition() {
  const int n = static_cast<int>(nodes_.size());
  std::vector<bool> side(static_cast<std::size_t>(n));
  bool any_a = false, any_b = false;
  for (int i = 0; i < n; ++i) {
    side[static_cast<std::size_t>(i)] = chance(0.5);
    (side[static_cast<std::size_t>(i)] ? any_a : any_b) = true;
  }
  if (!any_a || !any_b) side[0] = !side[0];
  ++result_.partitions;
  log("partition");
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (side[static_cast<std::size_t>(i)] != side[static_cast<std::size_t>(j)]) {
        link(i, j).cut = true;
        link_down(i, j);
      }
  push({.time = now_ + uniform(300, 3000), .kind = Ev::heal});
}

void Simulation::heal() {
  log("heal");
  const int n = static_cast<int>(nodes_.size());
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j) {
      link(i, j).cut = false;
      link_up(i, j);
    }
}

// An origin on every roster hands one branch of its chain to one node and
// another branch, forking at the same seq, to another.
void Simulation::equivocate() {
  std::vector<int> alive;
  for (const auto& n : nodes_)
    if (n->alive) alive.push_back(n->index);
  if (alive.size() < 2) return;
  std::shuffle(alive.begin(), alive.end(), rng_);
  const NodeId evil = evil_->public_key();
  const std::uint64_t t = 1'700'000'000'000 + now_;
  auto make = [&](std::uint64_t seq, const DeltaId& prev, const std::string& label, std::uint16_t logical) {
    v1::Contact c;
    c.set_display_name(label);
    DeltaDraft dd;
    dd.ops = ops::create_contact(RecordKey::mint(v1::CONTACT, evil, Seq{seq}, 0), c);
    return build_delta(*evil_, federation_, Seq{seq}, prev, Hlc::make(t, logical), dd);
  };
  std::vector<VerifiedDelta> a, b;
  DeltaId prev{};
  const std::uint64_t shared = uniform(0, 2);
  for (std::uint64_t i = 0; i < shared; ++i) {
    a.push_back(make(i + 1, prev, "shared", static_cast<std::uint16_t>(i)));
    b.push_back(a.back());
    prev = a.back().id;
  }
  DeltaId pa = prev;
  for (std::uint64_t k = 0, len = uniform(1, 2); k < len; ++k) {
    a.push_back(make(shared + k + 1, pa, "branch a", static_cast<std::uint16_t>(10 + k)));
    pa = a.back().id;
  }
  b.push_back(make(shared + 1, prev, "branch b", 20));
  result_.equivocated = true;
  log("equivocation handed to nodes " + std::to_string(alive[0]) + " and " + std::to_string(alive[1]));
  for (auto [idx, chain] : {std::pair{alive[0], &a}, std::pair{alive[1], &b}}) {
    Node& n = *nodes_[static_cast<std::size_t>(idx)];
    if (auto st = n.store->apply(*chain); !st.ok()) return fail("equivocator's branch refused: " + st.error().message());
    n.engine->on_local_commit(*chain, now_);
    drain(n);
  }
}

void Simulation::step(const Event& e) {
  now_ = std::max(now_, e.time);
  Node* n = e.a >= 0 ? nodes_[static_cast<std::size_t>(e.a)].get() : nullptr;
  switch (e.kind) {
    case Ev::deliver: {
      Link& l = link(e.a, e.b);
      Node& to = *nodes_[static_cast<std::size_t>(e.b)];
      if (!l.up || l.epoch != e.epoch || !to.alive) return;
      to.engine->on_message_bytes(n->key.public_key(), e.bytes, now_);
      return drain(to);
    }
    case Ev::timer:
      if (!n->alive || e.epoch != n->incarnation || n->timer_when != e.time) return;
      n->timer_when = 0;
      n->engine->on_timer(now_);
      return drain(*n);
    case Ev::apply:
      if (e.epoch != n->incarnation) return;
      return apply_one(*n);
    case Ev::author: return author(*n);
    case Ev::crash: return crash(*n);
    case Ev::restart: return restart(*n);
    case Ev::partition: return partition();
    case Ev::heal: return heal();
    case Ev::equivocate: return equivocate();
  }
}

// ------------------------------------------------------------- invariants

void Simulation::fail(const std::string& what) {
  if (!result_.ok) return;
  result_.ok = false;
  result_.failure = "at " + std::to_string(now_) + "ms: " + what;
}

void Simulation::check_step(Node& n) {
  if (!n.alive || !n.engine) return;
  const auto cfg = engine_config(n);
  if (n.engine->buffered_bytes() > cfg.max_buffer_bytes)
    fail("node " + std::to_string(n.index) + " buffers " + std::to_string(n.engine->buffered_bytes()) +
         " bytes, over its bound of " + std::to_string(cfg.max_buffer_bytes));
  if (n.engine->buffered_pushes() > cfg.max_buffered_pushes)
    fail("node " + std::to_string(n.index) + " buffers too many pushes");
}

// Confirmed slots only change where a decision, a request or a placement
// write lands (a cancel only frees slots), so those placements are checked
// after each commit on the node that committed it; every placement is
// checked again at the end.
void Simulation::check_capacity(Node& n, std::span<const VerifiedDelta> changed) {
  std::set<RecordKey> touched;
  for (const auto& d : changed)
    for (const auto& op : d.body.ops()) {
      std::optional<RecordKey> k;
      if (op.has_decide()) k = RecordKey::from_proto(v1::PLACEMENT, op.decide().placement());
      if (op.has_write() && op.write().has_placement()) k = RecordKey::from_proto(v1::PLACEMENT, op.write().id());
      // A decision that arrived before its request counts once the request does.
      if (op.has_write() && op.write().has_reservation())
        k = RecordKey::from_proto(v1::PLACEMENT, op.write().reservation().placement());
      if (k) touched.insert(*k);
    }
  for (const auto& key : touched) {
    const RecordEntry p{key, {}};
    for (const auto& w : n.store->availability(p.key)) {
      if (w.confirmed > w.capacity)
        fail("node " + std::to_string(n.index) + " confirms " + std::to_string(w.confirmed) + " slots of window " +
             std::to_string(w.window_id) + " of placement " + p.key.text().substr(0, 12) + " with capacity " +
             std::to_string(w.capacity));
    }
  }
}

bool Simulation::converged(std::string* why) {
  auto describe = [](const Node& n) {
    std::ostringstream os;
    auto vv = n.store->version_vector();
    if (!vv.ok()) return std::string("unreadable");
    auto sorted = *vv;
    std::sort(sorted.begin(), sorted.end(), [](auto& a, auto& b) { return a.first < b.first; });
    for (const auto& [o, h] : sorted) {
      // A frozen origin counts up to the delta before its fork; what a store
      // keeps of its branch beyond that legitimately differs between nodes.
      std::uint64_t seq = h.seq.value;
      DeltaId id = h.id;
      if (h.frozen_at.value != 0 && seq >= h.frozen_at.value) {
        seq = h.frozen_at.value - 1;
        id = DeltaId{};
        auto ds = n.store->deltas_from(o, Seq{seq}, 1, 1 << 20);
        if (seq > 0 && ds.ok() && !ds->empty()) id = compute_delta_id(ds->front().body(), ds->front().signature());
      }
      if (seq == 0 && h.frozen_at.value == 0) continue;
      os << o.hex().substr(0, 6) << ":" << seq << "/" << id.hex().substr(0, 6) << "/" << h.frozen_at.value << " ";
    }
    return os.str();
  };
  const Node& first = *nodes_[0];
  const std::string vv0 = describe(first);
  const Hash256 d0 = first.store->digest();
  for (const auto& n : nodes_) {
    if (!n->alive) return *why = "node " + std::to_string(n->index) + " is down", false;
    if (describe(*n) != vv0)
      return *why = "version vectors differ: node 0 {" + vv0 + "} node " + std::to_string(n->index) + " {" + describe(*n) + "}", false;
    if (n->store->digest() != d0) return *why = "digests differ at node " + std::to_string(n->index), false;
    if (evil_) {
      auto h = n->store->head(evil_->public_key());
      if (result_.equivocated && (!h.ok() || h->frozen_at.value == 0))
        return *why = "node " + std::to_string(n->index) + " has not flagged the equivocating origin", false;
    }
  }
  for (const auto& a : acked_) {
    auto ds = first.store->deltas_from(a.origin, a.seq, 1, 1 << 20);
    if (!ds.ok() || ds->empty() || compute_delta_id(ds->front().body(), ds->front().signature()) != a.id)
      return *why = "acknowledged write " + std::to_string(a.seq.value) + " of " + a.origin.hex().substr(0, 6) + " is missing", false;
  }
  return true;
}

SimResult Simulation::run() {
  build();
  while (result_.ok && !queue_.empty() && queue_.top().time < chaos_end_) {
    Event e = queue_.top();
    queue_.pop();
    step(e);
  }
  // Heal and quiet: faults stop, partitions heal, crashed nodes restart.
  faults_ = false;
  now_ = std::max(now_, chaos_end_);
  const std::uint64_t healed_at = now_;
  log("heal everything");
  heal();
  for (auto& n : nodes_) restart(*n);
  // Events still queued from the chaos phase (crashes, partitions) are dropped.
  std::priority_queue<Event, std::vector<Event>, std::greater<>> keep;
  while (!queue_.empty()) {
    Event e = queue_.top();
    queue_.pop();
    if (e.kind == Ev::deliver || e.kind == Ev::timer || e.kind == Ev::apply) keep.push(std::move(e));
  }
  queue_ = std::move(keep);
  const std::uint64_t deadline = healed_at + 60'000;
  std::uint64_t next_check = now_ + 100;
  std::string why;
  while (result_.ok) {
    if (now_ >= next_check) {
      if (converged(&why)) {
        result_.converged_ms = now_ - healed_at;
        for (auto& n : nodes_) {
          for (const auto& p : n->store->records(v1::PLACEMENT))
            for (const auto& w : n->store->availability(p.key))
              if (w.confirmed > w.capacity) fail("node " + std::to_string(n->index) + " overbooks a window at the end");
        }
        break;
      }
      next_check = now_ + 100;
    }
    if (now_ > deadline) {
      fail("no convergence 60 s after healing: " + why);
      break;
    }
    if (queue_.empty()) {
      now_ = next_check;
      continue;
    }
    Event e = queue_.top();
    if (e.time > next_check) {
      now_ = next_check;
      continue;
    }
    queue_.pop();
    step(e);
  }
  return result_;
}

}  // namespace

std::string SimResult::summary() const {
  std::ostringstream os;
  os << nodes << " nodes, " << authored << " writes, " << messages << " messages (" << bytes << " B, " << dropped
     << " dropped, " << duplicated << " duplicated), " << crashes << " crashes, " << partitions << " partitions"
     << (equivocated ? ", equivocation" : "") << ", converged " << converged_ms << " ms after healing";
  return os.str();
}

SimResult run_simulation(const SimOptions& options) { return Simulation(options).run(); }

}  // namespace conect::sim
