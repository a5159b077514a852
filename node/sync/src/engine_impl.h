// SyncEngine's inside. One struct, its methods split by concern:
//   engine.cc   inputs, peers, roster, timers, actions, introspection
//   summary.cc  version vector hash, summary rounds, fork suspicion
//   fetch.cc    requests we make: credit, batches, anchoring, ApplyBatch
//   serve.cc    requests we answer
//   push.cc     live pushes, announcements, buffered pushes, evidence
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "conect/sync/engine.h"

namespace conect::sync {

struct NodeIdHash {
  std::size_t operator()(const NodeId& id) const {
    std::size_t h = 0;
    for (int i = 0; i < 8; ++i) h = (h << 8) | id.bytes[static_cast<std::size_t>(i)];
    return h;
  }
};

inline constexpr std::uint32_t kNoSlot = 0xffffffffu;

// Due times of one kind of timer, by key: the earliest in O(1), a change in
// O(log n), so that the deadline after every input walks nothing.
template <class Key>
class DueTimes {
 public:
  void set(const Key& k, std::uint64_t when) {
    auto [it, inserted] = at_.try_emplace(k, when);
    if (!inserted) {
      if (it->second == when) return;
      order_.erase({it->second, k});
      it->second = when;
    }
    order_.emplace(when, k);
  }
  bool has(const Key& k) const { return at_.contains(k); }
  void clear(const Key& k) {
    auto it = at_.find(k);
    if (it == at_.end()) return;
    order_.erase({it->second, k});
    at_.erase(it);
  }
  std::optional<std::uint64_t> earliest() const {
    if (order_.empty()) return std::nullopt;
    return order_.begin()->first;
  }
  // The keys due at or before `t`, in key order (the order the engine
  // handled them in when it walked every peer and fetch).
  std::vector<Key> due(std::uint64_t t) const {
    std::vector<Key> keys;
    for (auto it = order_.begin(); it != order_.end() && it->first <= t; ++it) keys.push_back(it->second);
    std::sort(keys.begin(), keys.end());
    return keys;
  }
  const std::set<std::pair<std::uint64_t, Key>>& by_time() const { return order_; }

 private:
  std::map<Key, std::uint64_t> at_;
  std::set<std::pair<std::uint64_t, Key>> order_;
};
inline constexpr std::uint64_t kNoLimit = ~std::uint64_t{0};
inline constexpr std::uint8_t kTreeEager = 1, kTreeLazy = 2, kTreePruneSent = 4;  // Peer::tree
// Bytes of credit reserved per delta expected when a fetch starts (deltas
// are a few hundred bytes; the responder stops at the credit and the
// requester tops it up if they are larger).
inline constexpr std::uint64_t kCreditPerDeltaEstimate = 2048;

struct OriginState {
  NodeId id;
  bool trusted = false;
  std::uint32_t roster_index = 0;  // 1-based position in the sorted roster
  Seq stored;                      // committed head (mirror of the view)
  DeltaId stored_id;
  Seq pending;                     // stored + batches handed out
  DeltaId pending_id;
  std::uint64_t epoch = 0;         // bumped when pending is reset
  Seq frozen_at;                   // fork seq (0: not frozen)
  std::optional<v1::EquivocationEvidence> evidence;
  bool evidence_covered = false;  // covers filled in from the store (send_evidence)
  std::optional<DeltaId> frozen_id;  // id at frozen_at - 1 (cache)
  std::uint64_t fetch_id = 0;      // active catch-up fetch (0: none)
  // Refetch backoff: after the store refused a batch of this origin, it is
  // not fetched again before retry_at (doubling per refusal in a row).
  std::uint64_t retry_at = 0;
  std::uint32_t refusals_in_row = 0;
  // Forwarded before commit (forward.cc) up to this seq, in this epoch: a
  // later delta may follow them before they are stored.
  std::uint64_t forwarded_through = 0;
  std::uint64_t forwarded_epoch = 0;
  // The last deltas fetched of this origin named a dependency of origin
  // `blocked_on` at `blocked_seq` that was not pending: not fetched again
  // while that dependency is still on its way (blocked()).
  std::uint32_t blocked_on = kNoSlot;
  std::uint64_t blocked_seq = 0;
  // Tree mode: the announced seq the last graft was sent for, and to whom.
  // Only that peer is not grafted again for it or less: a seq announced by a
  // peer that never delivers it (2^40 from a liar) must not stop grafts of
  // the others.
  std::uint64_t graft_seq = 0;
  NodeId graft_peer;
  // Tree mode: the highest seq a lazy link announced while we lacked it, and
  // who announced it; checked when the graft wait runs out (graft_due).
  std::uint64_t wait_seq = 0;
  NodeId wait_peer;
  // The highest seq announced during a wait, and by whom: waited for next if
  // the wait's own seq arrived.
  std::uint64_t wait_next = 0;
  NodeId wait_next_peer;

