// conect_bench_sync: the sync protocol at federation scale, in virtual time.
//
//   1. Propagation: N nodes (default 1,000) in a random graph of degree ~8,
//      D deltas (default 100,000) authored across them at a steady rate;
//      once in eager-push mode and once in lazy-push mode (announce, then
//      fetch the body once). Reports virtual time to convergence, and bytes
//      sent per node per delta next to the delta's own size.
//   2. Anti-entropy: bytes of one summary round between two converged nodes
//      holding 100 origins.
//
// What is real: the SyncEngine, every message it emits (bytes are their
// encoded sizes), signed deltas (built with Ed25519 once, up front). What is
// not: the store is one shared in-memory log per origin (each node keeps only
// its heads: 1,000 LMDB environments would not fit this machine), and
// signature checks are a table lookup (the engine's verifier interface): the
// figures are about the protocol, not the CPU; Ed25519 and LMDB speed are
// measured by the storage and crdt benchmarks.
//
// Usage: conect_bench_sync [--nodes N] [--degree K] [--deltas D] [--rate R]
//                          [--latency-ms L] [--tiny] [--no-flood] [--json-only]
//                          [--only MODE[,MODE...]] [--tree-delay-ms T]
//                          [--authors A]  (only the first A nodes author; default all)
//                          [--link-latency [--jitter-ms J]]
//                          [--tree-regraft 0|1] [--tree-prune-hold-ms H] [--packed-haves 0|1]
//   Latency models: by default every message draws its own one-way delay
//   (L +/- 50%); with --link-latency every link draws one delay (L +/- 50%)
//   once, each message adds 0..J ms of jitter (default 5), and a link
//   delivers in order (a message never overtakes an earlier one on the same
//   link, as over TCP). Per-message delays let a flood take, for every delta,
//   the fastest of many random paths, which no tree can follow
//   (docs/performance.md "Tree push"); real links have a stable latency.
//   Push modes: eager (flood bodies), eager_pruned (flood, pruned by
//   inference), lazy (announce, fetch once), tree (Plumtree per origin).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <unistd.h>

#include "conect/crdt/identity.h"
#include "conect/crdt/testkit/author.h"
#include "conect/sync/engine.h"

namespace {

using namespace conect;
using namespace conect::sync;

struct Chain {
  NodeId origin;
  std::vector<v1::SignedDelta> deltas;
  std::vector<DeltaId> ids;
};

// Node ids are Ed25519 keys: their first 8 bytes are as good as a hash.
struct IdHash {
  std::size_t operator()(const NodeId& id) const {
    std::uint64_t h = 0;
    std::memcpy(&h, id.bytes.data(), sizeof h);
    return h;
  }
};

// Every honest node holds a prefix of each origin's one chain: a node's
// store is its heads, the bodies are shared.
struct Pool {
  std::vector<Chain> chains;
  // Looked up for every message sent and every delta applied: by hash (an
  // ordered map of 32-byte keys cost ~8 % of the run).
  std::unordered_map<NodeId, std::uint32_t, IdHash> index;
  // signature prefix -> (chain, seq)
  std::unordered_map<std::uint64_t, std::pair<std::uint32_t, std::uint32_t>> by_sig;
};

std::uint64_t sig_key(const std::string& sig) {
  std::uint64_t k = 0;
  std::memcpy(&k, sig.data(), sizeof k);
  return k;
}

class TableVerifier final : public DeltaVerifier {
 public:
  explicit TableVerifier(const Pool& p) : pool_(p) {}
  Result<VerifiedDelta> decode(const FederationId&, v1::SignedDelta d) const override {
    auto it = pool_.by_sig.find(sig_key(d.signature()));
    if (it == pool_.by_sig.end()) return Error(Errc::malformed_body, "unknown delta");
    const Chain& c = pool_.chains[it->second.first];
    const std::uint32_t seq = it->second.second;
    VerifiedDelta v;
    v.signed_delta = std::move(d);
    v.origin = c.origin;
    v.seq = Seq{seq};
    v.id = c.ids[seq - 1];
    v.prev = seq > 1 ? c.ids[seq - 2] : DeltaId{};
    return v;
  }
  bool signature_holds(const VerifiedDelta&) const override { return true; }

