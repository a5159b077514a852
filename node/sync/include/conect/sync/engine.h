// The sync protocol as a pure, deterministic state machine (DESIGN §7).
//
// SyncEngine owns no socket, thread, clock or random source. The node (or the
// simulator) feeds it inputs, each with the current time in milliseconds:
//   on_peer_connected / on_peer_disconnected, on_message (a decoded frame),
//   on_local_commit (deltas authored here), on_batch_applied (the outcome of
//   an ApplyBatch it asked for), on_timer, set_roster;
// and then drains its outputs with poll():
//   Send{peer, message}, ApplyBatch{origin, verified deltas, from peer},
//   StoreEvidence{two deltas}, Disconnect{peer, reason}, ArmTimer{when},
//   Event{...} (logs and metrics).
// Identical inputs give identical outputs; the only randomness (summary
// jitter) comes from SyncConfig::seed.
//
// Thread-safety: none. Drive one engine from one strand.
//
// Rules the engine keeps, and why:
//   - Authenticity before storage. Catch-up batches are checked as ranges
//     (links + the last signature, check_range), live pushes one by one; the
//     node receives only VerifiedDeltas and applies each ApplyBatch in one
//     write transaction that re-checks links and dependencies.
//   - A gap is never applied. A delta is handed to the node only when it
//     links to the origin's pending head (the stored head plus batches already
//     handed out) and every dependency it names is pending or stored.
//   - Bounded memory whatever peers do: bytes handed out but not yet applied
//     + bytes buffered (out-of-order pushes and batches) + credit granted but
//     not yet received never exceed SyncConfig::max_buffer_bytes. A request
//     grants credit in count and bytes; a peer that sends beyond it, answers a
//     request never made, or breaks a limit is disconnected.
//   - Nothing relies on a message arriving: requests time out, and a summary
//     round every summary_interval_ms finds whatever was lost.
//   - Catch-up resumes from the stored head: requests always start at the
//     pending head + 1, so a restart or a dropped link never starts over.
//   - Equivocation: two authentic deltas of one origin at one seq become
//     evidence (StoreEvidence), are forwarded to every peer, and freeze the
//     origin at the fork: nothing from the fork seq on is fetched or applied.
//   - Roster: deltas of origins not on the roster are skipped and counted,
//     never fatal (a relay with another roster is not misbehaving).
//
// Per-peer state machine (the fetch and serve sides run inside it):
//
//          on_peer_connected(dialler: send PROBE at once;
//          |                 acceptor: wait for the peer's PROBE)
//          v
//     +-----------+  hash equal (ECHO / PROBE matches)   +---------+
//     | Comparing |-------------------------------------->| InSync  |
//     +-----------+                                       +---------+
//       |  ^    entries show the peer ahead on an origin     |    ^
//       |  |    (or a Have announces more)                   |    | local commit:
//       |  |                                                 |    | Push / Have
//       v  | every fetch from this peer done                  |    | (no state change)
//     +------------+<--------------------------------------+    |
//     | CatchingUp |  hash differs at a summary round            |
//     +------------+----------------------------------------------+
//          |
//          | any state: bad signature, broken chain, unsolicited batch,
//          | batch beyond credit, oversized or malformed message
//          v
//     Disconnect{peer, reason}  (state dropped; its requests re-assigned)
//
//   Comparing: PROBE(hash) -> ECHO(hash) when equal, else ENTRIES(all) ->
//   DIFF(only what differs). Fork suspicion at any point (same seq, other
//   head; or a batch that does not link) sends a one-delta probe request.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "sync.pb.h"
#include "conect/crdt/delta.h"
#include "conect/crdt/error.h"
#include "conect/crdt/types.h"
#include "conect/sync/messages.h"
#include "conect/sync/store_view.h"
#include "conect/sync/verifier.h"

namespace conect::sync {

enum class PeerRole : std::uint8_t { dialler, acceptor };
enum class PushMode : std::uint8_t {
  eager,  // push a new delta's body to peers that hold its predecessor
  lazy,   // announce (SyncHave); peers fetch the body once
  // Plumtree per origin: bodies along a tree, announcements to the other
  // peers. Every link starts eager; a peer that pushes us a delta we already
  // hold is told to stop (SyncHave.prune) for that origin, one whose
  // announcement shows a delta we lack is asked to push again
  // (SyncHave.graft). Each origin has its own tree (a delta's first
  // arrivals): latency near a flood's, where one shared tree for all origins
  // would route most deltas through long paths.
  tree,
};
enum class PeerState : std::uint8_t { unknown, comparing, in_sync, catching_up };
const char* peer_state_name(PeerState s);

struct SyncConfig {
  FederationId federation;
  NodeId self;
  std::uint64_t seed = 0;  // summary jitter only

