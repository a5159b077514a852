#include "conect/node/wall_clock.h"
#include "conect/node/peer_manager.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>

#include <malloc.h>

#include <chrono>
#include <map>
#include <mutex>
#include <random>
#include <set>

#include "conect/api/metrics.h"
#include "conect/net/secure_channel.h"
#include "conect/node/log.h"
#include "conect/node/member_card.h"
#include "conect/sync/engine.h"
#include "conect/node/store_view.h"

namespace conect::node {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

std::string short_id(const NodeId& id) { return id.hex().substr(0, 16); }

}  // namespace

struct Session {
  std::uint64_t id = 0;
  std::shared_ptr<WsLink> link;
  std::optional<net::HandshakeDriver> driver;
  std::optional<net::SecureChannel> channel;
  std::optional<NodeId> peer;
  bool dialled = false;
  std::string url;  // dialled sessions
  bool established = false;
  bool closing = false;
  std::unique_ptr<asio::steady_timer> handshake_timer;
};

struct Dialer {
  std::string url;
  NodeId expected;
  std::uint64_t backoff_ms = 0;
  std::uint64_t session = 0;  // 0: not connected or connecting
  std::unique_ptr<asio::steady_timer> timer;
  std::string last_error;
  bool removed = false;
};

struct PeerInfo {
  std::string address;
  bool connected = false;
  std::uint64_t last_seen_ms = 0;
};

struct PeerManager::Impl : std::enable_shared_from_this<PeerManager::Impl> {
  Impl(asio::io_context& io_, const NodeFiles& node_, storage::Store& store_, api::Metrics& metrics_,
       net::NoiseStaticKey noise)
      : io(io_),
        strand(asio::make_strand(io_)),
        node(node_),
        store(store_),
        metrics(metrics_),
        credentials(node_.key, std::move(noise), node_.federation),
        view(store_),
        engine_timer(strand),
        roster_timer(strand),
        trim_timer(strand),
        started(Clock::now()),
        bytes_sent(metrics_.counter("conect_peer_bytes_sent_total", "Frame bytes sent to peers (WebSocket payloads)")),
        bytes_received(metrics_.counter("conect_peer_bytes_received_total", "Frame bytes received from peers")),
        rng(static_cast<std::uint64_t>(wall_ms())) {
    limits.max_frame_bytes = node.config.max_frame_bytes;
    limits.send_queue_limit = node.config.send_queue_limit;
    limits.handshake_timeout = std::chrono::milliseconds(node.config.handshake_timeout_ms);
    limits.idle_timeout = std::chrono::milliseconds(node.config.idle_timeout_ms);
  }

  asio::io_context& io;
  asio::strand<asio::io_context::executor_type> strand;
  const NodeFiles& node;
  storage::Store& store;
  api::Metrics& metrics;
  net::PeerCredentials credentials;
  StoreSyncView view;
  std::unique_ptr<sync::SyncEngine> engine;
  asio::thread_pool writer{1};
  asio::steady_timer engine_timer;
  asio::steady_timer roster_timer;
  asio::steady_timer trim_timer;
  Clock::time_point started;
  api::Counter& bytes_sent;
  api::Counter& bytes_received;
  std::mt19937_64 rng;
  WsLimits limits;

  std::set<NodeId> roster;
  std::map<std::uint64_t, std::shared_ptr<Session>> sessions;
  std::map<NodeId, std::uint64_t> active;  // established session per peer
  std::map<std::string, Dialer> dialers;   // by url
  std::map<std::string, std::pair<Clock::time_point, std::uint32_t>> handshakes_by_ip;
  std::uint64_t next_session = 1;
  bool stopping = false;
  std::size_t applies_in_flight = 0;
  Clock::time_point last_trim{};
  bool trim_pending = false;
  std::function<void()> on_stopped;

  mutable std::mutex status_mutex;  // guards peer_info and caught_up
  std::map<NodeId, PeerInfo> peer_info;
  bool caught_up = true;

  std::uint64_t now() const {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
  }

  // --------------------------------------------------------------- metrics
  void count(const std::string& name, const std::string& help, const api::Labels& labels = {}, std::uint64_t n = 1) {
    metrics.counter(name, help, labels).inc(n);
  }
  void count_refusal(const std::string& stage, const Error& e) {
    count("conect_peer_refused_total", "Peer connections closed for misbehaviour or failed checks",
          {{"stage", stage}, {"reason", errc_name(static_cast<Errc>(e.code.value()))}});
  }

