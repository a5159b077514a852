// The peer manager puts the parts together and owns their one lifetime:
//   Connections  links, dialling and backoff, admission, handshakes, tie-breaks
//   SyncDriver   the sync engine and its actions, events, metrics
//   ApplyWriter  the writer thread, evidence, memory trimming
//   PeerBoard    what the API shows about peers
//   AuthorGate   the authoring policy: auditors, restore and rollback fences
// and polls the roster and peer list, which other processes change.
#include "conect/node/peer_manager.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <mutex>
#include <random>
#include <set>
#include <tuple>

#include "apply_writer.h"
#include "author_gate.h"
#include "conect/crdt/membership.h"
#include "conect/node/log.h"
#include "conect/node/wall_clock.h"
#include "connections.h"
#include "courier.h"
#include "daemon_core.h"
#include "join_desk.h"
#include "peer_board.h"
#include "sync_driver.h"
#include "sync_monitor.h"

namespace conect::node {

namespace {

// Routes what peers send: personal-data delivery and carry (SyncMessage
// fields 8-11, docs/privacy.md) to the courier, everything else to the sync
// engine.
// A SyncMessage is one oneof field, so its first byte is that field's tag.
class PeerRouter final : public PeerEvents {
 public:
  PeerRouter(SyncDriver& sync, Courier& courier) : sync_(sync), courier_(courier) {}
  void on_peer_up(const NodeId& peer, bool dialled) override {
    sync_.on_peer_up(peer, dialled);
    courier_.on_peer_up(peer);
  }
  void on_peer_message(const NodeId& peer, std::string_view plaintext) override {
    constexpr char kDeliverTag = (v1::SyncMessage::kPersonalDeliverFieldNumber << 3) | 2;
    constexpr char kCarryAnswerTag = (v1::SyncMessage::kPersonalCarryAnswerFieldNumber << 3) | 2;
    if (!plaintext.empty() && plaintext[0] >= kDeliverTag && plaintext[0] <= kCarryAnswerTag) {
      v1::SyncMessage m;
      if (m.ParseFromArray(plaintext.data(), static_cast<int>(plaintext.size())) &&
          courier::Courier::is_courier_message(m))
        return courier_.on_message(peer, m);
    }
    sync_.on_peer_message(peer, plaintext);
  }
  void on_peer_down(const NodeId& peer) override {
    courier_.on_peer_down(peer);
    sync_.on_peer_down(peer);
  }

 private:
  SyncDriver& sync_;
  Courier& courier_;
};

}  // namespace

struct PeerManager::Impl : std::enable_shared_from_this<PeerManager::Impl> {
  Impl(asio::io_context& io, const NodeFiles& node, storage::Store& store, api::Metrics& metrics,
       net::NoiseStaticKey noise, const SealKey& seal_key)
      : core(io, node, store, metrics),
        seal(seal_key),
        rng(static_cast<std::uint64_t>(wall_ms())),
        connections(core, board, std::move(noise), rng()),
        writer(core),
        sync(core, board, connections, writer),
        courier(core, connections, seal),
        router(sync, courier),
        gate(core, board),
        monitor(core, board, sync),
        desk(core, gate),
        roster_timer(core.strand) {
    connections.set_events(&router);
    // Strangers complete a handshake only while an invite is open.
    connections.set_join_handler([this](std::string_view request, std::string_view hh,
                                        const NodeId& joiner) { return desk.answer(request, hh, joiner); },
                                 [this] { return desk.open(); });
    desk.set_on_authored([this](const VerifiedDelta& d) {
      asio::post(core.strand, [this, keep = core.alive(), d] {
        sync.on_local_commit({d});
        if (Status st = reload_roster(); !st.ok()) log::warn("roster_unreadable", {{"detail", st.error().message()}});
      });
    });
    sync.set_on_applied([this] {
      // A batch may have carried membership operations: admit (or cut) at once.
      if (Status st = reload_roster(); !st.ok()) log::warn("roster_unreadable", {{"detail", st.error().message()}});
      courier.on_applied();
      maybe_finish_stop();
    });
    sync.set_on_own_chain_behind([this] { gate.on_own_chain_behind(); });
    sync.set_on_own_chain_caught_up([this] { gate.on_own_chain_caught_up(); });
    // A recipient's acknowledgement of personal data it holds (Operation
    // field 8): an ordinary delta of this node's log.
    courier.set_author([this](std::vector<v1::Operation> ops) -> Status {
      DeltaDraft draft;
      draft.ops = std::move(ops);
      auto d = author(std::move(draft));
      if (!d.ok()) return d.error();
      return {};
    });
  }