  // Highest seq we may hold: everything before the fork.
  std::uint64_t limit() const { return frozen_at.value ? frozen_at.value - 1 : kNoLimit; }
};

struct Known {
  std::uint64_t seq = 0;
  std::uint64_t frozen = 0;
};

// A request we made.
struct Fetch {
  std::uint64_t id = 0;
  NodeId peer;
  std::uint32_t slot = kNoSlot;
  std::uint64_t next_seq = 0;  // next seq expected in the stream
  std::uint64_t until = 0;
  std::uint64_t credit_count = 0;  // granted, not yet received
  std::uint64_t credit_bytes = 0;
  std::map<std::uint64_t, v1::SyncBatch> reorder;  // first_seq -> batch, never an empty one
  std::size_t reorder_bytes = 0;
  std::uint64_t reorder_deltas = 0;      // deltas in `reorder` (top_up runs after every input)
  std::vector<VerifiedDelta> uncovered;  // linked, awaiting a signature
  std::size_t uncovered_bytes = 0;
  std::uint64_t deadline = 0;
  bool ended = false;
  bool anchored = false;
  // Fork probe: one delta at probe_seq; authentic by its signature or by
  // equalling probe_expect (a prev link that a verified range vouched for).
  bool probe = false;
  std::optional<DeltaId> probe_expect;
  // The verified range that vouched for probe_expect: the probed delta's
  // cover if its own signature does not verify.
  std::vector<v1::SignedDelta> probe_cover;
  std::uint64_t received_deltas = 0;
  std::uint64_t received_bytes = 0;
};

// A request we answer.
struct Serving {
  std::uint64_t id = 0;
  NodeId origin;
  std::uint64_t next_seq = 0;
  std::uint64_t until = 0;
  std::uint64_t credit_count = 0;
  std::uint64_t credit_bytes = 0;
  std::uint64_t last_active = 0;
};

struct Peer {
  NodeId id;
  PeerRole role = PeerRole::acceptor;
  PeerState state = PeerState::comparing;
  std::vector<Known> known;                 // by slot
  std::optional<std::uint32_t> roster_tag;  // the peer's, from its last summary/have
  bool reads_packed = false;                // its last summary set reads_packed_have
  std::uint64_t next_probe_at = 0;
  std::set<std::uint64_t> fetches;          // ids of our requests to this peer
  // Kept beside `fetches` because they are read after every input (credit
  // share, end of a catch-up): the sum of their credit_bytes, and how many
  // of them are not fork probes.
  std::size_t credit = 0;
  std::size_t catch_up_fetches = 0;
  // An origin that kept this peer's catch-up open at the last check (wanted,
  // and the peer shows more of it than is pending): checked first next time,
  // so that an idle peer does not rescan `wanted` after every input.
  std::uint32_t busy_witness = kNoSlot;
  std::map<std::uint64_t, Serving> serving; // by request id
  std::set<std::uint32_t> have_queue;       // slots to announce
  std::uint64_t have_flush_at = 0;
  std::map<std::uint32_t, std::uint64_t> evidence_sent;  // slot -> fork seq sent
  std::set<std::uint32_t> probing;          // slots with a fork probe in flight
  std::uint64_t bad_pushes = 0;
  // Slots whose claim this peer did not deliver (a request to it timed out
  // or ended short of what it showed): until the time given, any other peer
  // that claims more is asked first. Claims are hints, never promises.
  std::map<std::uint32_t, std::uint64_t> shunned_until;
  std::uint64_t broke_claim_until = 0;  // any slot: its credit share shrinks
  // Eager pushes to this peer (push mode eager). Cleared when the peer pushes
  // us a delta we already had (the link is redundant for propagation: both
  // ends are reached first by others), set again when the peer announces a
  // delta we lack (the link carries news). Plumtree's prune and graft,
  // inferred from what arrives rather than sent as messages.
  bool eager_out = true;
  // Push mode tree, by origin slot, one bit per direction: kTreeLazy once
  // the peer's prune named the origin (we announce it to the peer instead of
  // pushing; its graft clears it), kTreePruneSent once we asked the peer to
  // stop pushing it to us (our graft clears it and sets kTreeEager).
  // Every origin starts eager on every link: its first delta floods, and
  // the duplicates prune the links that are not on its tree.
  std::vector<std::uint8_t> tree;
  std::set<std::uint32_t> prune_queue, graft_queue;  // to send with the next SyncHave
  // Tree mode: announcements on lazy links, each due tree_have_delay_ms after
  // the delta was stored, naming the seq stored then (a later head is
  // announced by its own entry, once the tree has had the time to bring it).
  struct LazyHave {
    std::uint64_t due = 0;
    std::uint32_t slot = kNoSlot;
    std::uint64_t seq = 0;
  };
  std::deque<LazyHave> lazy_queue;
  std::uint8_t& tree_at(std::uint32_t slot) {
    if (tree.size() <= slot) tree.resize(slot + 1);
    return tree[slot];
  }
  // Tree mode, by origin slot: when this peer last pushed us a delta we did
  // not hold yet (0: never); a duplicate soon after does not prune it.
  std::vector<std::uint64_t> tree_won_;
  std::uint64_t& tree_won_at(std::uint32_t slot) {
    if (tree_won_.size() <= slot) tree_won_.resize(slot + 1);
    return tree_won_[slot];
  }
  std::uint64_t tree_won(std::uint32_t slot) const { return slot < tree_won_.size() ? tree_won_[slot] : 0; }
  bool tree_push(std::uint32_t slot) const {
    const std::uint8_t t = slot < tree.size() ? tree[slot] : 0;
    return (t & kTreeLazy) == 0;
  }
  bool have_work() const { return !have_queue.empty() || !prune_queue.empty() || !graft_queue.empty(); }
  bool have_due(std::uint64_t now) const {
    return (have_work() && have_flush_at <= now) || (!lazy_queue.empty() && lazy_queue.front().due <= now);
  }
  // catch-up session
  bool catching_up = false;
  std::uint64_t catch_up_deltas = 0, catch_up_bytes = 0;