  // ------------------------------------------------------------ lifecycle
  Status start() {
    if (Status st = reload_roster(); !st.ok()) return st;
    sync::SyncConfig cfg;
    cfg.federation = node.federation;
    cfg.self = node.key.public_key();
    cfg.seed = rng();
    cfg.summary_interval_ms = node.config.summary_interval_ms;
    cfg.summary_jitter_ms = node.config.summary_interval_ms / 10;
    // Keep every sync message within one secure frame.
    cfg.limits.max_message_bytes =
        std::min<std::size_t>(cfg.limits.max_message_bytes, node.config.max_frame_bytes - net::kStreamFrameOverhead);
    cfg.limits.max_batch_bytes = std::min<std::size_t>(cfg.limits.max_batch_bytes, cfg.limits.max_message_bytes / 2);
    cfg.window_bytes = std::min<std::size_t>(cfg.window_bytes, cfg.limits.max_message_bytes * 4);
    // Deltas decoded and waiting for the writer take ~3x their wire size in
    // memory; 8 MiB of them keeps the writer busy and the heap small.
    cfg.max_buffer_bytes = std::max<std::size_t>(8u << 20, 2 * cfg.limits.max_delta_bytes);
    engine = std::make_unique<sync::SyncEngine>(cfg, view, std::vector<NodeId>(roster.begin(), roster.end()), now());
    asio::post(strand, [self = shared_from_this()] {
      self->reload_peers();
      self->drain();
      self->schedule_roster_poll();
    });
    return {};
  }

  void stop(std::function<void()> done) {
    asio::post(strand, [self = shared_from_this(), done = std::move(done)]() mutable {
      self->stopping = true;
      self->engine_timer.cancel();
      self->roster_timer.cancel();
      self->trim_timer.cancel();
      for (auto& [url, d] : self->dialers) d.timer->cancel();
      for (auto& [id, s] : self->sessions) self->close_session(*s, "node shutting down");
      self->on_stopped = std::move(done);
      self->maybe_finish_stop();
    });
  }

  void maybe_finish_stop() {
    if (!stopping || !on_stopped || applies_in_flight > 0) return;
    auto done = std::move(on_stopped);
    on_stopped = nullptr;
    done();
  }

  // --------------------------------------------------- roster and peers
  Status reload_roster() {
    auto members = store.members();
    if (!members.ok()) return members.error();
    std::set<NodeId> fresh;
    for (const auto& [id, card] : *members) fresh.insert(id);
    fresh.insert(node.key.public_key());
    if (fresh == roster) return {};
    roster = std::move(fresh);
    if (engine) engine->set_roster(std::vector<NodeId>(roster.begin(), roster.end()), now());
    // A member removed from the roster is not talked to any more.
    for (auto& [id, s] : sessions)
      if (s->peer && !roster.contains(*s->peer)) close_session(*s, "removed from the roster");
    log::info("roster_loaded", {{"members", std::to_string(roster.size())}});
    return {};
  }

  void reload_peers() {
    auto peers = configured_peers(node, store);
    if (!peers.ok()) {
      log::warn("peers_unreadable", {{"detail", peers.error().message()}});
      return;
    }
    std::set<std::string> wanted;
    for (const auto& p : *peers) {
      wanted.insert(p.url);
      auto [it, inserted] = dialers.try_emplace(p.url);
      Dialer& d = it->second;
      if (inserted) {
        d.url = p.url;
        d.expected = p.node_id;
        d.timer = std::make_unique<asio::steady_timer>(strand);
        {
          // Listed in the status (as disconnected) before the first link.
          std::lock_guard lock(status_mutex);
          auto& info = peer_info[p.node_id];
          if (info.address.empty()) info.address = p.url;
        }
        dial(d);
      }
    }
    for (auto& [url, d] : dialers)
      if (!wanted.contains(url) && !d.removed) {
        d.removed = true;
        d.timer->cancel();
        if (auto s = sessions.find(d.session); s != sessions.end()) close_session(*s->second, "peer removed");
      }
  }