  DaemonCore core;
  SealKeyring seal;  // DIR/seal.key and the retired keys of DIR/seal.keyring
  bool seal_announced = false;
  PeerBoard board;
  std::mt19937_64 rng;
  Connections connections;
  ApplyWriter writer;
  SyncDriver sync;
  Courier courier;
  PeerRouter router;
  AuthorGate gate;
  SyncMonitor monitor;
  JoinDesk desk;
  api::ProgressBoard* progress = nullptr;
  asio::steady_timer roster_timer;
  std::set<NodeId> roster;  // origins whose deltas are taken
  std::set<NodeId> linked;  // the peers talked to: the roster less the members cut off
  std::set<NodeId> receive_only;  // pending members (Connections::set_receive_only)
  // Membership operations the roster counts nowhere, reported once each.
  std::set<std::tuple<NodeId, Seq, std::uint32_t>> reported_rejected;
  std::mutex rotate_mu;
  std::function<void()> on_stopped;

  Status start() {
    core.anchor = shared_from_this();
    // The retired seal keys first: a rotation settled below retires one more.
    auto retired = SealKeyring::load_retired(core.node.dir.seal_keyring());
    if (!retired.ok()) return retired.error();
    seal.restore_retired(std::move(*retired));
    discard_retired_seal_keys();
    settle_rotation();
    settle_seal_rotation();
    settle_noise_rotation();
    if (Status st = reload_roster(); !st.ok()) return st;
    sync.start(roster, rng());
    // Before the loop runs, so before any API write: a node that has not yet
    // announced its seal key does so in its next delta, whatever its
    // operators do first (tests and operators can count on it).
    announce_seal_key();
    asio::post(core.strand, [this, keep = core.alive()] {
      connections.reload_peers();
      sync.drain();
      schedule_roster_poll();
      monitor.start(progress);
    });
    return {};
  }

  void stop(std::function<void()> done) {
    asio::post(core.strand, [this, keep = core.alive(), done = std::move(done)]() mutable {
      core.stopping = true;
      sync.stop();
      monitor.stop();
      roster_timer.cancel();
      writer.stop();
      connections.stop();
      on_stopped = std::move(done);
      maybe_finish_stop();
    });
  }

  void maybe_finish_stop() {
    if (!core.stopping || !on_stopped || writer.in_flight() > 0) return;
    auto done = std::move(on_stopped);
    on_stopped = nullptr;
    done();
  }

  // The origins this node takes deltas from: the members the replicated
  // roster admitted (crdt/membership.h) and the local overrides (`member
  // add`); it talks to the same less the members cut off. An origin that is
  // neither is held back: its deltas are skipped and counted
  // (conect_sync_untrusted_skipped_total) and fetched once its admission
  // arrives.
  // Like a refused delta (conect_deltas_rejected_total, delta_rejected): a
  // membership operation that is stored but counts nowhere (a late removal
  // vote that would move a decided cut, an admission by a non-member, ...)
  // is a peer's bad input the operator may want to see.
  void report_rejected(const ReplicatedRoster& r) {
    for (const auto& op : r.rejected()) {
      if (!reported_rejected.emplace(op.origin, op.seq, op.index).second) continue;
      core.count("conect_membership_rejected_total", "Membership operations stored that count nowhere, by rule",
                 {{"rule", errc_name(op.rule)}});
      log::warn("membership_operation_rejected", {{"origin", short_id(op.origin)},
                                                  {"seq", std::to_string(op.seq.value)},
                                                  {"rule", errc_name(op.rule)},
                                                  {"detail", op.detail}});
    }
  }