 private:
  const Pool& pool_;
};

class HeadsView final : public SyncStoreView {
 public:
  HeadsView(const Pool& p) : pool_(p), heads_(p.chains.size(), 0) {}
  Result<std::vector<std::pair<NodeId, OriginHead>>> version_vector() const override {
    std::vector<std::pair<NodeId, OriginHead>> out;
    for (std::size_t i = 0; i < heads_.size(); ++i)
      if (heads_[i] > 0) out.emplace_back(pool_.chains[i].origin, at(i));
    return out;
  }
  Result<OriginHead> head(const NodeId& o) const override {
    auto it = pool_.index.find(o);
    return it == pool_.index.end() ? OriginHead{} : at(it->second);
  }
  Result<std::vector<v1::SignedDelta>> deltas_from(const NodeId& o, Seq from, std::size_t max_count,
                                                   std::size_t max_bytes) const override {
    std::vector<v1::SignedDelta> out;
    auto it = pool_.index.find(o);
    if (it == pool_.index.end()) return out;
    const Chain& c = pool_.chains[it->second];
    std::size_t bytes = 0;
    for (std::uint64_t s = from.value; s <= heads_[it->second] && out.size() < max_count; ++s) {
      bytes += delta_bytes(c.deltas[s - 1]);
      if (!out.empty() && bytes > max_bytes) break;
      out.push_back(c.deltas[s - 1]);
    }
    return out;
  }
  Result<std::optional<v1::EquivocationEvidence>> evidence(const NodeId&) const override {
    return std::optional<v1::EquivocationEvidence>{};
  }
  // Applies the deltas in order up to the first that does not link; returns
  // how many were applied.
  std::size_t apply(const std::vector<VerifiedDelta>& ds) {
    std::size_t n = 0;
    for (const auto& d : ds) {
      auto i = pool_.index.at(d.origin);
      if (d.seq.value != heads_[i] + 1) return n;
      heads_[i] = static_cast<std::uint32_t>(d.seq.value);
      ++n;
    }
    return n;
  }
  void set_head(std::uint32_t chain, std::uint32_t seq) { heads_[chain] = seq; }