  Known& k(std::uint32_t slot) {
    if (known.size() <= slot) known.resize(slot + 1);
    return known[slot];
  }
};

struct InflightApply {
  std::uint32_t slot = kNoSlot;
  std::uint64_t epoch = 0;
  std::uint64_t first = 0, last = 0;
  std::size_t bytes = 0;
  std::optional<NodeId> from;
  std::vector<v1::SignedDelta> push_copy;  // kept for eager push when small
};

struct BufferedPush {
  VerifiedDelta delta;
  std::size_t bytes = 0;
  std::uint64_t expires = 0;
  NodeId from;
};

struct SyncEngine::Impl {
  Impl(SyncConfig c, const SyncStoreView& v, const DeltaVerifier& ver)
      : cfg(std::move(c)), view(v), verifier(ver) {}

  SyncConfig cfg;
  const SyncStoreView& view;
  const DeltaVerifier& verifier;
  std::uint64_t now = 0;
  std::uint64_t rng;

  std::vector<OriginState> origins;  // by slot
  std::unordered_map<NodeId, std::uint32_t, NodeIdHash> slot_of;
  std::vector<std::uint32_t> roster;  // slots of trusted origins, sorted by id
  std::uint32_t roster_tag = 0;
  std::optional<Hash256> vv_hash;     // cache