  Status reload_roster() {
    auto members = core.store.members();
    if (!members.ok()) return members.error();
    auto replicated = core.store.roster();
    if (!replicated.ok()) return replicated.error();
    sync.set_replicated_roster(*replicated);
    report_rejected(**replicated);
    // The inviter's key as its invite named it, until the roster knows a
    // rotation of it (store.h bootstrap_keys).
    auto pinned = core.store.bootstrap_keys();
    if (!pinned.ok()) return pinned.error();
    connections.set_identity_keys([r = *replicated, pinned = std::move(*pinned)](const NodeId& id) {
      const NodeId key = r->key_at(id, Seq{UINT64_MAX});
      if (auto p = pinned.find(id); key == id && p != pinned.end()) return p->second;
      return key;
    });

    std::set<NodeId> fresh, overrides;
    for (const auto& [id, card] : *members) overrides.insert(id);
    fresh = overrides;
    for (const auto& id : (*replicated)->admitted_ids()) fresh.insert(id);
    // A node that joined with an invite fetches from the members its
    // inviter named until its own admission has reached its store.
    if (!(*replicated)->admitted(core.node.key.public_key()))
      if (auto boot = core.store.bootstrap(); boot.ok()) fresh.insert(boot->begin(), boot->end());
    fresh.insert(core.node.key.public_key());
    // Pending members link receive-only (docs/membership.md): their deltas
    // stay held back (not in `fresh`), the federation's reach them.
    std::set<NodeId> pending;
    for (const auto& [id, m] : (*replicated)->members())
      if (!m.admitted && !m.cut && !m.admitted_by.empty() && !fresh.contains(id)) pending.insert(id);
    // Members the federation cut off (a decided Remove, or a Leave) stay
    // origins (their history up to the cut is valid, and may come relayed)
    // but are no longer talked to: they would receive everything written
    // after their removal. A local override (`member add`) is the
    // operator's explicit choice and keeps the link.
    std::set<NodeId> cut_off;
    for (const auto& [id, m] : (*replicated)->members())
      if (m.cut && !overrides.contains(id) && id != core.node.key.public_key()) cut_off.insert(id);
    std::set<NodeId> linkable;
    std::set_difference(fresh.begin(), fresh.end(), cut_off.begin(), cut_off.end(),
                        std::inserter(linkable, linkable.end()));
    if (fresh != roster) {
      roster = std::move(fresh);
      sync.set_roster(roster);
      log::info("roster_loaded", {{"members", std::to_string(roster.size())}});
    }
    if (linkable != linked) {
      linked = std::move(linkable);
      connections.set_cut_off(cut_off);
      connections.set_roster(linked);
    }
    // After the roster: a pending member admitted now is linkable as a
    // member before it stops being pending, so its link stays up (in the
    // other order it was closed, "no longer pending nor a member", and
    // redialled a second later).
    if (pending != receive_only) {
      receive_only = pending;
      connections.set_receive_only(receive_only);
    }
    return {};
  }

  void schedule_roster_poll() {
    if (core.stopping) return;
    // Roster and peer changes come from other processes (`member add`,
    // `peer add` write the shared LMDB store); a read is a few microseconds.
    roster_timer.expires_after(std::chrono::seconds(1));
    roster_timer.async_wait([this, keep = core.alive()](boost::system::error_code ec) {
      if (ec || core.stopping) return;
      if (Status st = reload_roster(); !st.ok()) log::warn("roster_unreadable", {{"detail", st.error().message()}});
      connections.reload_peers();
      sync.drain();
      announce_seal_key();
      discard_retired_seal_keys();
      // Personal data still to deliver (new records, a widened audience, a
      // seal key that arrived, an answer that never came): a scan of this
      // node's own mobilities and contacts.
      courier.sweep();
      schedule_roster_poll();
    });
  }