 private:
  OriginHead at(std::size_t i) const {
    OriginHead h;
    h.seq = Seq{heads_[i]};
    if (heads_[i] > 0) h.id = pool_.chains[i].ids[heads_[i] - 1];
    return h;
  }
  const Pool& pool_;
  std::vector<std::uint32_t> heads_;
};

struct Options {
  std::size_t nodes = 1000, degree = 8, deltas = 100000;
  double rate = 1000;             // deltas authored per virtual second, federation-wide
  std::uint64_t latency_ms = 50;  // one-way, +/- 50%
  bool json_only = false;
  bool eager_flood = true;
  bool trace = false;                // also run eager push without pruning (slow at scale)
  std::uint64_t tree_delay_ms = 50;  // push mode tree: announcement delay on lazy links
  std::string only;                  // run only these modes, comma-separated (eager, eager_pruned, lazy, tree)
  std::size_t authors = 0;           // nodes that author (0: every node)
  bool link_latency = false;         // one delay per link (+ jitter, FIFO) instead of one per message
  std::uint64_t jitter_ms = 5;       // link model: per-message jitter, 0..J ms
  bool tree_regraft = SyncConfig{}.tree_regraft_on_first;
  std::uint64_t prune_hold_ms = SyncConfig{}.tree_prune_hold_ms;
  bool packed_haves = SyncConfig{}.packed_haves;  // off: announcements as OriginEntry, as before 2026-12-03 night
};

// The one-way delay of each link (link model), by unordered pair a*n+b, a < b.
using LinkDelays = std::unordered_map<std::uint64_t, std::uint32_t>;

LinkDelays link_delays(const Options& opt, const std::vector<std::vector<std::uint32_t>>& adj) {
  std::mt19937_64 rng(17);
  LinkDelays out;
  for (std::uint32_t a = 0; a < adj.size(); ++a)
    for (auto b : adj[a])
      if (a < b)
        out[std::uint64_t{a} * adj.size() + b] =
            static_cast<std::uint32_t>(opt.latency_ms / 2 + rng() % (opt.latency_ms + 1));
  return out;
}

// A time wheel of messages and timers, 1 ms resolution.
struct Msg {
  std::uint32_t to, from;
  std::shared_ptr<const v1::SyncMessage> m;
};

struct Figures {
  std::string mode;
  std::uint64_t converge_ms = 0;  // from the last write to every node holding everything
  std::uint64_t last_write_ms = 0;
  double bytes_per_node_per_delta = 0;  // all sync bytes / (nodes * deltas)
  double delta_bytes = 0;               // average SignedDelta body + signature
  std::uint64_t messages = 0;
  std::map<std::string, std::uint64_t> bytes_by_kind;  // push, have, request, batch, ...
  std::uint64_t prunes = 0, grafts = 0;
  std::uint64_t haves = 0, announced = 0;  // SyncHave messages, origins announced in them
  double wall_s = 0;
  bool converged = false;
  // Per delta, from its write to the last node holding it: median, 99th
  // percentile and maximum (converge_ms is about the last deltas only).
  std::uint64_t spread_p50 = 0, spread_p99 = 0, spread_max = 0;
};

Pool make_pool(std::size_t origins, std::size_t deltas, std::mt19937_64& rng, std::vector<std::uint32_t>& order,
               std::size_t writers = 0) {
  Pool pool;
  std::vector<testkit::Author> authors;
  for (std::size_t i = 0; i < origins; ++i) authors.emplace_back(static_cast<std::uint32_t>(i + 1));
  for (std::size_t i = 0; i < origins; ++i) {
    pool.chains.push_back({authors[i].id(), {}, {}});
    pool.index[authors[i].id()] = static_cast<std::uint32_t>(i);
  }
  for (std::size_t k = 0; k < deltas; ++k) {
    const auto o = static_cast<std::uint32_t>(rng() % (writers == 0 ? origins : std::min(writers, origins)));
    v1::Operation op;
    auto* w = op.mutable_write();
    *w->mutable_id() = authors[o].next_key(v1::CONTACT).to_proto();
    w->mutable_contact()->set_display_name("Coordinator of the welding programme " + std::to_string(k));
    w->add_fields(2);
    auto d = authors[o].emit({op}, {}, 1'700'000'000'000 + k);
    Chain& c = pool.chains[o];
    pool.by_sig[sig_key(d.signed_delta.signature())] = {o, static_cast<std::uint32_t>(d.seq.value)};
    c.ids.push_back(d.id);
    c.deltas.push_back(std::move(d.signed_delta));
    order.push_back(o);
  }
  return pool;
}

std::vector<std::vector<std::uint32_t>> random_graph(std::size_t n, std::size_t degree, std::mt19937_64& rng) {
  std::vector<std::vector<std::uint32_t>> adj(n);
  auto connect = [&](std::size_t a, std::size_t b) {
    if (a == b || std::find(adj[a].begin(), adj[a].end(), b) != adj[a].end()) return;
    adj[a].push_back(static_cast<std::uint32_t>(b));
    adj[b].push_back(static_cast<std::uint32_t>(a));
  };
  for (std::size_t i = 0; i < n; ++i) connect(i, (i + 1) % n);  // a ring keeps it connected
  while (true) {
    std::size_t edges = 0;
    for (const auto& a : adj) edges += a.size();
    if (edges / n >= degree) break;
    connect(rng() % n, rng() % n);
  }
  return adj;
}

Figures propagate(const Options& opt, PushMode mode, bool prune, const Pool& pool,
                  const std::vector<std::uint32_t>& order, const std::vector<std::vector<std::uint32_t>>& adj,
                  const LinkDelays& links) {
  const auto wall0 = std::chrono::steady_clock::now();
  TableVerifier verifier(pool);
  std::vector<std::unique_ptr<HeadsView>> views;
  std::vector<std::unique_ptr<SyncEngine>> engines;
  std::vector<NodeId> ids;
  for (const auto& c : pool.chains) ids.push_back(c.origin);
  for (std::size_t i = 0; i < opt.nodes; ++i) {
    views.push_back(std::make_unique<HeadsView>(pool));
    SyncConfig cfg;
    cfg.self = ids[i];
    cfg.seed = i + 1;
    cfg.push_mode = mode;
    cfg.prune_redundant_pushes = prune;
    cfg.have_delay_ms = mode == PushMode::lazy ? 20 : 0;
    cfg.tree_have_delay_ms = opt.tree_delay_ms;
    cfg.tree_regraft_on_first = opt.tree_regraft;
    cfg.tree_prune_hold_ms = opt.prune_hold_ms;
    cfg.packed_haves = opt.packed_haves;
    cfg.summary_interval_ms = 10'000;
    cfg.summary_jitter_ms = 2'000;
    engines.push_back(std::make_unique<SyncEngine>(cfg, *views.back(), ids, 0, verifier));
  }
  const std::uint64_t horizon = 1u << 20;
  std::vector<std::vector<Msg>> wheel(4096);
  std::vector<std::vector<std::uint32_t>> timers(4096);
  std::vector<std::uint64_t> timer_at(opt.nodes, 0);
  std::mt19937_64 rng(42);
  Figures f;
  f.mode = mode == PushMode::lazy ? "lazy" : mode == PushMode::tree ? "tree" : prune ? "eager_pruned" : "eager";
  std::uint64_t bytes = 0, now = 0;
  std::uint64_t held = 0;  // sum of heads over all nodes
  // Per origin and seq: when it was written and how many nodes hold it.
  std::vector<std::vector<std::uint64_t>> written_at(pool.chains.size());
  std::vector<std::vector<std::uint32_t>> holders(pool.chains.size());
  for (std::size_t c = 0; c < pool.chains.size(); ++c) {
    written_at[c].resize(pool.chains[c].deltas.size());
    holders[c].resize(pool.chains[c].deltas.size());
  }
  std::vector<std::uint64_t> spreads;
  auto reached = [&](std::uint32_t chain, std::uint64_t seq) {
    if (++holders[chain][seq - 1] == opt.nodes) spreads.push_back(now - written_at[chain][seq - 1]);
  };
  // Link model: the latest arrival scheduled on each directed link, so that
  // messages on one link arrive in the order they were sent.
  std::unordered_map<std::uint64_t, std::uint64_t> link_last;
  auto arrival = [&](std::uint32_t from, std::uint32_t to) -> std::uint64_t {
    if (!opt.link_latency) return now + opt.latency_ms / 2 + rng() % (opt.latency_ms + 1);
    const std::uint64_t n = opt.nodes;
    const std::uint64_t base = links.at(std::min(from, to) * n + std::max(from, to));
    std::uint64_t& last = link_last[std::uint64_t{from} * n + to];
    last = std::max(last, now + base + rng() % (opt.jitter_ms + 1));
    return last;
  };
  auto drain = [&](std::uint32_t i) {
    while (auto a = engines[i]->poll()) {
      if (auto* s = std::get_if<SendAction>(&*a)) {
        const std::uint64_t n = s->message.ByteSizeLong();
        bytes += n;
        f.bytes_by_kind[message_name(s->message)] += n;
        ++f.messages;
        auto to = pool.index.at(s->peer);
        wheel[arrival(i, to) % wheel.size()].push_back(
            {to, i, std::make_shared<v1::SyncMessage>(std::move(s->message))});
      } else if (auto* ap = std::get_if<ApplyBatchAction>(&*a)) {
        const std::size_t n = views[i]->apply(ap->deltas);
        held += n;
        for (std::size_t k = 0; k < n; ++k) reached(pool.index.at(ap->deltas[k].origin), ap->deltas[k].seq.value);
        const bool ok = n == ap->deltas.size();
        engines[i]->on_batch_applied({ap->apply_id, ok ? Status::Ok() : Status(Error(Errc::broken_chain, "gap"))}, now);
      } else if (auto* t = std::get_if<ArmTimerAction>(&*a)) {
        timer_at[i] = std::max(t->when, now + 1);
        timers[timer_at[i] % timers.size()].push_back(i);
      }
    }
  };
  for (std::uint32_t i = 0; i < opt.nodes; ++i)
    for (auto j : adj[i])
      if (i < j) {
        engines[i]->on_peer_connected(ids[j], PeerRole::dialler, 0);
        engines[j]->on_peer_connected(ids[i], PeerRole::acceptor, 0);
      }
  for (std::uint32_t i = 0; i < opt.nodes; ++i) drain(i);
  const std::uint64_t goal = static_cast<std::uint64_t>(opt.deltas) * opt.nodes;
  std::size_t next_write = 0;
  std::vector<std::uint32_t> authored(pool.chains.size(), 0);
  const double per_ms = opt.rate / 1000.0;
  std::vector<Msg> msgs;
  std::vector<std::uint32_t> due;
  for (now = 1; now < horizon; ++now) {
    // Authoring at a steady federation-wide rate.
    while (next_write < order.size() && static_cast<double>(next_write) < per_ms * static_cast<double>(now)) {
      const std::uint32_t o = order[next_write++];
      const std::uint32_t seq = ++authored[o];
      views[o]->set_head(o, seq);
      ++held;
      written_at[o][seq - 1] = now;
      reached(o, seq);
      auto d = verifier.decode({}, pool.chains[o].deltas[seq - 1]);
      engines[o]->on_local_commit(std::span<const VerifiedDelta>(&*d, 1), now);
      drain(o);
      f.last_write_ms = now;
    }
    // Swapped, not moved out: the buckets keep their capacity, so no
    // millisecond frees a large block (each such free made malloc
    // consolidate its fast bins: ~7 % of the run).
    msgs.swap(wheel[now % wheel.size()]);
    for (auto& m : msgs) {
      engines[m.to]->on_message(ids[m.from], *m.m, now);
      drain(m.to);
    }
    due.swap(timers[now % timers.size()]);
    for (auto i : due) {
      if (timer_at[i] == now) {
        timer_at[i] = 0;
        engines[i]->on_timer(now);
        drain(i);
      } else if (timer_at[i] > now) {
        timers[timer_at[i] % timers.size()].push_back(i);  // armed more than a turn of the wheel ahead
      }
    }
    msgs.clear();
    due.clear();
    // Checked every millisecond (it was every 50 ms, when it summed every
    // node's heads: converge times were rounded up to the next 50 ms).
    if (next_write == order.size()) {
      if (held == goal) {
        f.converged = true;
        break;
      }
      if (opt.trace && now % 250 == 0) {
        std::uint64_t fetches = 0, timeouts = 0, dropped = 0;
        for (const auto& e : engines) {
          fetches += e->stats().requests_sent;
          timeouts += e->stats().requests_timed_out;
          dropped += e->stats().pushes_dropped;
        }
        std::fprintf(stderr, "t=%llu missing=%llu requests=%llu timeouts=%llu pushes_dropped=%llu\n",
                     static_cast<unsigned long long>(now), static_cast<unsigned long long>(goal - held),
                     static_cast<unsigned long long>(fetches), static_cast<unsigned long long>(timeouts),
                     static_cast<unsigned long long>(dropped));
      }
    }
  }
  f.converge_ms = now - f.last_write_ms;
  if (!spreads.empty()) {
    std::sort(spreads.begin(), spreads.end());
    f.spread_p50 = spreads[spreads.size() / 2];
    f.spread_p99 = spreads[spreads.size() * 99 / 100];
    f.spread_max = spreads.back();
  }
  std::uint64_t buffered = 0, dup = 0, requests = 0, dropped = 0;
  for (const auto& e : engines) {
    f.prunes += e->stats().prunes;
    f.grafts += e->stats().grafts;
    f.haves += e->stats().haves_sent;
    f.announced += e->stats().announced;
    buffered += e->stats().pushes_buffered;
    dup += e->stats().pushes_duplicate;
    requests += e->stats().requests_sent;
    dropped += e->stats().pushes_dropped;
  }
  if (std::getenv("CONECT_BENCH_DEBUG") != nullptr)
    std::fprintf(stderr, "%s: pushes buffered %llu duplicate %llu dropped %llu, requests %llu\n", f.mode.c_str(),
                 static_cast<unsigned long long>(buffered), static_cast<unsigned long long>(dup),
                 static_cast<unsigned long long>(dropped), static_cast<unsigned long long>(requests));
  std::uint64_t delta_total = 0;
  for (const auto& c : pool.chains)
    for (const auto& d : c.deltas) delta_total += delta_bytes(d);
  f.delta_bytes = static_cast<double>(delta_total) / static_cast<double>(opt.deltas);
  f.bytes_per_node_per_delta =
      static_cast<double>(bytes) / static_cast<double>(opt.nodes) / static_cast<double>(opt.deltas);
  f.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
  return f;
}

// Summary bytes of the first round between two nodes holding `origins`
// origins, b lagging one delta behind on `behind` of them.
std::uint64_t summary_round_bytes(std::size_t origins, std::size_t behind) {
  std::mt19937_64 rng(7);
  std::vector<std::uint32_t> order;
  Pool pool = make_pool(origins, origins * 3, rng, order);
  TableVerifier verifier(pool);
  HeadsView a(pool), b(pool);
  for (std::uint32_t o = 0; o < origins; ++o) {
    const auto n = static_cast<std::uint32_t>(pool.chains[o].deltas.size());
    a.set_head(o, n);
    b.set_head(o, n > 0 && o < behind ? n - 1 : n);
  }
  std::vector<NodeId> ids;
  for (const auto& c : pool.chains) ids.push_back(c.origin);
  SyncConfig ca, cb;
  ca.self = ids[0];
  cb.self = ids[1];
  SyncEngine ea(ca, a, ids, 0, verifier), eb(cb, b, ids, 0, verifier);
  std::uint64_t total = 0;
  std::vector<std::pair<int, v1::SyncMessage>> q;
  auto collect = [&](SyncEngine& e, int to) {
    while (auto x = e.poll())
      if (auto* s = std::get_if<SendAction>(&*x); s && s->message.has_summary())
        q.emplace_back(to, std::move(s->message));
  };
  ea.on_peer_connected(ids[1], PeerRole::dialler, 0);
  eb.on_peer_connected(ids[0], PeerRole::acceptor, 0);
  collect(ea, 1);
  while (!q.empty()) {
    auto [to, m] = std::move(q.front());
    q.erase(q.begin());
    total += m.ByteSizeLong();
    (to == 1 ? eb : ea).on_message(to == 1 ? ids[0] : ids[1], m, 0);
    collect(ea, 1);
    collect(eb, 0);
  }
  return total;
}

}  // namespace