  std::map<NodeId, Peer> peers;
  // The same peers by hash (a lookup per message; map nodes do not move).
  std::unordered_map<NodeId, Peer*, NodeIdHash> peer_of;
  Peer* find_peer(const NodeId& id) const {
    auto it = peer_of.find(id);
    return it == peer_of.end() ? nullptr : it->second;
  }
  std::map<std::uint64_t, Fetch> fetches;
  // Fetches whose credit cannot carry the rest of their range (top_up has
  // work for them); the others are left alone after an input.
  std::set<std::uint64_t> needy;
  // Timers: request deadlines by fetch id; per peer the earlier of its next
  // probe and its announcement flush; refetch backoffs by origin slot (valid
  // while the slot is wanted and its retry_at is that time).
  DueTimes<std::uint64_t> fetch_due;
  DueTimes<NodeId> peer_due;
  std::set<std::pair<std::uint64_t, std::uint32_t>> retry_due;
  DueTimes<std::uint32_t> graft_due;  // tree mode: origins announced while missing, by slot
  std::uint64_t next_request_id = 1;
  std::set<std::uint32_t> wanted;  // slots some peer holds beyond pending
  // Something schedule() depends on changed (wanted, fetches, budget, peers);
  // it is called after every input and does nothing otherwise.
  bool sched_dirty = true;
  std::map<std::uint64_t, InflightApply> applies;
  std::map<NodeId, std::size_t> applies_from;  // in-flight applies per relaying peer
  std::uint64_t next_apply_id = 1;
  std::map<std::pair<std::uint32_t, std::uint64_t>, BufferedPush> push_buffer;
  // Expiry order of push_buffer (insertion order, as expiry = now + ttl);
  // entries may be stale (already drained) and are skipped lazily.
  std::deque<std::pair<std::uint64_t, std::pair<std::uint32_t, std::uint64_t>>> push_expiry;

  std::size_t inflight_bytes = 0;
  std::size_t buffered = 0;  // pushes + reorder + uncovered
  std::size_t credit_outstanding = 0;
  bool own_behind_reported = false;

  std::deque<Action> out;
  std::optional<std::uint64_t> armed;
  SyncStats stats;

  // ---- engine.cc
  std::uint32_t slot(const NodeId& id);
  std::uint32_t find_slot(const NodeId& id) const;
  void load_from_view();
  void refresh_head(std::uint32_t s);
  void apply_roster(std::vector<NodeId> ids);
  void send(Peer& p, v1::SyncMessage m);
  void emit(Event e);
  void misbehaved(NodeId peer, Errc errc, std::string detail);  // by value: it may name the Peer it drops
  void drop_peer(const NodeId& peer);
  void dispatch(Peer& p, const v1::SyncMessage& m);
  void rearm();
  std::uint64_t jitter(std::uint64_t span);
  std::size_t used() const { return inflight_bytes + buffered + credit_outstanding; }
  std::size_t free_budget() const {
    return used() >= cfg.max_buffer_bytes ? 0 : cfg.max_buffer_bytes - used();
  }
  std::optional<std::uint64_t> deadline() const;
  // Credit one peer may hold at once: a share of the budget (a half with two
  // peers or fewer, a quarter with four or more), so that peers which claim
  // much and answer nothing never take all of it, and a sixteenth while the
  // peer has broken a claim in the last claim_penalty_ms.
  std::size_t peer_credit_cap(const Peer& p) const {
    std::size_t share = cfg.max_buffer_bytes / std::clamp<std::size_t>(peers.size(), 2, 4);
    if (p.broke_claim_until > now) share = cfg.max_buffer_bytes / 16;
    return std::max<std::size_t>(share, cfg.limits.max_delta_bytes);
  }
  std::size_t peer_credit(const Peer& p) const { return p.credit; }
  // Whether `p` can take one more request now (its request slots and its
  // share of the credit).
  bool can_ask(const Peer& p) const {
    return p.fetches.size() < cfg.max_fetches_per_peer &&
           peer_credit(p) + cfg.limits.max_delta_bytes <= peer_credit_cap(p);
  }
  void add_credit(Fetch& f, std::size_t bytes);
  void set_deadline(Fetch& f, std::uint64_t when) {
    f.deadline = when;
    fetch_due.set(f.id, when);
  }
  // Re-files the peer's timer after next_probe_at, have_flush_at or
  // have_queue changed.
  void peer_timer(const Peer& p) {
    std::uint64_t t = p.next_probe_at;
    if (p.have_work()) t = std::min(t, p.have_flush_at);
    if (!p.lazy_queue.empty()) t = std::min(t, p.lazy_queue.front().due);
    peer_due.set(p.id, t);
  }
  void take_credit(Fetch& f, std::size_t bytes);