  // A rotation interrupted between writing the new key and renaming it:
  // adopt the key when the store holds the Rotate that names it, else drop it.
  void settle_rotation() {
    const auto pending = core.node.signing_key_pending();
    if (!std::filesystem::exists(pending)) return;
    auto key = KeyPair::load(pending);
    auto replicated = core.store.roster();
    auto head = core.store.head(core.id());
    std::error_code ec;
    if (key.ok() && replicated.ok() && head.ok()) {
      Seq next = *head ? (*head)->seq.next() : Seq{1};
      if ((*replicated)->key_at(core.id(), next) == key->public_key()) {
        std::filesystem::rename(pending, core.node.signing_key(), ec);
        if (!ec) {
          core.set_signer(*key);
          connections.set_signer(*key);
          log::info("key_rotation_completed", {{"key", key->public_key().hex().substr(0, 16)}});
          return;
        }
      }
    }
    std::filesystem::remove(pending, ec);
    log::warn("key_rotation_abandoned", {{"detail", "the Rotate delta was never stored; the old key still signs"}});
  }

  // A seal-key rotation interrupted after its Rotate was stored (the store
  // states the pending key as this node's seal key): retire the old key into
  // the keyring and adopt the new one; else the Rotate never was: drop it.
  void settle_seal_rotation() {
    const auto pending = core.node.seal_key_pending();
    if (!std::filesystem::exists(pending)) return;
    auto key = SealKey::load(pending);
    auto stated = core.store.seal_key(core.id());
    if (key.ok() && stated.ok() && *stated && **stated == key->public_key()) {
      // When it fails, tried again at the next start; the old key still opens.
      Status st = adopt_seal_key(*key);
      if (st.ok())
        log::info("seal_key_rotation_completed", {{"seal_key", key->public_key().hex().substr(0, 16)}});
      else
        log::warn("seal_key_rotation_unfinished", {{"detail", st.error().message()}});
      return;
    }
    std::error_code ec;
    std::filesystem::remove(pending, ec);
    log::warn("seal_key_rotation_abandoned", {{"detail", "the Rotate was never stored; the old seal key stays"}});
  }

  // A Noise-key rotation interrupted after its Rotate was stored (the roster
  // states the pending key as this node's Noise static key): adopt it; else
  // the Rotate never was: drop it. Either way handshakes bind with the key
  // that signs now (settle_rotation ran before).
  void settle_noise_rotation() {
    const auto pending = core.node.noise_key_pending();
    if (!std::filesystem::exists(pending)) return;
    auto key = net::NoiseStaticKey::load(pending);
    auto replicated = core.store.roster();
    if (key.ok() && replicated.ok()) {
      const auto& members = (*replicated)->members();
      auto me = members.find(core.id());
      if (me != members.end() && me->second.noise_static_key == key->public_key().raw()) {
        // When it fails, tried again at the next start; the old key still links.
        Status st = adopt_noise_key(*key);
        if (st.ok())
          log::info("noise_key_rotation_completed", {{"noise_key", key->public_key().hex().substr(0, 16)}});
        else
          log::warn("noise_key_rotation_unfinished", {{"detail", st.error().message()}});
        return;
      }
    }
    std::error_code ec;
    std::filesystem::remove(pending, ec);
    log::warn("noise_key_rotation_abandoned", {{"detail", "the Rotate was never stored; the old Noise key stays"}});
  }

  // DIR/noise.key.pending replaces DIR/noise.key (an atomic rename), then
  // handshakes use it; links already established keep their session keys.
  Status adopt_noise_key(const net::NoiseStaticKey& next) {
    std::error_code ec;
    std::filesystem::rename(core.node.noise_key_pending(), core.node.dir.noise_key(), ec);
    if (ec)
      return Error(Errc::io_error, "the Rotate is stored but " + core.node.noise_key_pending().string() +
                                       " could not be renamed to " + core.node.dir.noise_key().string() + ": " +
                                       ec.message() + "; restart the node to complete the rotation");
    connections.set_noise_static(next, *core.signer());
    return {};
  }

  // The old seal secret goes into DIR/seal.keyring (durably) before
  // DIR/seal.key.pending replaces DIR/seal.key: no crash loses it while an
  // envelope sealed to it may still come.
  Status adopt_seal_key(const SealKey& next) {
    seal.rotate(next, wall_ms());
    if (Status st = seal.save_retired(core.node.dir.seal_keyring()); !st.ok()) return st;
    std::error_code ec;
    std::filesystem::rename(core.node.seal_key_pending(), core.node.dir.seal_key(), ec);
    if (ec)
      return Error(Errc::io_error, "the Rotate is stored but " + core.node.seal_key_pending().string() +
                                       " could not be renamed to " + core.node.dir.seal_key().string() + ": " +
                                       ec.message() + "; restart the node to complete the rotation");
    return {};
  }