  PushMode push_mode = PushMode::eager;
  // A commit of more deltas than this at once is announced, not pushed.
  std::size_t eager_push_max = 4;
  // Eager mode: stop pushing to a peer that pushes us deltas we already
  // have, resume when it announces one we lack (Plumtree's prune/graft,
  // inferred). Cuts duplicate bodies at some cost in latency.
  bool prune_redundant_pushes = true;
  // Announcements to one peer are coalesced for this long (0: at once).
  std::uint64_t have_delay_ms = 0;
  // Announcements by roster position go out packed (SyncHave.packed: 2-4
  // bytes each instead of 7-10) to peers whose summaries say they read them.
  // Off: this node neither says so nor sends nor reads the packed form, as
  // a node that predates it (to test mixed federations and measure it).
  bool packed_haves = true;
  // Eager mode: a pushed delta of another origin whose own signature holds
  // is pushed on to the peers that hold its predecessor as soon as it is
  // handed out, before this node's commit (DESIGN §6: it is durable at its
  // origin, and every receiver verifies it against its origin). Only what
  // the store's own checks would pass is forwarded early (forward.cc); a
  // delta authored here is pushed only after its commit (on_local_commit).
  bool forward_before_commit = false;
  // Push mode tree: announcements to lazy links wait this long, so that the
  // tree's copy arrives first where the tree works (Plumtree's IHAVE
  // timer, on the sender's side; prunes and grafts go out at once).
  std::uint64_t tree_have_delay_ms = 50;
  // Push mode tree: a delta a lazy link announces while we lack it is given
  // this long to arrive down the tree before we graft that link and fetch
  // it (Plumtree's timer on the receiver's side: pushes down a tree overtake
  // each other and take other paths than the announcement).
  std::uint64_t tree_graft_wait_ms = 100;
  // Push mode tree: a new delta pushed on a link we had pruned for its
  // origin grafts that link back (it beat the other copies: push.cc
  // on_push). Off only to measure what it does.
  bool tree_regraft_on_first = true;
  // Push mode tree: a duplicate from a link that pushed us a new delta of the
  // same origin less than this long ago does not prune it (0: always
  // prune): where two paths are about as fast, both stay on the tree.
  std::uint64_t tree_prune_hold_ms = 200;

  std::uint64_t summary_interval_ms = 30'000;
  std::uint64_t summary_jitter_ms = 3'000;
  // A request that receives nothing for this long is abandoned.
  std::uint64_t request_timeout_ms = 20'000;
  // An out-of-order push waits this long for its predecessor.
  std::uint64_t buffer_ttl_ms = 60'000;

  // Bytes handed out (ApplyBatch not yet applied) + buffered + credit granted
  // but not received. Must be at least 2 * limits.max_delta_bytes.
  std::size_t max_buffer_bytes = 32u << 20;
  std::size_t max_buffered_pushes = 256;
  // Credit window of one request.
  std::size_t window_count = 512;
  std::size_t window_bytes = 4u << 20;
  std::size_t max_fetches = 64;
  std::size_t max_fetches_per_peer = 16;
  // Requests a responder keeps open per peer (oldest evicted).
  std::size_t max_serving_per_peer = 8;
  // Pushes that fail their own signature before the peer is disconnected.
  std::size_t max_bad_pushes = 16;
  // Out-of-order batches held per request (bytes are bounded by credit).
  std::size_t max_reorder_batches = 64;
  // A peer that did not deliver what it claimed of an origin is asked for
  // it again only when no other peer claims more, for this long.
  std::uint64_t claim_penalty_ms = 300'000;
  // After the store refuses a batch, its origin waits this long before it is
  // fetched again, doubling per refusal in a row up to the max.
  std::uint64_t refetch_backoff_ms = 1'000;
  std::uint64_t refetch_backoff_max_ms = 300'000;

