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
#include "conect/crdt/membership.h"
#include "conect/crdt/ops.h"
#include "conect/crdt/testkit/author.h"
#include "conect/sync/engine.h"
#include "conect/sync/verifier.h"
#include "sim_store.h"
#include "workload.h"

namespace conect::sim {
namespace {

using sync::SyncEngine;

enum class Ev {
  deliver,
  timer,
  apply,
  author,
  crash,
  restart,
  partition,
  heal,
  equivocate,
  hostile_tick,
  redial,
  member
};

// Membership changes (Ev::member's `b`).
enum MemberAction : int { kFound = 0, kJoin = 1, kRemove = 2, kRotate = 3 };

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
  // Signatures checked under the key its store's roster names per (origin,
  // seq), as the node does; the key it signs with after a Rotate.
  sync::RosterVerifier verifier;
  std::optional<KeyPair> signer;
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

constexpr int kMaxNodes = 16;  // honest and hostile together

class Simulation {
 public:
  explicit Simulation(const SimOptions& o)
      : opt_(o),
        rng_(o.seed * 0x9e3779b97f4a7c15ull + 1),
        hrng_(o.seed * 0xc2b2ae3d27d4eb4full + 7),
        mrng_(o.seed * 0xd6e8feb86659fd93ull + 11) {}
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
  Link& link(int a, int b) { return links_[static_cast<std::size_t>(std::min(a, b) * kMaxNodes + std::max(a, b))]; }
  void deliver_later(int from, int to, std::uint64_t delay, std::string bytes);
  // hostile members: indices after the honest nodes
  bool is_hostile(int i) const { return i >= static_cast<int>(nodes_.size()); }
  HostileMember& hostile(int i) { return *hostile_[static_cast<std::size_t>(i) - nodes_.size()]; }
  NodeId id_of(int i) const {
    return is_hostile(i) ? hostile_[static_cast<std::size_t>(i) - nodes_.size()]->id()
                         : nodes_[static_cast<std::size_t>(i)]->key.public_key();
  }
  bool up(int i) const { return is_hostile(i) || nodes_[static_cast<std::size_t>(i)]->alive; }
  void add_hostile();
  void hostile_tick(int h);
  void hostile_sends(int h, std::vector<HostileSend> sends);
  std::vector<v1::SignedDelta> read_deltas(const NodeId& origin, std::uint64_t from, std::size_t count,
                                           std::size_t bytes) const;
  void harvest(const Node& n);
  bool matches_reference(std::string* why);
  void crash(Node& n);
  void restart(Node& n);
  void author(Node& n);
  // Authors `draft` at `n` (signed by its current key) and hands it on.
  std::optional<VerifiedDelta> write(Node& n, DeltaDraft draft);
  void apply_one(Node& n);
  // membership changes
  void member_event(int action);
  std::optional<VerifiedDelta> write_membership(Node& n, std::vector<v1::Operation> ops);
  v1::MemberCard card_of(const KeyPair& key) const;
  void refresh_roster(Node& n) {
    if (membership_) n.verifier.set_roster(n.store->roster());
  }
  std::uint64_t muniform(std::uint64_t lo, std::uint64_t hi) {
    return std::uniform_int_distribution<std::uint64_t>(lo, hi)(mrng_);
  }
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
    for (std::size_t h = 0; h < hostile_.size(); ++h)
      if (hostile_[h]->id() == id) return static_cast<int>(nodes_.size() + h);
    return -1;
  }