  // Retired seal secrets are kept kRetiredSealKeyKeepMs (30 days) after their
  // rotation, then wiped from memory and from DIR/seal.keyring
  // (docs/privacy.md "Seal keys"). Checked at start and every roster poll;
  // skipped while a rotation holds the keyring.
  void discard_retired_seal_keys() {
    std::unique_lock lock(rotate_mu, std::try_to_lock);
    if (!lock.owns_lock()) return;
    const std::size_t n = seal.discard_expired(wall_ms());
    if (n == 0) return;
    if (Status st = seal.save_retired(core.node.dir.seal_keyring()); !st.ok()) {
      log::warn("seal_keys_not_discarded", {{"detail", st.error().message()}});
      return;
    }
    log::info("seal_keys_discarded",
              {{"count", std::to_string(n)}, {"kept", std::to_string(seal.retired().size())}, {"after_days", "30"}});
  }

  // `key rotate` (docs/membership.md): the new keys are on disk before the
  // Rotate that names them is written, so no crash leaves a Rotate without
  // its keys; peers keep their links and learn the keys from the pushed
  // delta. The Rotate carries a new seal key too (DESIGN §2), except at an
  // auditor, which receives no personal data and has none.
  Result<VerifiedDelta> rotate_key() {
    std::lock_guard lock(rotate_mu);
    KeyPair next = KeyPair::generate();
    const auto pending = core.node.signing_key_pending();
    const auto seal_pending = core.node.seal_key_pending();
    const auto noise_pending = core.node.noise_key_pending();
    const bool new_seal = core.node.config.role != "auditor";
    std::optional<SealKey> next_seal;
    std::error_code ec;
    const auto drop_pending = [&] {
      std::filesystem::remove(pending, ec);
      std::filesystem::remove(seal_pending, ec);
      std::filesystem::remove(noise_pending, ec);
    };
    drop_pending();
    if (Status st = next.save(pending); !st.ok()) return st.error();
    if (new_seal) {
      next_seal = SealKey::generate();
      if (Status st = next_seal->save(seal_pending); !st.ok()) {
        drop_pending();
        return st.error();
      }
    }
    // A new Noise static key at every node, auditors too (DESIGN §2: Noise
    // keys are not seal keys).
    auto next_noise = net::NoiseStaticKey::generate();
    if (!next_noise.ok()) {
      drop_pending();
      return next_noise.error();
    }
    if (Status st = next_noise->save(noise_pending); !st.ok()) {
      drop_pending();
      return st.error();
    }
    DeltaDraft draft;
    draft.ops.push_back(membership_ops::rotate(
        core.id(), next, next_seal ? next_seal->public_key().raw() : std::string(), next_noise->public_key().raw()));
    auto deps = core.store.membership_deps();
    if (!deps.ok()) {
      drop_pending();
      return deps.error();
    }
    draft.deps = std::move(*deps);
    auto delta = gate.author(std::move(draft));
    if (!delta.ok()) {
      drop_pending();
      return delta.error();
    }
    std::filesystem::rename(pending, core.node.signing_key(), ec);
    if (ec)
      return Error(Errc::io_error, "the Rotate is stored but " + pending.string() + " could not be renamed to " +
                                       core.node.signing_key().string() + ": " + ec.message() +
                                       "; restart the node to complete the rotation");
    core.set_signer(next);
    // The Noise key moves with the signer in one step on the strand: no
    // handshake binds the new Noise key with the old identity key or back.
    std::error_code noise_ec;
    std::filesystem::rename(noise_pending, core.node.dir.noise_key(), noise_ec);
    asio::post(core.strand, [this, keep = core.alive(), d = *delta, next, noise = *next_noise, moved = !noise_ec] {
      if (moved)
        connections.set_noise_static(noise, next);
      else
        connections.set_signer(next);
      sync.on_local_commit({d});
      (void)reload_roster();
    });
    log::info("key_rotated", {{"key", next.public_key().hex().substr(0, 16)},
                              {"seal_key", next_seal ? next_seal->public_key().hex().substr(0, 16) : "(none)"},
                              {"noise_key", next_noise->public_key().hex().substr(0, 16)},
                              {"seq", std::to_string(delta->seq.value)}});
    if (next_seal)
      if (Status st = adopt_seal_key(*next_seal); !st.ok()) {
        log::warn("seal_key_rotation_unfinished", {{"detail", st.error().message()}});
        return st.error();
      }
    if (noise_ec) {
      auto why = Error(Errc::io_error, "the Rotate is stored but " + noise_pending.string() +
                                           " could not be renamed to " + core.node.dir.noise_key().string() + ": " +
                                           noise_ec.message() + "; restart the node to complete the rotation");
      log::warn("noise_key_rotation_unfinished", {{"detail", why.message()}});
      return why;
    }
    return delta;
  }