  Limits limits;
};

// ------------------------------------------------------------------ actions
struct SendAction {
  NodeId peer;
  v1::SyncMessage message;
};

// Apply these deltas (one origin, contiguous, authentic, linking to the
// pending head) in ONE write transaction, in the order the actions came, and
// report with on_batch_applied(apply_id, ...).
struct ApplyBatchAction {
  std::uint64_t apply_id = 0;
  NodeId origin;
  std::vector<VerifiedDelta> deltas;
  std::optional<NodeId> from_peer;
  std::size_t bytes = 0;
};

// Store equivocation evidence (Store::add_equivocation); both are authentic.
struct StoreEvidenceAction {
  NodeId origin;
  Seq seq;
  VerifiedDelta first;
  VerifiedDelta second;
};

struct DisconnectAction {
  NodeId peer;
  Error reason;
};

// The engine wants on_timer() called at `when` (replaces earlier requests).
struct ArmTimerAction {
  std::uint64_t when = 0;
};

enum class EventKind : std::uint8_t {
  catch_up_started,       // peer: origins behind, count = deltas behind (as known)
  catch_up_finished,      // peer: count = deltas, bytes received from it
  equivocation_detected,  // origin, seq: we found the two deltas
  evidence_received,      // origin, seq: a peer forwarded valid evidence
  peer_misbehaved,        // peer, errc, detail (followed by a Disconnect)
  untrusted_skipped,      // origin not on the roster, count
  push_dropped,           // a push that could not be used now (budget, deps, bad signature)
  request_timed_out,      // peer, origin
  apply_failed,           // origin, errc, detail
  store_error,            // a read of the store view failed
  own_chain_behind,       // a peer holds more of our own chain than we do
  own_chain_caught_up,    // we hold our own chain up to what every peer showed
};
const char* event_name(EventKind k);

struct Event {
  EventKind kind{};
  std::optional<NodeId> peer{};
  std::optional<NodeId> origin{};
  std::uint64_t seq = 0;
  std::uint64_t count = 0;
  std::uint64_t bytes = 0;
  Errc errc = Errc::ok;
  std::string detail{};
};

struct EventAction {
  Event event;
};

using Action = std::variant<SendAction, ApplyBatchAction, StoreEvidenceAction, DisconnectAction,
                            ArmTimerAction, EventAction>;

// What became of an ApplyBatch.
struct ApplyResult {
  std::uint64_t apply_id = 0;
  // Not ok: the transaction failed as a whole (storage_full, io_error, ...),
  // or part of the batch was refused (broken_chain, sequence_gap, missing
  // dependency). The engine re-reads the head either way.
  Status status;
};

// Counters for /metrics; they only grow.
struct SyncStats {
  std::uint64_t messages_in = 0, messages_out = 0;
  std::uint64_t bytes_out = 0;  // encoded size of messages sent
  std::uint64_t summaries_in_sync = 0, summaries_differ = 0;
  std::uint64_t requests_sent = 0, requests_served = 0, credits_sent = 0;
  std::uint64_t requests_timed_out = 0;
  std::uint64_t batches_received = 0, batches_stale = 0;
  std::uint64_t deltas_received = 0;  // in batches and pushes, duplicates included
  std::uint64_t deltas_applied = 0;   // handed out and reported applied
  std::uint64_t pushes_sent = 0, pushes_received = 0, pushes_duplicate = 0;
  std::uint64_t pushes_buffered = 0, pushes_dropped = 0, pushes_bad_signature = 0;
  // Pushes of verified deltas of other origins sent before our own commit
  // (SyncConfig::forward_before_commit; also counted in pushes_sent).
  std::uint64_t pushes_forwarded_early = 0;
  std::uint64_t haves_sent = 0;
  std::uint64_t announced = 0;  // origins announced in them (entries and packed pairs)
  std::uint64_t prunes = 0, grafts = 0;  // eager links turned lazy / eager again
  std::uint64_t untrusted_skipped = 0;
  std::uint64_t uncovered_dropped = 0;  // deltas no signature vouched for
  // Received deltas whose wrapper held more than body + signature (stripped
  // before anything is stored or relayed).
  std::uint64_t padded_wrappers = 0;
  // Zero-delta batches that did not end the stream where it stood, and
  // batches beyond max_reorder_batches: dropped, never buffered.
  std::uint64_t batches_refused = 0;
  // Requests whose peer delivered less than it claimed (claim lowered).
  std::uint64_t claims_broken = 0;
  // Refetches of an origin put off after the store refused a batch of it.
  std::uint64_t refetch_backoffs = 0;
  std::uint64_t dependency_waits = 0;
  std::uint64_t equivocations_detected = 0, evidence_received = 0;
  // Evidence a peer sent with a delta neither its own signature, a cover nor
  // our log proves: set aside, the sender kept (it may be honest).
  std::uint64_t evidence_unproven = 0;
  std::uint64_t misbehaving_peers = 0;
  std::uint64_t apply_failures = 0;
  std::uint64_t store_errors = 0;
};

// What the engine knows of catch-up right now (introspection; see
// SyncEngine::progress). Claims are what peers' summaries and announcements
// showed, capped at an origin's fork: hints, not promises, so `behind` can
// shrink without a delta arriving (a peer disconnects) or grow (news).
struct PeerProgress {
  NodeId peer;
  PeerState state = PeerState::unknown;
  std::uint64_t behind = 0;  // deltas this peer showed that we do not hold
  // A summary or announcement of the peer has arrived, so `behind` reflects
  // what it holds (before that, 0 says nothing). A peer behind us stays
  // Comparing until it caught up, yet we lack nothing it has.
  bool heard = false;
};
struct SyncProgress {
  std::uint64_t held = 0;    // sum over trusted origins of the committed head seq
  std::uint64_t behind = 0;  // sum over trusted origins of (best claim - held), where positive
  std::size_t origins_behind = 0;
  bool catching_up = false;  // some peer is in CatchingUp
  std::vector<PeerProgress> peers;
};

class SyncEngine {
 public:
  // `view` and `verifier` must outlive the engine. `roster` is the set of
  // trusted origins (self is always trusted).
  SyncEngine(SyncConfig config, const SyncStoreView& view, std::vector<NodeId> roster,
             std::uint64_t now_ms, const DeltaVerifier& verifier = default_verifier());
  ~SyncEngine();
  SyncEngine(const SyncEngine&) = delete;
  SyncEngine& operator=(const SyncEngine&) = delete;