constexpr const char* kUsage =
    "usage: conect_bench_sync [--nodes N] [--degree K] [--deltas D] [--rate R] [--latency-ms L]\n"
    "                         [--tiny] [--no-flood] [--json-only] [--trace] [--only MODE[,MODE...]]\n"
    "                         [--tree-delay-ms T] [--authors A] [--link-latency [--jitter-ms J]]\n"
    "                         [--tree-regraft 0|1] [--tree-prune-hold-ms H] [--packed-haves 0|1]  (the engine's\n"
    "                         rules, to measure them; --packed-haves 0: announcements as OriginEntry)\n"
    "  defaults: 1,000 nodes, degree 8, 100,000 deltas at 1,000/s, latency 50 ms +/- 50%, every node writes\n"
    "  latency: drawn per message (default), or with --link-latency once per link (L +/- 50%) plus\n"
    "           0..J ms per message (default 5), in order per link\n"
    "  modes (--only): eager, eager_pruned, lazy, tree; --tiny: 24 nodes, 600 deltas at 200/s\n";

int main(int argc, char** argv) {
  // glibc's malloc, tuned for this workload (measured at 1,000 nodes x 200
  // deltas, tree: 24.7 -> 11.0 s of CPU, the same figures). Every message is
  // a burst of small protobuf allocations freed a few simulated ms later:
  // with the default 7 cached chunks per size most went through the bins
  // (_int_malloc was the top symbol), so a deep per-thread cache and no fast
  // bins (whose consolidation cost 5-9 %); and 1,000 engines are a 1 GB
  // working set touched at random, so transparent huge pages for the heap
  // (the first touch of an engine's peer table was 11 %: TLB misses).
  // Tunables are read at start, hence the re-exec; set GLIBC_TUNABLES to
  // anything to run without.
  if (std::getenv("GLIBC_TUNABLES") == nullptr) {
    ::setenv("GLIBC_TUNABLES", "glibc.malloc.tcache_count=65000:glibc.malloc.mxfast=0:glibc.malloc.hugetlb=1", 1);
    ::execv("/proc/self/exe", argv);  // returns only on failure: run as we are
  }
  if (!conect::crypto_init()) return 2;
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::uint64_t { return i + 1 < argc ? std::strtoull(argv[++i], nullptr, 10) : 0; };
    if (a == "--nodes")
      opt.nodes = next();
    else if (a == "--degree")
      opt.degree = next();
    else if (a == "--deltas")
      opt.deltas = next();
    else if (a == "--rate")
      opt.rate = static_cast<double>(next());
    else if (a == "--latency-ms")
      opt.latency_ms = next();
    else if (a == "--json-only")
      opt.json_only = true;
    else if (a == "--no-flood")
      opt.eager_flood = false;
    else if (a == "--trace")
      opt.trace = true;
    else if (a == "--tree-delay-ms")
      opt.tree_delay_ms = next();
    else if (a == "--authors")
      opt.authors = next();
    else if (a == "--link-latency")
      opt.link_latency = true;
    else if (a == "--jitter-ms")
      opt.jitter_ms = next();
    else if (a == "--tree-regraft")
      opt.tree_regraft = next() != 0;
    else if (a == "--tree-prune-hold-ms")
      opt.prune_hold_ms = next();
    else if (a == "--packed-haves")
      opt.packed_haves = next() != 0;
    else if (a == "--only" && i + 1 < argc)
      opt.only = argv[++i];
    else if (a == "--tiny") {
      opt.nodes = 24;
      opt.deltas = 600;
      opt.rate = 200;
    } else if (a == "--help" || a == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      // Unknown flags used to be ignored: `--help` then ran the full
      // simulation (hours).
      std::fprintf(stderr, "conect_bench_sync: unknown argument '%s'\n%s", a.c_str(), kUsage);
      return 2;
    }
  }
  std::mt19937_64 rng(1);
  std::vector<std::uint32_t> order;
  const auto t0 = std::chrono::steady_clock::now();
  Pool pool = make_pool(opt.nodes, opt.deltas, rng, order, opt.authors);
  auto adj = random_graph(opt.nodes, opt.degree, rng);
  const LinkDelays links = opt.link_latency ? link_delays(opt, adj) : LinkDelays{};
  const double setup_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::vector<Figures> figs;
  auto run = [&](const char* name, PushMode mode, bool prune) {
    if (opt.only.empty() || ("," + opt.only + ",").find("," + std::string(name) + ",") != std::string::npos)
      figs.push_back(propagate(opt, mode, prune, pool, order, adj, links));
  };
  if (opt.eager_flood) run("eager", PushMode::eager, false);
  run("eager_pruned", PushMode::eager, true);
  run("lazy", PushMode::lazy, true);
  run("tree", PushMode::tree, true);
  const std::uint64_t in_sync_bytes = summary_round_bytes(100, 0);
  const std::uint64_t one_behind_bytes = summary_round_bytes(100, 1);
  const std::uint64_t all_behind_bytes = summary_round_bytes(100, 100);
  const std::string model =
      opt.link_latency ? "per link, + 0.." + std::to_string(opt.jitter_ms) + " ms per message, in order per link"
                       : "per message";
  if (!opt.json_only) {
    std::printf(
        "sync propagation: %zu nodes, degree ~%zu, %zu deltas at %.0f/s by %zu authors, latency %llu ms +/- 50%% "
        "%s (setup %.1f s)\n",
        opt.nodes, opt.degree, opt.deltas, opt.rate, opt.authors == 0 ? opt.nodes : opt.authors,
        static_cast<unsigned long long>(opt.latency_ms), model.c_str(), setup_s);
    std::printf("%-13s %12s %14s %14s %12s %10s %8s\n", "mode", "converge_ms", "bytes/node/d", "delta_bytes",
                "messages", "wall_s", "ok");
    for (const auto& f : figs) {
      std::printf("%-13s %12llu %14.1f %14.1f %12llu %10.1f %8s\n", f.mode.c_str(),
                  static_cast<unsigned long long>(f.converge_ms), f.bytes_per_node_per_delta, f.delta_bytes,
                  static_cast<unsigned long long>(f.messages), f.wall_s, f.converged ? "yes" : "NO");
      std::printf("  bytes/node/delta by message:");
      for (const auto& [k, v] : f.bytes_by_kind)
        std::printf(" %s %.1f", k.c_str(),
                    static_cast<double>(v) / static_cast<double>(opt.nodes) / static_cast<double>(opt.deltas));
      std::printf("; prunes %llu, grafts %llu; haves %llu announcing %.2f origins per node per delta\n",
                  static_cast<unsigned long long>(f.prunes), static_cast<unsigned long long>(f.grafts),
                  static_cast<unsigned long long>(f.haves),
                  static_cast<double>(f.announced) / static_cast<double>(opt.nodes) / static_cast<double>(opt.deltas));
      std::printf("  per delta, write to last node: p50 %llu ms, p99 %llu ms, max %llu ms\n",
                  static_cast<unsigned long long>(f.spread_p50), static_cast<unsigned long long>(f.spread_p99),
                  static_cast<unsigned long long>(f.spread_max));
    }
    std::printf(
        "anti-entropy round, 2 nodes, 100 origins: in sync %llu bytes (%.2f per origin); one origin behind "
        "%llu bytes (%.1f per origin); all behind %llu bytes (%.1f per origin)\n",
        static_cast<unsigned long long>(in_sync_bytes), static_cast<double>(in_sync_bytes) / 100.0,
        static_cast<unsigned long long>(one_behind_bytes), static_cast<double>(one_behind_bytes) / 100.0,
        static_cast<unsigned long long>(all_behind_bytes), static_cast<double>(all_behind_bytes) / 100.0);
  }
  std::printf("{\"bench\":\"sync\",\"nodes\":%zu,\"degree\":%zu,\"deltas\":%zu,\"rate\":%.0f,\"latency_ms\":%llu",
              opt.nodes, opt.degree, opt.deltas, opt.rate, static_cast<unsigned long long>(opt.latency_ms));
  std::printf(",\"authors\":%zu,\"tree_have_delay_ms\":%llu", opt.authors == 0 ? opt.nodes : opt.authors,
              static_cast<unsigned long long>(opt.tree_delay_ms));
  std::printf(",\"latency_model\":\"%s\",\"jitter_ms\":%llu", opt.link_latency ? "link" : "message",
              static_cast<unsigned long long>(opt.link_latency ? opt.jitter_ms : 0));
  std::printf(",\"packed_haves\":%s", opt.packed_haves ? "true" : "false");
  for (const auto& f : figs)
    std::printf(
        ",\"%s\":{\"converge_ms\":%llu,\"bytes_per_node_per_delta\":%.1f,\"delta_bytes\":%.1f,\"messages\":%llu,"
        "\"spread_p50_ms\":%llu,\"spread_p99_ms\":%llu,\"spread_max_ms\":%llu,\"converged\":%s}",
        f.mode.c_str(), static_cast<unsigned long long>(f.converge_ms), f.bytes_per_node_per_delta, f.delta_bytes,
        static_cast<unsigned long long>(f.messages), static_cast<unsigned long long>(f.spread_p50),
        static_cast<unsigned long long>(f.spread_p99), static_cast<unsigned long long>(f.spread_max),
        f.converged ? "true" : "false");
  std::printf(
      ",\"anti_entropy_100_origins\":{\"in_sync_bytes\":%llu,\"one_behind_bytes\":%llu,\"all_behind_bytes\":%llu}}\n",
      static_cast<unsigned long long>(in_sync_bytes), static_cast<unsigned long long>(one_behind_bytes),
      static_cast<unsigned long long>(all_behind_bytes));
  for (const auto& f : figs)
    if (!f.converged) return 1;
  return 0;
}