  // Until the store holds this node's announcement of its current seal key,
  // author one (DESIGN §5). Tried at start (before the event loop runs, so
  // on the main thread with nothing else running) and at every roster poll
  // (on the strand), so a store fenced after a restore announces once the
  // fence lifts. Auditors receive no personal data and announce nothing.
  void announce_seal_key() {
    if (seal_announced || core.stopping) return;
    const NodeId self = core.node.key.public_key();
    const SealKey mine = seal.current();
    auto current = core.store.seal_key(self);
    if (current.ok() && *current == mine.public_key()) {
      seal_announced = true;
      return;
    }
    if (core.node.config.role == "auditor") {
      seal_announced = true;
      log::info("seal_key_not_announced", {{"reason", "this node is an auditor; auditors receive no personal data"}});
      return;
    }
    DeltaDraft draft;
    draft.ops.push_back(seal_key_announcement(core.node.key, core.node.federation, mine.public_key()));
    auto delta = author(std::move(draft));
    if (!delta.ok()) {
      log::debug("seal_key_announcement_deferred", {{"detail", delta.error().message()}});
      return;
    }
    seal_announced = true;
    log::info("seal_key_announced",
              {{"seq", std::to_string(delta->seq.value)}, {"seal_key", mine.public_key().hex().substr(0, 16)}});
  }

  Result<VerifiedDelta> author(DeltaDraft draft) {
    const auto t0 = Clock::now();
    auto delta = gate.author(std::move(draft));
    if (delta.ok()) {
      core.write_seconds("author").observe(std::chrono::duration<double>(Clock::now() - t0).count());
      core.count("conect_deltas_authored_total", "Deltas this node authored (signed and committed)");
      asio::post(core.strand, [this, keep = core.alive(), d = *delta] {
        sync.on_local_commit({d});
        if (carries_membership(d.body)) (void)reload_roster();
        courier.sweep();
      });
    }
    return delta;
  }
};

PeerManager::PeerManager(asio::io_context& io, const NodeFiles& node, storage::Store& store, api::Metrics& metrics,
                         std::array<std::uint8_t, 32> noise_private_key, const SealKey& seal,
                         api::ProgressBoard* progress) {
  auto noise = net::NoiseStaticKey::from_private(noise_private_key);
  if (!noise.ok()) throw std::runtime_error("noise key: " + noise.error().message());
  impl_ = std::make_shared<Impl>(io, node, store, metrics, std::move(*noise), seal);
  impl_->progress = progress;
}

PeerManager::~PeerManager() { impl_->writer.join(); }

Status PeerManager::start() { return impl_->start(); }
void PeerManager::accept(asio::ip::tcp::socket socket) { impl_->connections.accept(std::move(socket)); }
Result<VerifiedDelta> PeerManager::author(DeltaDraft draft) { return impl_->author(std::move(draft)); }
Result<VerifiedDelta> PeerManager::rotate_key() { return impl_->rotate_key(); }
void PeerManager::stop(std::function<void()> done) { impl_->stop(std::move(done)); }
std::vector<api::PeerStatus> PeerManager::peer_status() const { return impl_->board.snapshot(); }
void PeerManager::set_on_personal_data(std::function<void(const RecordKey&)> hook) {
  impl_->courier.set_on_stored(std::move(hook));
}

}  // namespace conect::node