  // ---- summary.cc
  Hash256 compute_vv_hash();
  std::uint64_t eff_seq(std::uint32_t s) const;
  DeltaId eff_id(std::uint32_t s);
  void send_summary(Peer& p, v1::SummaryMode mode, const std::vector<std::uint32_t>* only);
  void on_summary(Peer& p, const v1::SyncSummary& m);
  std::uint32_t resolve(const Peer& p, std::uint32_t tag, const v1::OriginEntry& e);
  void fill_entry(const Peer& p, std::uint32_t s, bool full, v1::OriginEntry* e);
  void mark_in_sync(Peer& p);
  bool compare_entry(Peer& p, std::uint32_t s, const v1::OriginEntry& e);
  void start_probe(Peer& p, std::uint32_t s, std::uint64_t seq, std::optional<DeltaId> expect,
                   std::vector<v1::SignedDelta> cover = {});

  // ---- fetch.cc
  void consider(std::uint32_t s);
  void schedule();
  bool start_fetch(std::uint32_t s, bool allow_shunned);
  void on_batch(Peer& p, const v1::SyncBatch& b);
  void process_in_order(Fetch& f);
  void ingest(Fetch& f, v1::SyncBatch b);
  void finish_probe(Fetch& f, v1::SyncBatch b);
  void top_up(Fetch& f);  // sends credit if needed, then re-files the fetch in `needy`
  void send_credit(Fetch& f);
  bool needs_top_up(const Fetch& f) const;
  void file_top_up(const Fetch& f) {
    if (needs_top_up(f))
      needy.insert(f.id);
    else
      needy.erase(f.id);
  }
  void end_fetch(std::uint64_t id, bool timed_out);
  void claim_broken(const Fetch& f);
  bool shunned(const Peer& p, std::uint32_t s) const;
  void put_off(std::uint32_t s);
  bool blocked(std::uint32_t s);    // clears the block once it is over
  std::size_t blocked_origins = 0;  // origins with a block set (hand_out then reschedules)
  // `own_signatures`: every delta's own signature was checked (a push), so
  // it may be forwarded before its commit (forward.cc).
  void hand_out(std::uint32_t s, std::vector<VerifiedDelta> ds, std::optional<NodeId> from,
                bool own_signatures = false);
  std::size_t deps_ready(const std::vector<VerifiedDelta>& ds, std::size_t n, const NodeId& from);
  void applied(const ApplyResult& r);
  void check_catch_up_done();

  // ---- serve.cc
  void on_request(Peer& p, const v1::SyncRequest& r);
  void on_credit(Peer& p, const v1::SyncCredit& c);
  void pump(Peer& p, Serving& sv);
  void resume_serving(std::uint32_t s);

  // ---- push.cc
  void announce(std::uint32_t s, std::uint64_t first, std::uint64_t last,
                const std::vector<v1::SignedDelta>* bodies, const std::optional<NodeId>& except);
  void flush_haves(Peer& p);
  void on_push(Peer& p, const v1::SyncPush& m);
  void on_have(Peer& p, const v1::SyncHave& m);
  void on_announced(Peer& p, std::uint32_t s, std::uint64_t seq);
  void tree_prune(Peer& p, std::uint32_t s);  // a duplicate body came from p
  void tree_graft(Peer& p, std::uint32_t s);  // p announced what we lack
  void queue_have(Peer& p);
  void graft_wait_over(std::uint32_t s);
  void drain_buffer(std::uint32_t s);
  void expire_buffer();
  void on_evidence(Peer& p, const v1::SyncEvidence& m);
  void adopt_evidence(std::uint32_t s, const VerifiedDelta& a, const VerifiedDelta& b,
                      const std::optional<NodeId>& from, bool detected,
                      std::vector<v1::SignedDelta> cover_a = {}, std::vector<v1::SignedDelta> cover_b = {});
  bool proven(std::uint32_t s, const VerifiedDelta& d,
              const google::protobuf::RepeatedPtrField<v1::SignedDelta>& cover);
  std::vector<v1::SignedDelta> stored_cover(std::uint32_t s, const v1::SignedDelta& sd);
  void send_evidence(Peer& p, std::uint32_t s);
  void local_commit(std::span<const VerifiedDelta> ds);

  // ---- forward.cc
  bool may_forward_early(std::uint32_t s, const std::vector<VerifiedDelta>& ds) const;
  bool dependency_stored(const v1::DeltaRef& dep) const;
  void forward_early(std::uint32_t s, const std::vector<VerifiedDelta>& ds, const std::optional<NodeId>& from);
};

}  // namespace conect::sync
