#include "sync_driver.h"

#include "conect/node/log.h"

namespace conect::node {

namespace {

// The engine's counters (SyncStats) as conect_sync_<name>_total.
struct StatField {
  std::uint64_t sync::SyncStats::*field;
  const char* name;
  const char* help;
};
constexpr StatField kStats[] = {
    {&sync::SyncStats::messages_in, "conect_sync_messages_received_total", "Sync messages received"},
    {&sync::SyncStats::messages_out, "conect_sync_messages_sent_total", "Sync messages sent"},
    {&sync::SyncStats::bytes_out, "conect_sync_message_bytes_sent_total", "Encoded bytes of sync messages sent"},
    {&sync::SyncStats::summaries_in_sync, "conect_sync_summaries_in_sync_total",
     "Summary rounds that found the peer in sync"},
    {&sync::SyncStats::summaries_differ, "conect_sync_summaries_differ_total",
     "Summary rounds that found a difference"},
    {&sync::SyncStats::requests_sent, "conect_sync_requests_sent_total", "Catch-up requests sent"},
    {&sync::SyncStats::requests_served, "conect_sync_requests_served_total", "Catch-up requests answered"},
    {&sync::SyncStats::requests_timed_out, "conect_sync_requests_timed_out_total",
     "Catch-up requests abandoned for silence"},
    {&sync::SyncStats::batches_received, "conect_sync_batches_received_total", "Catch-up batches received"},
    {&sync::SyncStats::deltas_received, "conect_sync_deltas_received_total", "Deltas received in batches and pushes"},
    {&sync::SyncStats::deltas_applied, "conect_sync_deltas_applied_total",
     "Deltas the engine handed to the store and saw applied"},
    {&sync::SyncStats::pushes_sent, "conect_sync_pushes_sent_total", "Live pushes sent (delta bodies)"},
    {&sync::SyncStats::haves_sent, "conect_sync_haves_sent_total", "Announcements (SyncHave) sent"},
    {&sync::SyncStats::prunes, "conect_sync_prunes_total",
     "Links that stopped carrying pushes (of one origin, in push mode tree) after a duplicate"},
    {&sync::SyncStats::grafts, "conect_sync_grafts_total",
     "Links that carry pushes again after announcing a delta this node lacked"},
    {&sync::SyncStats::pushes_received, "conect_sync_pushes_received_total", "Live pushes received"},
    {&sync::SyncStats::pushes_dropped, "conect_sync_pushes_dropped_total", "Live pushes that could not be used"},
    {&sync::SyncStats::pushes_bad_signature, "conect_sync_pushes_bad_signature_total",
     "Live pushes whose signature failed"},
    {&sync::SyncStats::pushes_forwarded_early, "conect_sync_pushes_forwarded_before_commit_total",
     "Verified deltas of other origins pushed on before this node's own commit"},
    {&sync::SyncStats::untrusted_skipped, "conect_sync_untrusted_skipped_total",
     "Entries or deltas of origins not on the roster"},
    {&sync::SyncStats::uncovered_dropped, "conect_sync_uncovered_dropped_total", "Deltas no signature vouched for"},
    {&sync::SyncStats::padded_wrappers, "conect_sync_padded_wrappers_total",
     "Received deltas whose wrapper held more than body and signature (stripped)"},
    {&sync::SyncStats::batches_refused, "conect_sync_batches_refused_total",
     "Empty batches that did not end the stream, and batches beyond the reorder bound"},
    {&sync::SyncStats::claims_broken, "conect_sync_claims_broken_total",
     "Requests whose peer delivered less than it claimed to hold"},
    {&sync::SyncStats::refetch_backoffs, "conect_sync_refetch_backoffs_total",
     "Refetches put off after the store refused a batch or a dependency could not come"},
    {&sync::SyncStats::evidence_unproven, "conect_sync_evidence_unproven_total",
     "Equivocation evidence set aside: a delta neither its signature, a cover nor our log proves"},
    {&sync::SyncStats::misbehaving_peers, "conect_sync_misbehaving_peers_total", "Peers disconnected by the engine"},
    {&sync::SyncStats::apply_failures, "conect_sync_apply_failures_total", "Batches the store refused"},
    {&sync::SyncStats::store_errors, "conect_sync_store_errors_total", "Failed reads of the store"},
};

}  // namespace

SyncDriver::SyncDriver(DaemonCore& core, PeerBoard& board, Connections& connections, ApplyWriter& writer)
    : core_(core), board_(board), connections_(connections), writer_(writer), view_(core.store), timer_(core.strand) {}

void SyncDriver::start(const std::set<NodeId>& roster, std::uint64_t seed) {
  const auto& node = core_.node;
  sync::SyncConfig cfg;
  cfg.federation = node.federation;
  cfg.self = node.key.public_key();
  cfg.seed = seed;
  cfg.summary_interval_ms = node.config.summary_interval_ms;
  cfg.summary_jitter_ms = node.config.summary_interval_ms / 10;
  cfg.forward_before_commit = node.config.forward_before_commit != 0;
  // [sync] push (the parser admits only these four): pruned is the engine's
  // own default, eager push with prune_redundant_pushes.
  const std::string& push = node.config.sync_push;
  cfg.push_mode = push == "lazy" ? sync::PushMode::lazy : push == "tree" ? sync::PushMode::tree : sync::PushMode::eager;
  cfg.prune_redundant_pushes = push != "eager";
  // Keep every sync message within one secure frame.
  cfg.limits.max_message_bytes =
      std::min<std::size_t>(cfg.limits.max_message_bytes, node.config.max_frame_bytes - net::kStreamFrameOverhead);
  cfg.limits.max_batch_bytes = std::min<std::size_t>(cfg.limits.max_batch_bytes, cfg.limits.max_message_bytes / 2);
  cfg.window_bytes = std::min<std::size_t>(cfg.window_bytes, cfg.limits.max_message_bytes * 4);
  // Deltas decoded and waiting for the writer take ~3x their wire size in
  // memory; 8 MiB of them keeps the writer busy and the heap small.
  cfg.max_buffer_bytes = std::max<std::size_t>(8u << 20, 2 * cfg.limits.max_delta_bytes);
  engine_ = std::make_unique<sync::SyncEngine>(cfg, view_, std::vector<NodeId>(roster.begin(), roster.end()),
                                               core_.now(), verifier_);
  for (const auto& f : kStats) exported_.push_back({&core_.metrics.counter(f.name, f.help), 0});
  // Pushes refused for their signature join the store's refusals
  // (apply_writer.cc), so one family counts every delta refused, by reason.
  bad_signature_refusals_ = &core_.metrics.counter("conect_deltas_rejected_total", "Deltas refused, by reason",
                                                   {{"reason", "bad_signature"}});
}

std::optional<sync::SyncProgress> SyncDriver::progress() const {
  if (!engine_) return std::nullopt;
  return engine_->progress();
}

// Only the growth since the last export is added: a few atomic adds a drain.
void SyncDriver::export_stats() {
  const sync::SyncStats& stats = engine_->stats();
  for (std::size_t i = 0; i < exported_.size(); ++i) {
    const std::uint64_t now = stats.*kStats[i].field;
    exported_[i].first->inc(now - exported_[i].second);
    exported_[i].second = now;
  }
  bad_signature_refusals_->inc(stats.pushes_bad_signature - bad_signature_exported_);
  bad_signature_exported_ = stats.pushes_bad_signature;
}

void SyncDriver::set_roster(const std::set<NodeId>& roster) {
  if (engine_) engine_->set_roster(std::vector<NodeId>(roster.begin(), roster.end()), core_.now());
}

void SyncDriver::stop() { timer_.cancel(); }

// ------------------------------------------------------------------- inputs

void SyncDriver::on_local_commit(const std::vector<VerifiedDelta>& deltas) {
  if (core_.stopping || !engine_) return;
  engine_->on_local_commit(deltas, core_.now());
  drain();
}

void SyncDriver::on_peer_up(const NodeId& peer, bool dialled) {
  engine_->on_peer_connected(peer, dialled ? sync::PeerRole::dialler : sync::PeerRole::acceptor, core_.now());
  drain();
}

void SyncDriver::on_peer_message(const NodeId& peer, std::string_view plaintext) {
  engine_->on_message_bytes(peer, plaintext, core_.now());
  drain();
}

void SyncDriver::on_peer_down(const NodeId& peer) {
  engine_->on_peer_disconnected(peer, core_.now());
  drain();
}

// ------------------------------------------------------------------ actions

void SyncDriver::drain() {
  if (!engine_) return;
  while (auto action = engine_->poll()) std::visit([this](auto& a) { handle(a); }, *action);
  if (auto when = engine_->next_deadline()) arm_timer(*when);
  // Caught up also when a partner shows no more than the store holds (a
  // restore from a current backup: nothing to fetch, no event).
  const bool caught_up = engine_->own_chain_caught_up(), was = board_.own_chain_caught_up();
  board_.set_own_chain_caught_up(caught_up);
  if (caught_up && !was && on_own_chain_caught_up_) on_own_chain_caught_up_();
  export_stats();
}

void SyncDriver::arm_timer(std::uint64_t when) {
  timer_.expires_at(core_.at(when));
  timer_.async_wait([this, keep = core_.alive()](boost::system::error_code ec) {
    if (ec || core_.stopping) return;
    engine_->on_timer(core_.now());
    drain();
  });
}

void SyncDriver::handle(sync::SendAction& a) { connections_.send(a.peer, a.message.SerializeAsString()); }

void SyncDriver::handle(sync::ApplyBatchAction& a) {
  writer_.apply(std::move(a), [this](const sync::ApplyResult& result) {
    engine_->on_batch_applied(result, core_.now());
    drain();
    if (on_applied_) on_applied_();
  });
}

void SyncDriver::handle(sync::StoreEvidenceAction& a) { writer_.store_evidence(std::move(a)); }

void SyncDriver::handle(sync::DisconnectAction& a) {
  if (!connections_.linked(a.peer)) return;
  core_.count_refusal("sync", a.reason);
  log::warn("peer_misbehaved", {{"peer", short_id(a.peer)}, {"reason", a.reason.message()}});
  connections_.disconnect(a.peer, a.reason.message());
}

void SyncDriver::handle(sync::ArmTimerAction& a) { arm_timer(a.when); }

void SyncDriver::handle(sync::EventAction& a) {
  const sync::Event& e = a.event;
  if (e.kind == sync::EventKind::own_chain_behind) {
    // Fence before anything else can read a stale "caught up" (author_gate.h).
    board_.set_own_chain_caught_up(false);
    if (on_own_chain_behind_) on_own_chain_behind_();
  }
  std::string name = sync::event_name(e.kind);
  core_.count("conect_sync_events_total", "Sync engine events, by kind", {{"kind", name}});
  log::Level level = log::Level::debug;
  switch (e.kind) {
    case sync::EventKind::catch_up_started:
    case sync::EventKind::catch_up_finished:
    case sync::EventKind::own_chain_caught_up:
      level = log::Level::info;
      break;
    case sync::EventKind::equivocation_detected:
    case sync::EventKind::evidence_received:
    case sync::EventKind::peer_misbehaved:
    case sync::EventKind::apply_failed:
    case sync::EventKind::store_error:
    case sync::EventKind::own_chain_behind:
      level = log::Level::warn;
      break;
    default:
      break;
  }
  log::event(level, name,
             {{"peer", e.peer ? short_id(*e.peer) : ""},
              {"origin", e.origin ? short_id(*e.origin) : ""},
              {"seq", std::to_string(e.seq)},
              {"count", std::to_string(e.count)},
              {"bytes", std::to_string(e.bytes)},
              {"detail", e.errc == Errc::ok ? e.detail : std::string(errc_name(e.errc)) + ": " + e.detail}});
}

}  // namespace conect::node