  // ---------------------------------------------------------------- inputs
  void set_roster(std::vector<NodeId> roster, std::uint64_t now_ms);
  void on_peer_connected(const NodeId& peer, PeerRole role, std::uint64_t now_ms);
  void on_peer_disconnected(const NodeId& peer, std::uint64_t now_ms);
  // A frame as received: size-checked and decoded here.
  void on_message_bytes(const NodeId& peer, std::string_view bytes, std::uint64_t now_ms);
  // An already decoded message (its structure is still checked).
  void on_message(const NodeId& peer, const v1::SyncMessage& message, std::uint64_t now_ms);
  // Deltas committed outside an ApplyBatch (authored here, imported), in
  // commit order. Pushed or announced to every peer that lacks them.
  void on_local_commit(std::span<const VerifiedDelta> deltas, std::uint64_t now_ms);
  void on_batch_applied(const ApplyResult& result, std::uint64_t now_ms);
  void on_timer(std::uint64_t now_ms);

  // --------------------------------------------------------------- outputs
  std::optional<Action> poll();
  // Earliest time on_timer() has work, if any.
  std::optional<std::uint64_t> next_deadline() const;

  // --------------------------------------------------------- introspection
  const SyncStats& stats() const;
  // Bytes counted against max_buffer_bytes right now.
  std::size_t buffered_bytes() const;
  std::size_t buffered_pushes() const;
  // Out-of-order batches held over every request (bounded per request).
  std::size_t reordered_batches() const;
  // Credit granted to one peer and not yet used.
  std::size_t peer_credit(const NodeId& peer) const;
  PeerState peer_state(const NodeId& peer) const;
  std::vector<NodeId> peers() const;
  // True once some peer's summary has been compared in full (it is in sync)
  // and no peer showed more of our own chain than we hold (DESIGN §10: a
  // restored node must not author until this is true).
  bool own_chain_caught_up() const;
  // Claimed vs held sequence numbers, summed over trusted origins, overall
  // and per connected peer. O(origins x peers): sample it, do not call it
  // per message.
  SyncProgress progress() const;
  // The hash our summaries carry (tests compare it across nodes).
  Hash256 version_vector_hash();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace conect::sync