  void schedule_roster_poll() {
    if (stopping) return;
    // Roster and peer changes come from other processes (`member add`,
    // `peer add` write the shared LMDB store); a read is a few microseconds.
    roster_timer.expires_after(std::chrono::seconds(1));
    roster_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopping) return;
      if (Status st = self->reload_roster(); !st.ok())
        log::warn("roster_unreadable", {{"detail", st.error().message()}});
      self->reload_peers();
      self->drain();
      self->schedule_roster_poll();
    });
  }

  // ---------------------------------------------------------------- links
  void dial(Dialer& d) {
    if (stopping || d.removed || d.session != 0) return;
    auto url = parse_ws_url(d.url);
    if (!url.ok()) {
      d.last_error = url.error().detail;
      return;
    }
    if (active.contains(d.expected)) return;  // already linked (the peer dialled us)
    auto s = new_session(true);
    s->url = d.url;
    d.session = s->id;
    auto driver = net::HandshakeDriver::create(credentials, handshake_options(net::NoiseRole::initiator, d.expected));
    if (!driver.ok()) {
      d.last_error = driver.error().message();
      return;
    }
    s->driver.emplace(std::move(*driver));
    auto first = s->driver->start();  // message 1, queued until the socket opens
    if (!first.ok()) {
      d.last_error = first.error().message();
      return;
    }
    s->link = dial_ws(io, *url, limits, link_handler(s->id));
    send_frames(*s, *first);
    arm_handshake_timeout(*s);
  }

  void schedule_redial(Dialer& d) {
    if (stopping || d.removed) return;
    std::uint64_t lo = node.config.redial_min_ms, hi = node.config.redial_max_ms;
    d.backoff_ms = d.backoff_ms == 0 ? lo : std::min(hi, d.backoff_ms * 2);
    // Full jitter: many nodes that lost the same partner do not redial in step.
    std::uint64_t wait = lo + std::uniform_int_distribution<std::uint64_t>(0, d.backoff_ms)(rng);
    d.timer->expires_after(std::chrono::milliseconds(wait));
    d.timer->async_wait([self = shared_from_this(), url = d.url](boost::system::error_code ec) {
      if (ec) return;
      if (auto it = self->dialers.find(url); it != self->dialers.end()) self->dial(it->second);
    });
  }

  void accept(asio::ip::tcp::socket socket) {
    std::string ip;
    boost::system::error_code ec;
    auto ep = socket.remote_endpoint(ec);
    if (!ec) ip = ep.address().to_string();
    asio::post(strand, [self = shared_from_this(), socket = std::move(socket), ip]() mutable {
      if (self->stopping) return;
      if (!self->admit_handshake(ip)) {
        self->count("conect_peer_refused_total", "Peer connections closed for misbehaviour or failed checks",
                    {{"stage", "accept"}, {"reason", "throttled"}});
        log::warn("peer_throttled", {{"remote", ip}});
        boost::system::error_code ignored;
        socket.close(ignored);
        return;
      }
      auto s = self->new_session(false);
      auto driver = net::HandshakeDriver::create(self->credentials,
                                                 self->handshake_options(net::NoiseRole::responder, std::nullopt));
      if (!driver.ok()) return;
      s->driver.emplace(std::move(*driver));
      s->link = accept_ws(std::move(socket), "/sync", self->limits, self->link_handler(s->id));
      self->arm_handshake_timeout(*s);
    });
  }

  // A fixed window per remote address: enough for honest redials, not for a
  // handshake flood (each handshake costs us three X25519 operations).
  bool admit_handshake(const std::string& ip) {
    auto now_tp = Clock::now();
    auto& [window_start, n] = handshakes_by_ip[ip];
    if (now_tp - window_start > std::chrono::minutes(1)) {
      window_start = now_tp;
      n = 0;
    }
    if (handshakes_by_ip.size() > 10'000) handshakes_by_ip.clear();  // bound the table itself
    return ++n <= node.config.max_handshakes_per_ip_per_minute;
  }

  net::HandshakeOptions handshake_options(net::NoiseRole role, std::optional<NodeId> expected) {
    net::HandshakeOptions o;
    o.role = role;
    o.expected_peer = expected;
    o.max_frame_bytes = node.config.max_frame_bytes;
    // Runs on the node strand, where the roster lives.
    o.is_member = [self = weak_from_this()](const NodeId& id) {
      auto s = self.lock();
      return s && s->roster.contains(id) && id != s->node.key.public_key();
    };
    return o;
  }

  std::shared_ptr<Session> new_session(bool dialled) {
    auto s = std::make_shared<Session>();
    s->id = next_session++;
    s->dialled = dialled;
    s->handshake_timer = std::make_unique<asio::steady_timer>(strand);
    sessions[s->id] = s;
    return s;
  }

  void arm_handshake_timeout(Session& s) {
    s.handshake_timer->expires_after(std::chrono::milliseconds(node.config.handshake_timeout_ms));
    s.handshake_timer->async_wait([self = shared_from_this(), id = s.id](boost::system::error_code ec) {
      if (ec) return;
      auto it = self->sessions.find(id);
      if (it == self->sessions.end() || it->second->established) return;
      self->count_refusal("handshake", Error(Errc::protocol_error, "timeout"));
      log::warn("handshake_timeout", {{"remote", it->second->link ? it->second->link->remote_address() : ""}});
      self->close_session(*it->second, "handshake timeout");
    });
  }

  WsLink::Handler link_handler(std::uint64_t id) {
    WsLink::Handler h;
    auto weak = weak_from_this();
    h.on_open = [] {};
    h.on_frame = [weak, id](std::string frame) {
      if (auto self = weak.lock())
        asio::post(self->strand, [self, id, frame = std::move(frame)] { self->on_frame(id, frame); });
    };
    h.on_close = [weak, id](const std::string& reason) {
      if (auto self = weak.lock()) asio::post(self->strand, [self, id, reason] { self->on_link_closed(id, reason); });
    };
    return h;
  }

  void send_frames(Session& s, const std::vector<std::string>& frames) {
    for (const auto& f : frames) {
      bytes_sent.inc(f.size());
      s.link->send(f);
    }
  }

  void on_frame(std::uint64_t id, const std::string& frame) {
    bytes_received.inc(frame.size());
    auto it = sessions.find(id);
    if (it == sessions.end() || it->second->closing) return;
    Session& s = *it->second;
    if (!s.established) return on_handshake_frame(s, frame);
    auto opened = s.channel->open(frame);
    if (!opened.ok()) {
      count_refusal("frame", opened.error());
      log::warn("peer_frame_rejected", {{"peer", short_id(*s.peer)}, {"reason", opened.error().message()}});
      return close_session(s, opened.error().message());
    }
    if (opened->kind == net::FrameKind::final) return close_session(s, "peer closed the stream");
    if (opened->kind != net::FrameKind::message) return;
    touch(*s.peer);
    engine->on_message_bytes(*s.peer, opened->plaintext, now());
    drain();
  }

  void on_handshake_frame(Session& s, const std::string& frame) {
    if (s.channel) {
      // The initiator completed first; this is the responder's stream header.
      auto opened = s.channel->open(frame);
      if (!opened.ok()) {
        count_refusal("handshake", opened.error());
        return close_session(s, opened.error().message());
      }
      return establish(s);
    }
    auto out = s.driver->receive(frame);
    if (!out.ok()) {
      count_refusal("handshake", out.error());
      log::warn(
          "handshake_refused",
          {{"remote", s.link->remote_address()}, {"dir", s.dialled ? "out" : "in"}, {"reason", out.error().message()}});
      if (s.dialled)
        if (auto d = dialer_for(s.id)) d->last_error = out.error().message();
      return close_session(s, out.error().message());
    }
    send_frames(s, *out);
    if (!s.driver->is_complete()) return;
    auto channel = s.driver->take_channel();
    if (!channel.ok()) return close_session(s, channel.error().message());
    s.peer = channel->peer();
    s.channel.emplace(std::move(*channel));
    s.driver.reset();
    // The responder has the initiator's header still to come and may
    // establish now; the initiator waits for the responder's header.
    if (!s.dialled) establish(s);
  }

  void establish(Session& s) {
    const NodeId peer = *s.peer;
    s.handshake_timer->cancel();
    // One link per pair: keep the one dialled by the smaller node id.
    if (auto existing = active.find(peer); existing != active.end()) {
      auto& other = *sessions.at(existing->second);
      bool mine_is_preferred = (s.dialled == (node.key.public_key() < peer));
      if (!mine_is_preferred) {
        if (auto d = dialer_for(s.id)) d->backoff_ms = 0;
        return close_session(s, "duplicate link");
      }
      close_session(other, "duplicate link");
    }
    s.established = true;
    active[peer] = s.id;
    if (auto d = dialer_for(s.id)) {
      d->backoff_ms = 0;
      d->last_error.clear();
    }
    {
      std::lock_guard lock(status_mutex);
      auto& info = peer_info[peer];
      info.connected = true;
      if (s.dialled) info.address = s.url;
      info.last_seen_ms = wall_ms();
    }
    count("conect_peer_connections_total", "Authenticated peer links established", {{"dir", s.dialled ? "out" : "in"}});
    log::info("peer_connected",
              {{"peer", short_id(peer)}, {"dir", s.dialled ? "out" : "in"}, {"remote", s.link->remote_address()}});
    engine->on_peer_connected(peer, s.dialled ? sync::PeerRole::dialler : sync::PeerRole::acceptor, now());
    drain();
  }

  Dialer* dialer_for(std::uint64_t session_id) {
    for (auto& [url, d] : dialers)
      if (d.session == session_id) return &d;
    return nullptr;
  }

  void touch(const NodeId& peer) {
    std::lock_guard lock(status_mutex);
    peer_info[peer].last_seen_ms = wall_ms();
  }

  void close_session(Session& s, const std::string& reason) {
    if (s.closing) return;
    s.closing = true;
    std::string final_frame;
    if (s.channel && s.established) {
      if (auto f = s.channel->close(); f.ok()) final_frame = std::move(*f);
    }
    if (s.link)
      s.link->close(reason, std::move(final_frame));
    else
      on_link_closed(s.id, reason);
  }

  void on_link_closed(std::uint64_t id, const std::string& reason) {
    auto it = sessions.find(id);
    if (it == sessions.end()) return;
    auto s = it->second;
    sessions.erase(it);
    s->handshake_timer->cancel();
    if (s->established && s->peer) {
      active.erase(*s->peer);
      {
        std::lock_guard lock(status_mutex);
        peer_info[*s->peer].connected = false;
      }
      log::info("peer_disconnected", {{"peer", short_id(*s->peer)}, {"reason", reason}});
      engine->on_peer_disconnected(*s->peer, now());
      drain();
      // A dialer that stood back because the peer had dialled us takes over.
      for (auto& [url, d] : dialers)
        if (d.expected == *s->peer && d.session == 0 && d.session != id) schedule_redial(d);
    }
    if (auto d = dialer_for(id)) {
      d->session = 0;
      if (d->last_error.empty() || s->established) d->last_error = reason;
      if (!s->established && reason != "duplicate link")
        log::debug("dial_failed", {{"url", d->url}, {"reason", reason}});
      schedule_redial(*d);
    }
  }

  // --------------------------------------------------------------- engine
  void drain() {
    if (!engine) return;
    while (auto action = engine->poll()) std::visit([this](auto& a) { handle(a); }, *action);
    if (auto when = engine->next_deadline()) arm_engine_timer(*when);
    bool ok = engine->own_chain_caught_up();
    std::lock_guard lock(status_mutex);
    caught_up = ok;
  }

  void arm_engine_timer(std::uint64_t when) {
    engine_timer.expires_at(started + std::chrono::milliseconds(when));
    engine_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->stopping) return;
      self->engine->on_timer(self->now());
      self->drain();
    });
  }

  void handle(sync::SendAction& a) {
    auto it = active.find(a.peer);
    if (it == active.end()) return;
    Session& s = *sessions.at(it->second);
    auto frame = s.channel->seal(a.message.SerializeAsString());
    if (!frame.ok()) {
      log::error("seal_failed", {{"peer", short_id(a.peer)}, {"reason", frame.error().message()}});
      return close_session(s, frame.error().message());
    }
    bytes_sent.inc(frame->size());
    s.link->send(std::move(*frame));
  }

  void handle(sync::ApplyBatchAction& a) {
    ++applies_in_flight;
    asio::post(writer, [self = shared_from_this(), a = std::move(a)]() mutable {
      auto t0 = Clock::now();
      std::size_t n = a.deltas.size();
      auto outcome = self->store.apply(std::move(a.deltas));
      auto secs = std::chrono::duration<double>(Clock::now() - t0).count();
      sync::ApplyResult result{a.apply_id, {}};
      if (!outcome.ok()) {
        result.status = outcome.error();
      } else {
        self->count("conect_deltas_applied_total", "Deltas received from peers and stored", {},
                    outcome->applied.size());
        self->count("conect_deltas_duplicate_total", "Deltas received that were already stored", {},
                    outcome->duplicates.size());
        for (const auto& r : outcome->rejected) {
          self->count("conect_deltas_rejected_total", "Deltas refused, by reason",
                      {{"reason", errc_name(static_cast<Errc>(r.reason.code.value()))}});
          log::warn("delta_rejected", {{"origin", short_id(r.delta.origin)},
                                       {"seq", std::to_string(r.delta.seq.value)},
                                       {"reason", r.reason.message()}});
        }
        if (!outcome->rejected.empty()) result.status = outcome->rejected.front().reason;
        if (n >= 256)
          log::debug("batch_applied",
                     {{"origin", short_id(a.origin)},
                      {"deltas", std::to_string(n)},
                      {"per_second", std::to_string(static_cast<std::uint64_t>(n / std::max(secs, 1e-6)))}});
      }
      asio::post(self->strand, [self, result] {
        --self->applies_in_flight;
        if (self->applies_in_flight == 0) self->trim_memory();
        self->engine->on_batch_applied(result, self->now());
        self->drain();
        self->maybe_finish_stop();
      });
    });
  }

  // Decoded deltas take several times their wire size; once a catch-up's
  // batches are applied glibc keeps their pages, so hand them back (at most
  // once a second) and an idle node's footprint reflects what it holds.
  // A trim skipped by that limit is made up a second later, or the last
  // batches of a fast catch-up would stay with the allocator.
  void trim_memory() {
    auto t = Clock::now();
    if (t - last_trim < std::chrono::seconds(1)) {
      if (trim_pending) return;
      trim_pending = true;
      trim_timer.expires_at(last_trim + std::chrono::seconds(1));
      trim_timer.async_wait([self = shared_from_this()](boost::system::error_code ec) {
        self->trim_pending = false;
        if (!ec && !self->stopping && self->applies_in_flight == 0) self->trim_memory();
      });
      return;
    }
    last_trim = t;
    malloc_trim(0);
  }

  void handle(sync::StoreEvidenceAction& a) {
    log::warn("equivocation", {{"origin", short_id(a.origin)}, {"seq", std::to_string(a.seq.value)}});
    count("conect_equivocations_total", "Equivocation evidence stored");
    asio::post(writer, [self = shared_from_this(), a = std::move(a)] {
      if (Status st = self->store.add_equivocation(a.first, a.second); !st.ok())
        log::error("evidence_not_stored", {{"reason", st.error().message()}});
    });
  }

  void handle(sync::DisconnectAction& a) {
    auto it = active.find(a.peer);
    if (it == active.end()) return;
    count_refusal("sync", a.reason);
    log::warn("peer_misbehaved", {{"peer", short_id(a.peer)}, {"reason", a.reason.message()}});
    close_session(*sessions.at(it->second), a.reason.message());
  }

  void handle(sync::ArmTimerAction& a) { arm_engine_timer(a.when); }

  void handle(sync::EventAction& a) {
    const sync::Event& e = a.event;

    std::string name = sync::event_name(e.kind);
    count("conect_sync_events_total", "Sync engine events, by kind", {{"kind", name}});
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

  void on_authored(std::vector<VerifiedDelta> deltas) {
    asio::post(strand, [self = shared_from_this(), deltas = std::move(deltas)] {
      if (self->stopping || !self->engine) return;
      self->engine->on_local_commit(deltas, self->now());
      self->drain();
    });
  }

  std::vector<api::PeerStatus> peer_status() const {
    std::lock_guard lock(status_mutex);
    std::vector<api::PeerStatus> out;
    for (const auto& [id, info] : peer_info) {
      api::PeerStatus p;
      p.id = id;
      p.address = info.address;
      p.connected = info.connected;
      p.last_seen_ms = info.last_seen_ms;
      out.push_back(p);
    }
    return out;
  }
};

PeerManager::PeerManager(asio::io_context& io, const NodeFiles& node, storage::Store& store, api::Metrics& metrics,
                         std::array<std::uint8_t, 32> noise_private_key) {
  auto noise = net::NoiseStaticKey::from_private(noise_private_key);
  if (!noise.ok()) throw std::runtime_error("noise key: " + noise.error().message());
  impl_ = std::make_shared<Impl>(io, node, store, metrics, std::move(*noise));
}

PeerManager::~PeerManager() { impl_->writer.join(); }

Status PeerManager::start() { return impl_->start(); }
void PeerManager::accept(asio::ip::tcp::socket socket) { impl_->accept(std::move(socket)); }
void PeerManager::on_authored(std::span<const VerifiedDelta> deltas) {
  impl_->on_authored(std::vector<VerifiedDelta>(deltas.begin(), deltas.end()));
}
void PeerManager::stop(std::function<void()> done) { impl_->stop(std::move(done)); }
std::vector<api::PeerStatus> PeerManager::peer_status() const { return impl_->peer_status(); }
bool PeerManager::own_chain_caught_up() const {
  std::lock_guard lock(impl_->status_mutex);
  return impl_->caught_up;
}

}  // namespace conect::node