  SimOptions opt_;
  std::mt19937_64 rng_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
  std::uint64_t order_ = 0;
  std::uint64_t now_ = 0;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Link> links_ = std::vector<Link>(kMaxNodes * kMaxNodes);
  std::vector<Acked> acked_;
  // Hostile members and their own randomness (a run without them draws
  // exactly what it drew before they existed).
  std::vector<std::unique_ptr<HostileMember>> hostile_;
  std::mt19937_64 hrng_;
  // Membership changes and their own randomness (likewise).
  std::mt19937_64 mrng_;
  bool membership_ = false;
  int removable_ = -1;              // the honest node that may be voted out (never rotates nor admits)
  std::vector<KeyPair> outsiders_;  // admitted identities that run no node
  std::uint32_t keys_minted_ = 0;
  bool partitioned_ = false;
  // Fed every delta as it is authored (and the equivocator's evidence): what
  // the honest nodes must end up holding.
  std::unique_ptr<SimStore> reference_;
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
  for (const auto& h : hostile_) r.push_back(h->id());
  if (evil_) r.push_back(evil_->public_key());
  return r;
}

sync::SyncConfig Simulation::engine_config(const Node& n) {
  sync::SyncConfig c;
  c.federation = federation_;
  c.self = n.key.public_key();
  c.seed = opt_.seed * 131 + static_cast<std::uint64_t>(n.index) * 7 + n.incarnation;
  c.push_mode = mode_;
  if (opt_.push_mode == "mixed" && n.index % 2 == 0) c.push_mode = sync::PushMode::tree;
  // Mixed: nodes 2, 3, 6, 7, ... neither read nor send packed announcements,
  // as nodes that predate them, beside nodes of both push modes that do.
  if (opt_.push_mode == "mixed" && n.index / 2 % 2 == 1) c.packed_haves = false;
  c.have_delay_ms = have_delay_;
  // As the node runs: a crash drops queued applies, so relays that forwarded
  // and never committed happen in every run with crashes.
  c.forward_before_commit = true;
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
  const int n = opt_.honest > 0 ? std::min(opt_.honest, kMaxNodes - 3) : static_cast<int>(uniform(3, 7));
  result_.nodes = n;
  reference_ = make_replica_store(federation_);
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
  // Forced after the draw, so that a seed draws the same faults in every mode.
  if (opt_.push_mode == "eager") mode_ = sync::PushMode::eager;
  if (opt_.push_mode == "lazy") mode_ = sync::PushMode::lazy;
  if (opt_.push_mode == "tree") mode_ = sync::PushMode::tree;
  have_delay_ = chance(0.5) ? 0 : uniform(5, 40);
  // A ring keeps the graph connected; chords add redundancy.
  for (int i = 0; i < n; ++i) link((i + 1) % n, i).exists = true;
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (chance(0.4)) link(i, j).exists = true;
  int hostile = opt_.hostile;
  if (hostile < 0)
    hostile =
        std::uniform_int_distribution<int>(0, 1)(hrng_) == 0 ? 0 : std::uniform_int_distribution<int>(1, 3)(hrng_);
  for (int h = 0; h < hostile; ++h) add_hostile();
  result_.hostile = hostile;
  result_.budget = engine_config(*nodes_[0]).max_buffer_bytes;
  for (auto& node : nodes_)
    node->engine = std::make_unique<SyncEngine>(engine_config(*node), *node->store, roster(), now_, node->verifier);
  // Hostile members are linked to every honest node first, as the liars of
  // HostileTest are: their claims are there before any honest one.
  for (int h = n; h < n + hostile; ++h)
    for (int i = 0; i < n; ++i) {
      link(i, h).exists = true;
      link_up(i, h);
    }
  for (int h = n; h < n + hostile; ++h)
    push({.time = std::uniform_int_distribution<std::uint64_t>(1, 300)(hrng_), .kind = Ev::hostile_tick, .a = h});
  for (int i = 0; i < n; ++i)
    for (int j = i + 1; j < n; ++j)
      if (link(i, j).exists) link_up(i, j);
  for (auto& node : nodes_) push({.time = uniform(1, 400), .kind = Ev::author, .a = node->index});
  for (std::uint64_t c = uniform(0, 3); c > 0; --c) push({.time = uniform(500, chaos_end_), .kind = Ev::crash, .a = static_cast<int>(uniform(0, static_cast<std::uint64_t>(n - 1)))});
  for (std::uint64_t p = uniform(0, 2); p > 0; --p) push({.time = uniform(300, chaos_end_), .kind = Ev::partition});
  if (evil_) push({.time = uniform(200, chaos_end_ / 2), .kind = Ev::equivocate});
  membership_ = opt_.membership >= 0 ? opt_.membership == 1 : muniform(0, 1) == 1;
  result_.membership = membership_;
  if (membership_) {
    removable_ = n - 1;
    push({.time = muniform(1, 100), .kind = Ev::member, .a = 0, .b = kFound});
    for (std::uint64_t k = muniform(3, 8); k > 0; --k)
      push({.time = muniform(300, chaos_end_), .kind = Ev::member, .b = static_cast<int>(muniform(kJoin, kRotate))});
  }
}

void Simulation::add_hostile() {
  const auto h = static_cast<std::uint32_t>(hostile_.size());
  auto chance_h = [&](double p) { return std::uniform_real_distribution<double>(0, 1)(hrng_) < p; };
  std::vector<Fault> faults{Fault::lie};  // the lie is what makes honest nodes ask it
  if (chance_h(0.2)) {
    faults.push_back(Fault::deaf);
  } else {
    for (Fault f : {Fault::silent, Fault::late, Fault::empty})
      if (chance_h(0.6)) faults.push_back(f);
    if (faults.size() == 1) faults.push_back(Fault::silent);
  }
  if (chance_h(0.6)) faults.push_back(Fault::padded);
  if (chance_h(0.6)) faults.push_back(Fault::forged);
  hostile_.push_back(
      std::make_unique<HostileMember>(testkit::test_key(800000 + static_cast<std::uint32_t>(opt_.seed % 1000) * 4 + h),
                                      std::move(faults), hrng_(), engine_config(*nodes_[0]).request_timeout_ms));
  std::string list;
  for (Fault f : hostile_.back()->faults()) list += std::string(" ") + fault_name(f);
  log("hostile member " + std::to_string(nodes_.size() + h) + ":" + list);
}

std::vector<v1::SignedDelta> Simulation::read_deltas(const NodeId& origin, std::uint64_t from, std::size_t count,
                                                     std::size_t bytes) const {
  for (const auto& n : nodes_)
    if (n->key.public_key() == origin) {
      auto ds = n->store->deltas_from(origin, Seq{from}, count, bytes);
      if (ds.ok()) return std::move(*ds);
    }
  return {};
}

void Simulation::hostile_sends(int h, std::vector<HostileSend> sends) {
  for (auto& s : sends) {
    if (!link(h, s.to).up) continue;
    deliver_later(h, s.to, s.delay_ms, s.msg.SerializeAsString());
  }
}

void Simulation::hostile_tick(int h) {
  std::vector<int> linked;
  std::vector<NodeId> origins;
  std::vector<std::uint64_t> heads;
  for (const auto& n : nodes_) {
    if (link(n->index, h).up) linked.push_back(n->index);
    origins.push_back(n->key.public_key());
    auto head = n->store->head(n->key.public_key());
    heads.push_back(head.ok() ? head->seq.value : 0);
  }
  auto source = [this](const NodeId& o, std::uint64_t from, std::size_t c, std::size_t b) {
    return read_deltas(o, from, c, b);
  };
  hostile_sends(h, hostile(h).tick(linked, origins, heads, source));
  // Renewed every summary interval, as a liar must to keep its claims fresh.
  const std::uint64_t every = engine_config(*nodes_[0]).summary_interval_ms;
  push({.time = now_ + every + std::uniform_int_distribution<std::uint64_t>(0, 100)(hrng_),
        .kind = Ev::hostile_tick,
        .a = h});
}

void Simulation::harvest(const Node& n) {
  if (!n.engine) return;
  const auto& st = n.engine->stats();
  result_.met.claims_broken += st.claims_broken;
  result_.met.batches_refused += st.batches_refused;
  result_.met.batches_stale += st.batches_stale;
  result_.met.padded_wrappers += st.padded_wrappers;
  result_.met.evidence_unproven += st.evidence_unproven;
  result_.met.requests_timed_out += st.requests_timed_out;
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
      const int j = index_of(d->peer);
      if (j < 0 || !is_hostile(j)) {
        fail("node " + std::to_string(n.index) + " disconnected honest peer " + std::to_string(j) + ": " +
             d->reason.message());
      } else {
        // The engine has dropped it already; the link closes and the hostile
        // member dials again later, as any peer may.
        ++result_.hostile_disconnects;
        log("node " + std::to_string(n.index) + " disconnected hostile " + std::to_string(j) + ": " +
            d->reason.message());
        Link& l = link(n.index, j);
        l.up = false;
        ++l.epoch;
        push({.time = now_ + uniform(200, 1000), .kind = Ev::redial, .a = n.index, .b = j});
      }
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
  if (!link(from.index, j).up) return;
  deliver_later(from.index, j, 0, m.SerializeAsString());
}

void Simulation::deliver_later(int from, int to, std::uint64_t delay, std::string bytes) {
  Link& l = link(from, to);
  ++result_.messages;
  result_.bytes += bytes.size();
  if (faults_ && chance(drop_)) {
    ++result_.dropped;
    return;
  }
  const int copies = faults_ && chance(dup_) ? 2 : 1;
  result_.duplicated += static_cast<std::uint64_t>(copies - 1);
  for (int c = 0; c < copies; ++c)
    push({.time = now_ + delay + uniform(1, max_delay_),
          .kind = Ev::deliver,
          .a = from,
          .b = to,
          .epoch = l.epoch,
          .bytes = bytes});
}

void Simulation::link_up(int a, int b) {
  Link& l = link(a, b);
  if (!l.exists || l.up || l.cut || !up(a) || !up(b)) return;
  l.up = true;
  ++l.epoch;
  if (is_hostile(a) || is_hostile(b)) {  // only the honest end runs an engine
    const int i = is_hostile(a) ? b : a;
    const bool dials = std::uniform_int_distribution<int>(0, 1)(hrng_) == 0;
    Node& x = *nodes_[static_cast<std::size_t>(i)];
    x.engine->on_peer_connected(id_of(i == a ? b : a), dials ? sync::PeerRole::dialler : sync::PeerRole::acceptor,
                                now_);
    return drain(x);
  }
  Node& x = *nodes_[static_cast<std::size_t>(a)];
  Node& y = *nodes_[static_cast<std::size_t>(b)];
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
    if (is_hostile(p)) continue;
    Node& x = *nodes_[static_cast<std::size_t>(p)];
    if (x.alive) {
      x.engine->on_peer_disconnected(id_of(q), now_);
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
  for (std::size_t h = 0; h < hostile_.size(); ++h) link_down(n.index, static_cast<int>(nodes_.size() + h));
  n.alive = false;
  harvest(n);
  n.engine.reset();
  n.applies.clear();  // handed out but not committed: lost
  n.apply_scheduled = false;
  n.timer_when = 0;
  ++n.incarnation;
  if (auto st = n.store->reopen(); !st.ok()) return fail("reopen after crash: " + st.error().message());
  refresh_roster(n);
  push({.time = now_ + uniform(100, 1500), .kind = Ev::restart, .a = n.index});
}

void Simulation::restart(Node& n) {
  if (n.alive) return;
  log("restart node " + std::to_string(n.index));
  n.alive = true;
  refresh_roster(n);
  n.engine = std::make_unique<SyncEngine>(engine_config(n), *n.store, roster(), now_, n.verifier);
  for (std::size_t h = 0; h < hostile_.size(); ++h) link_up(n.index, static_cast<int>(nodes_.size() + h));
  for (const auto& o : nodes_)
    if (o->index != n.index) link_up(n.index, o->index);
  drain(n);
}

void Simulation::author(Node& n) {
  if (n.alive) {
    const Seq seq = n.store->head(n.key.public_key())->seq.next();
    if (auto draft = next_write(rng_, *n.store, n.key.public_key(), seq)) (void)write(n, std::move(*draft));
  }
  const std::uint64_t next = now_ + uniform(150, 1000);
  if (next < chaos_end_) push({.time = next, .kind = Ev::author, .a = n.index});
}

std::optional<VerifiedDelta> Simulation::write(Node& n, DeltaDraft draft) {
  const KeyPair& signer = n.signer ? *n.signer : n.key;
  auto d = n.store->author_as(signer, n.key.public_key(), std::move(draft),
                              static_cast<std::uint64_t>(static_cast<std::int64_t>(now_ + 1'700'000'000'000) + n.skew));
  if (!d.ok()) {
    fail("author on node " + std::to_string(n.index) + ": " + d.error().message());
    return std::nullopt;
  }
  acked_.push_back({d->origin, d->seq, d->id});
  if (auto st = reference_->apply({*d}); !st.ok()) {
    fail("the reference replica refused: " + st.error().message());
    return std::nullopt;
  }
  ++result_.authored;
  check_capacity(n, std::span<const VerifiedDelta>(&*d, 1));
  refresh_roster(n);
  n.engine->on_local_commit(std::span<const VerifiedDelta>(&*d, 1), now_);
  drain(n);
  return std::move(*d);
}

// ------------------------------------------------------ membership changes

v1::MemberCard Simulation::card_of(const KeyPair& key) const {
  v1::MemberCardBody b;
  b.set_federation(federation_.raw());
  b.set_node_id(key.public_key().raw());
  b.set_name("Sim member " + key.public_key().hex().substr(0, 6));
  b.set_country("FI");
  b.set_role(v1::SCHOOL);
  b.add_addresses("ws://127.0.0.1:1/sync");
  b.set_issued_ms(1);
  return sign_card(key, b);
}

// As the node authors one: deps name the newest membership delta of every
// origin held (its own admission among them).
std::optional<VerifiedDelta> Simulation::write_membership(Node& n, std::vector<v1::Operation> ops) {
  DeltaDraft draft;
  draft.ops = std::move(ops);
  draft.deps = n.store->membership_deps();
  return write(n, std::move(draft));
}

void Simulation::member_event(int action) {
  namespace mops = membership_ops;
  if (action == kFound) {
    Node& f = *nodes_[0];
    if (!f.alive) return push({.time = now_ + 200, .kind = Ev::member, .a = 0, .b = kFound});
    log("node 0 founds the federation");
    (void)write_membership(f, {mops::found(card_of(f.key), 1)});
    return;
  }
  // The actor: an alive node its own store shows admitted and not cut.
  std::vector<Node*> actors;
  for (auto& n : nodes_) {
    if (!n->alive || n->index == removable_) continue;
    const auto roster = n->store->roster();  // kept alive: member() points into it
    const MemberState* m = roster->member(n->key.public_key());
    if (m && m->admitted && !m->cut) actors.push_back(n.get());
  }
  if (actors.empty()) return;
  Node& a = *actors[muniform(0, actors.size() - 1)];
  const auto roster = a.store->roster();
  auto current = [&](const NodeId& id) { return roster->admitted(id) && !roster->member(id)->cut; };
  const auto seed_base = static_cast<std::uint32_t>(opt_.seed % 1000);
  switch (action) {
    case kJoin: {
      std::vector<const KeyPair*> joiners;
      for (auto& n : nodes_)
        if (!roster->admitted(n->key.public_key())) joiners.push_back(&n->key);
      if ((joiners.empty() || muniform(0, 2) == 0) && outsiders_.size() < 32) {
        outsiders_.push_back(
            testkit::test_key(600000 + seed_base * 32 + static_cast<std::uint32_t>(outsiders_.size())));
        joiners = {&outsiders_.back()};
      }
      if (joiners.empty()) return;
      const KeyPair& j = *joiners[muniform(0, joiners.size() - 1)];
      log("node " + std::to_string(a.index) + " admits " + j.public_key().hex().substr(0, 6));
      (void)write_membership(a, {mops::admit(card_of(j))});
      return;
    }
    case kRemove: {
      std::vector<NodeId> targets;
      for (const auto& o : outsiders_)
        if (current(o.public_key())) targets.push_back(o.public_key());
      if (const NodeId r = nodes_[static_cast<std::size_t>(removable_)]->key.public_key(); current(r))
        targets.push_back(r);
      if (targets.empty()) return;
      const NodeId t = targets[muniform(0, targets.size() - 1)];
      auto head = a.store->head(t);
      const Seq last = head.ok() ? head->seq : Seq{};
      log("node " + std::to_string(a.index) + " votes " + t.hex().substr(0, 6) + " out after seq " +
          std::to_string(last.value));
      (void)write_membership(a, {mops::remove(t, last)});
      return;
    }
    case kRotate: {
      if (keys_minted_ >= 64) return;
      KeyPair next = testkit::test_key(700000 + seed_base * 64 + keys_minted_++);
      auto d = write_membership(a, {mops::rotate(a.key.public_key(), next)});
      // It signs with the new key once its own roster counts the rotation.
      if (d && a.store->roster()->key_at(a.key.public_key(), d->seq.next()) == next.public_key()) {
        log("node " + std::to_string(a.index) + " rotates its key" + (partitioned_ ? " during a partition" : ""));
        a.signer = next;
        result_.rotations_partitioned += partitioned_;
      }
      return;
    }
    default:
      return;
  }
}

void Simulation::apply_one(Node& n) {
  n.apply_scheduled = false;
  if (!n.alive || n.applies.empty()) return;
  sync::ApplyBatchAction ap = std::move(n.applies.front());
  n.applies.pop_front();
  std::vector<VerifiedDelta> batch = ap.deltas;
  Status st = n.store->apply(std::move(ap.deltas));
  check_capacity(n, batch);
  refresh_roster(n);
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
  partitioned_ = true;
  // A key rotation while the partition stands.
  if (membership_) push({.time = now_ + muniform(10, 250), .kind = Ev::member, .b = kRotate});
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
  partitioned_ = false;
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
  // The reference holds what every honest node must: the shared prefix, and
  // the fork as evidence.
  if (shared > 0)
    if (auto st =
            reference_->apply(std::vector<VerifiedDelta>(a.begin(), a.begin() + static_cast<std::ptrdiff_t>(shared)));
        !st.ok())
      return fail("the reference replica refused the equivocator's prefix: " + st.error().message());
  if (auto st = reference_->add_evidence(a[shared], b[shared]); !st.ok())
    return fail("the reference replica refused the evidence: " + st.error().message());
  log("equivocation handed to nodes " + std::to_string(alive[0]) + " and " + std::to_string(alive[1]));
  for (auto [idx, chain] : {std::pair{alive[0], &a}, std::pair{alive[1], &b}}) {
    Node& n = *nodes_[static_cast<std::size_t>(idx)];
    if (auto st = n.store->apply(*chain); !st.ok()) return fail("equivocator's branch refused: " + st.error().message());
    refresh_roster(n);
    n.engine->on_local_commit(*chain, now_);
    drain(n);
  }
}

void Simulation::step(const Event& e) {
  now_ = std::max(now_, e.time);
  Node* n = e.a >= 0 && !is_hostile(e.a) ? nodes_[static_cast<std::size_t>(e.a)].get() : nullptr;
  switch (e.kind) {
    case Ev::deliver: {
      Link& l = link(e.a, e.b);
      if (!l.up || l.epoch != e.epoch || !up(e.b)) return;
      if (is_hostile(e.b)) {
        v1::SyncMessage m;
        if (!m.ParseFromString(e.bytes)) return fail("an honest node sent bytes that do not parse");
        auto source = [this](const NodeId& o, std::uint64_t from, std::size_t c, std::size_t b) {
          return read_deltas(o, from, c, b);
        };
        return hostile_sends(e.b, hostile(e.b).on_message(e.a, m, source));
      }
      Node& to = *nodes_[static_cast<std::size_t>(e.b)];
      to.engine->on_message_bytes(id_of(e.a), e.bytes, now_);
      return drain(to);
    }
    case Ev::hostile_tick:
      return hostile_tick(e.a);
    case Ev::redial:
      return link_up(e.a, e.b);
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
    case Ev::member: return member_event(e.b);
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
  result_.peak_buffered = std::max(result_.peak_buffered, n.engine->buffered_bytes());
  // A share of the budget per peer (docs/sync.md "Credit is shared"): never
  // more than a half, whatever a hostile member claims.
  for (const auto& h : hostile_) {
    const std::size_t credit = n.engine->peer_credit(h->id());
    result_.peak_hostile_credit = std::max(result_.peak_hostile_credit, credit);
    if (credit > cfg.max_buffer_bytes / 2)
      fail("node " + std::to_string(n.index) + " granted a hostile member " + std::to_string(credit) +
           " bytes of credit, over half its budget of " + std::to_string(cfg.max_buffer_bytes));
  }
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
  auto describe = [](const SimStore& store) {
    std::ostringstream os;
    auto vv = store.version_vector();
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
        auto ds = store.deltas_from(o, Seq{seq}, 1, 1 << 20);
        if (seq > 0 && ds.ok() && !ds->empty()) id = compute_delta_id(ds->front().body(), ds->front().signature());
      }
      if (seq == 0 && h.frozen_at.value == 0) continue;
      os << o.hex().substr(0, 6) << ":" << seq << "/" << id.hex().substr(0, 6) << "/" << h.frozen_at.value << " ";
    }
    return os.str();
  };
  const Node& first = *nodes_[0];
  const std::string vv0 = describe(*first.store);
  const Hash256 d0 = first.store->digest();
  for (const auto& n : nodes_) {
    if (!n->alive) return *why = "node " + std::to_string(n->index) + " is down", false;
    if (describe(*n->store) != vv0)
      return *why = "version vectors differ: node 0 {" + vv0 + "} node " + std::to_string(n->index) + " {" +
                    describe(*n->store) + "}",
             false;
    if (n->store->digest() != d0) return *why = "digests differ at node " + std::to_string(n->index), false;
    if (evil_) {
      auto h = n->store->head(evil_->public_key());
      if (result_.equivocated && (!h.ok() || h->frozen_at.value == 0))
        return *why = "node " + std::to_string(n->index) + " has not flagged the equivocating origin", false;
    }
  }
  // Same deltas, same roster (DESIGN §2 Determinism): every honest node
  // derives the reference's roster.
  if (membership_) {
    const std::string expected = reference_->roster()->fingerprint();
    for (const auto& n : nodes_)
      if (n->store->roster()->fingerprint() != expected)
        return *why = "node " + std::to_string(n->index) +
                      " holds the same deltas as the reference but derives another roster",
               false;
  }
  for (const auto& a : acked_) {
    auto ds = first.store->deltas_from(a.origin, a.seq, 1, 1 << 20);
    if (!ds.ok() || ds->empty() || compute_delta_id(ds->front().body(), ds->front().signature()) != a.id)
      return *why = "acknowledged write " + std::to_string(a.seq.value) + " of " + a.origin.hex().substr(0, 6) + " is missing", false;
  }
  // The reference replica, fed every delta as it was authored.
  if (const std::string ref = describe(*reference_); ref != vv0)
    return *why = "version vectors differ from the reference: reference {" + ref + "} node 0 {" + vv0 + "}", false;
  if (reference_->digest() != d0) return *why = "state digest differs from the reference replica", false;
  return matches_reference(why);
}

// Disk: every honest node stores exactly the reference's deltas, each as
// bare body + signature (padding a relay added is never stored). Of a frozen
// origin only the deltas before its fork count: what a store kept of its
// branch beyond that legitimately differs between nodes.
bool Simulation::matches_reference(std::string* why) {
  auto vv = reference_->version_vector();
  if (!vv.ok()) return *why = "reference unreadable", false;
  auto kept = [](const sync::OriginHead& h, std::size_t i) {
    return h.frozen_at.value == 0 || i + 1 < h.frozen_at.value;
  };
  std::uint64_t ref_bytes = 0;
  for (const auto& [o, h] : *vv) {
    auto ds = reference_->deltas_from(o, Seq{1}, 1 << 20, std::size_t{1} << 30);
    if (ds.ok())
      for (std::size_t i = 0; i < ds->size(); ++i)
        if (kept(h, i)) ref_bytes += (*ds)[i].body().size() + (*ds)[i].signature().size();
  }
  for (const auto& n : nodes_) {
    std::uint64_t bytes = 0;
    for (const auto& [o, h] : *vv) {
      auto ds = n->store->deltas_from(o, Seq{1}, 1 << 20, std::size_t{1} << 30);
      if (!ds.ok()) return *why = "node " + std::to_string(n->index) + " log unreadable", false;
      for (std::size_t i = 0; i < ds->size(); ++i) {
        const v1::SignedDelta& d = (*ds)[i];
        v1::SignedDelta bare;
        bare.set_body(d.body());
        bare.set_signature(d.signature());
        if (d.ByteSizeLong() != bare.ByteSizeLong())
          return *why = "node " + std::to_string(n->index) + " stores a delta of " + o.hex().substr(0, 6) + " with " +
                        std::to_string(d.ByteSizeLong() - bare.ByteSizeLong()) + " bytes of padding",
                 false;
        if (kept(h, i)) bytes += d.body().size() + d.signature().size();
      }
    }
    if (bytes != ref_bytes)
      return *why = "node " + std::to_string(n->index) + " stores " + std::to_string(bytes) +
                    " bytes of deltas, the reference " + std::to_string(ref_bytes),
             false;
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
    if (e.kind == Ev::deliver || e.kind == Ev::timer || e.kind == Ev::apply || e.kind == Ev::hostile_tick ||
        e.kind == Ev::redial)
      keep.push(std::move(e));
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
  for (auto& n : nodes_) harvest(*n);
  if (membership_) {
    const auto r = reference_->roster();
    for (const auto& [id, m] : r->members()) {
      result_.joins += m.admitted && !m.founder;
      result_.removals += m.cut.has_value();
      result_.rotations += m.keys.size() > 1;
    }
  }
  // Every fault each hostile member was given was carried out in this run.
  for (std::size_t h = 0; h < hostile_.size(); ++h)
    for (Fault f : hostile_[h]->faults()) {
      const std::uint64_t done = hostile_[h]->done()[static_cast<std::size_t>(f)];
      result_.faults[static_cast<std::size_t>(f)] += done;
      if (done == 0)
        fail("hostile member " + std::to_string(nodes_.size() + h) + " was to be " + fault_name(f) +
             " but never was (no occasion in this run)");
    }
  return result_;
}

}  // namespace

std::string SimResult::summary() const {
  std::ostringstream os;
  os << nodes << " nodes, " << authored << " writes, " << messages << " messages (" << bytes << " B, " << dropped
     << " dropped, " << duplicated << " duplicated), " << crashes << " crashes, " << partitions << " partitions"
     << (equivocated ? ", equivocation" : "") << ", converged " << converged_ms << " ms after healing";
  if (membership)
    os << "; membership: " << joins << " joined, " << removals << " removed, " << rotations << " rotated ("
       << rotations_partitioned << " during a partition)";
  if (hostile > 0) {
    os << "; " << hostile << " hostile (";
    for (std::size_t f = 0; f < kFaultKinds; ++f)
      if (faults[f] > 0) os << fault_name(static_cast<Fault>(f)) << " " << faults[f] << " ";
    os << "), met: " << met.claims_broken << " claims broken, " << met.batches_refused << " batches refused, "
       << met.batches_stale << " stale, " << met.padded_wrappers << " padded stripped, " << met.evidence_unproven
       << " evidence set aside, " << hostile_disconnects << " hostile disconnects; peak credit to one hostile "
       << peak_hostile_credit << " B, peak buffered " << peak_buffered << " B of " << budget;
  }
  return os.str();
}

SimResult run_simulation(const SimOptions& options) { return Simulation(options).run(); }

}  // namespace conect::sim
