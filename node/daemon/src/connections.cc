#include "connections.h"

#include <boost/asio/post.hpp>

#include <utility>

#include "conect/node/log.h"
#include "handshake.pb.h"

namespace conect::node {

Connections::Connections(DaemonCore& core, PeerBoard& board, const net::NoiseStaticKey& noise, std::uint64_t seed)
    : core_(core),
      board_(board),
      credentials_(core.id(), noise, core.node.federation,
                   net::sign_static_binding(*core.signer(), noise.public_key(), core.node.federation)),
      admission_(Admission::Limits{core.node.config.max_handshakes_per_ip_per_minute,
                                   core.node.config.max_unauthenticated_per_ip,
                                   core.node.config.max_unauthenticated_connections}),
      rng_(seed),
      bytes_sent_(
          core.metrics.counter("conect_peer_bytes_sent_total", "Frame bytes sent to peers (WebSocket payloads)")),
      bytes_received_(core.metrics.counter("conect_peer_bytes_received_total", "Frame bytes received from peers")) {
  load_rotations();
  const auto& c = core.node.config;
  limits_.max_frame_bytes = c.max_frame_bytes;
  limits_.send_queue_limit = c.send_queue_limit;
  limits_.send_queue_max_frames = c.send_queue_max_frames;
  limits_.send_queue_max_bytes = c.send_queue_max_bytes;
  limits_.handshake_timeout = std::chrono::milliseconds(c.handshake_timeout_ms);
  limits_.idle_timeout = std::chrono::milliseconds(c.idle_timeout_ms);
}

// ------------------------------------------------------- roster and peers

void Connections::set_roster(const std::set<NodeId>& roster) {
  roster_ = roster;
  // A member removed from the roster is not talked to any more.
  for (auto& [id, s] : sessions_)
    if (s->peer && !linkable(*s->peer)) close_session(*s, "removed from the roster");
}

void Connections::set_cut_off(const std::set<NodeId>& cut_off) {
  auto before = std::exchange(cut_off_, cut_off);
  // Trusted again by a local override (`member add`): dial it again.
  for (auto& [url, d] : dialers_)
    if (before.contains(d.expected) && !cut_off_.contains(d.expected)) dial(d);
}

void Connections::set_receive_only(const std::set<NodeId>& pending) {
  receive_only_ = pending;
  for (auto& [id, s] : sessions_)
    if (s->peer && !linkable(*s->peer)) close_session(*s, "no longer pending nor a member");
}

void Connections::load_rotations() {
  auto rotations = core_.store.rotation_deltas(core_.id(), net::kMaxHandshakeRotations);
  if (rotations.ok())
    credentials_.set_rotations(std::move(*rotations));
  else
    log::warn("rotations_unreadable", {{"detail", rotations.error().message()}});
}

void Connections::reload_peers() {
  auto peers = configured_peers(core_.node, core_.store);
  if (!peers.ok()) {
    log::warn("peers_unreadable", {{"detail", peers.error().message()}});
    return;
  }
  std::set<std::string> wanted;
  for (const auto& p : *peers) {
    wanted.insert(p.url);
    auto [it, inserted] = dialers_.try_emplace(p.url);
    Dialer& d = it->second;
    if (inserted) {
      d.url = p.url;
      d.expected = p.node_id;
      d.timer = std::make_unique<asio::steady_timer>(core_.strand);
      board_.listed(p.node_id, p.url);
      dial(d);
    }
  }
  for (auto& [url, d] : dialers_)
    if (!wanted.contains(url) && !d.removed) {
      d.removed = true;
      d.timer->cancel();
      if (auto s = sessions_.find(d.session); s != sessions_.end()) close_session(*s->second, "peer removed");
    }
}

void Connections::stop() {
  for (auto& [url, d] : dialers_) d.timer->cancel();
  for (auto& [id, s] : sessions_) close_session(*s, "node shutting down");
}

// ----------------------------------------------------------------- dialling

void Connections::dial(Dialer& d) {
  if (core_.stopping || d.removed || d.refuses_us || d.session != 0) return;
  auto url = parse_ws_url(d.url);
  if (!url.ok()) {
    d.last_error = url.error().detail;
    return;
  }
  if (active_.contains(d.expected)) return;  // already linked (the peer dialled us)
  if (cut_off_.contains(d.expected)) {
    // Not redialled: a removal is final, and its handshake would be refused.
    d.last_error = "removed from the roster";
    log::info("peer_not_dialled", {{"peer", short_id(d.expected)}, {"url", d.url}, {"reason", d.last_error}});
    return;
  }
  auto s = new_session(true);
  s->url = d.url;
  d.session = s->id;
  auto driver = net::HandshakeDriver::create(credentials_, handshake_options(net::NoiseRole::initiator, d.expected));
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
  s->link = dial_ws(core_.io, *url, limits_, link_handler(s->id));
  send_frames(*s, *first);
  arm_handshake_timeout(*s);
}

void Connections::schedule_redial(Dialer& d) {
  if (core_.stopping || d.removed || d.refuses_us) return;
  std::uint64_t lo = core_.node.config.redial_min_ms, hi = core_.node.config.redial_max_ms;
  d.backoff_ms = d.backoff_ms == 0 ? lo : std::min(hi, d.backoff_ms * 2);
  // Full jitter: many nodes that lost the same partner do not redial in step.
  std::uint64_t wait = lo + std::uniform_int_distribution<std::uint64_t>(0, d.backoff_ms)(rng_);
  d.timer->expires_after(std::chrono::milliseconds(wait));
  d.timer->async_wait([this, keep = core_.alive(), url = d.url](boost::system::error_code ec) {
    if (ec) return;
    if (auto it = dialers_.find(url); it != dialers_.end()) dial(it->second);
  });
}

Connections::Dialer* Connections::dialer_for(std::uint64_t session_id) {
  for (auto& [url, d] : dialers_)
    if (d.session == session_id) return &d;
  return nullptr;
}

// ---------------------------------------------------------------- accepting

void Connections::accept(asio::ip::tcp::socket socket) {
  std::string ip;
  boost::system::error_code ec;
  auto ep = socket.remote_endpoint(ec);
  if (!ec) ip = ep.address().to_string();
  asio::post(core_.strand, [this, keep = core_.alive(), socket = std::move(socket), ip]() mutable {
    if (core_.stopping) return;
    start_accepted(std::move(socket), ip);
  });
}

void Connections::start_accepted(asio::ip::tcp::socket socket, const std::string& ip) {
  auto admitted = admission_.admit(admission_address(ip), Clock::now());
  if (admitted.verdict != Admission::Verdict::admitted) {
    const bool throttled = admitted.verdict == Admission::Verdict::throttled;
    core_.count_refusal("accept", throttled ? "throttled" : "unauthenticated_per_ip");
    log::warn(throttled ? "peer_throttled" : "peer_refused",
              {{"remote", ip},
               {"reason", throttled ? "too many connections from this address this minute"
                                    : "too many unauthenticated connections from this address"}});
    boost::system::error_code ignored;
    socket.close(ignored);
    return;
  }
  if (admitted.evicted) {
    if (Session* old = session_with_ticket(*admitted.evicted)) {
      core_.count_refusal("accept", "evicted");
      log::warn("peer_evicted", {{"remote", old->link ? old->link->remote_address() : ""},
                                 {"reason",
                                  "too many unauthenticated connections: the oldest of the busiest "
                                  "address makes room"}});
      close_session(*old, "evicted: too many unauthenticated connections");
    }
  }
  auto s = new_session(false);
  s->ticket = admitted.ticket;
  auto driver = net::HandshakeDriver::create(credentials_, handshake_options(net::NoiseRole::responder, std::nullopt));
  if (!driver.ok()) return close_session(*s, driver.error().message());
  s->driver.emplace(std::move(*driver));
  s->link = accept_ws(std::move(socket), "/sync", limits_, link_handler(s->id));
  arm_handshake_timeout(*s);
}

Connections::Session* Connections::session_with_ticket(std::uint64_t ticket) {
  for (auto& [id, s] : sessions_)
    if (s->ticket == ticket) return s.get();
  return nullptr;
}

// ---------------------------------------------------------------- handshake

net::HandshakeOptions Connections::handshake_options(net::NoiseRole role, std::optional<NodeId> expected) {
  net::HandshakeOptions o;
  o.role = role;
  o.expected_peer = expected;
  o.max_frame_bytes = core_.node.config.max_frame_bytes;
  // Runs on the node strand, where the roster lives.
  o.is_member = [this, weak = core_.anchor](const NodeId& id) {
    auto keep = weak.lock();
    return keep && linkable(id) && id != core_.node.key.public_key();
  };
  if (role == net::NoiseRole::responder)
    o.accepts_joiners = [this, weak = core_.anchor](const NodeId& id) {
      auto keep = weak.lock();
      // A removed member redialling is refused, not taken for a joiner: it
      // comes back only under a new identity, and a join exchange would look
      // like a link to it (so it would redial at once, again and again).
      return keep && !cut_off_.contains(id) && join_handler_ && join_open_ && join_open_();
    };
  if (role == net::NoiseRole::responder)
    o.is_removed = [this, weak = core_.anchor](const NodeId& id) {
      auto keep = weak.lock();
      return keep && cut_off_.contains(id);
    };
  if (identity_keys_) o.identity_key = identity_keys_;
  return o;
}

std::shared_ptr<Connections::Session> Connections::new_session(bool dialled) {
  auto s = std::make_shared<Session>();
  s->id = next_session_++;
  s->dialled = dialled;
  s->handshake_timer = std::make_unique<asio::steady_timer>(core_.strand);
  sessions_[s->id] = s;
  return s;
}

void Connections::arm_handshake_timeout(Session& s) {
  s.handshake_timer->expires_after(std::chrono::milliseconds(core_.node.config.handshake_timeout_ms));
  s.handshake_timer->async_wait([this, keep = core_.alive(), id = s.id](boost::system::error_code ec) {
    if (ec) return;
    auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second->established) return;
    core_.count_refusal("handshake", Error(Errc::protocol_error, "timeout"));
    log::warn("handshake_timeout", {{"remote", it->second->link ? it->second->link->remote_address() : ""}});
    close_session(*it->second, "handshake timeout");
  });
}

WsLink::Handler Connections::link_handler(std::uint64_t id) {
  WsLink::Handler h;
  auto weak = core_.anchor;
  h.on_open = [] {};
  h.on_frame = [this, weak, id](std::string frame) {
    if (auto keep = weak.lock())
      asio::post(core_.strand, [this, keep, id, frame = std::move(frame)] { on_frame(id, frame); });
  };
  h.on_close = [this, weak, id](const std::string& reason, CloseCause cause) {
    if (auto keep = weak.lock())
      asio::post(core_.strand, [this, keep, id, reason, cause] { on_link_closed(id, reason, cause); });
  };
  return h;
}

void Connections::send_frames(Session& s, const std::vector<std::string>& frames) {
  for (const auto& f : frames) {
    bytes_sent_.inc(f.size());
    s.link->send(f);
  }
}

void Connections::on_frame(std::uint64_t id, const std::string& frame) {
  bytes_received_.inc(frame.size());
  auto it = sessions_.find(id);
  if (it == sessions_.end() || it->second->closing) return;
  Session& s = *it->second;
  if (!s.established) return on_handshake_frame(s, frame);
  auto opened = s.channel->open(frame);
  if (!opened.ok()) {
    core_.count_refusal("frame", opened.error());
    log::warn("peer_frame_rejected", {{"peer", short_id(*s.peer)}, {"reason", opened.error().message()}});
    return close_session(s, opened.error().message());
  }
  if (opened->kind == net::FrameKind::final) return close_session(s, "peer closed the stream");
  if (opened->kind != net::FrameKind::message) return;
  board_.seen(*s.peer);
  events_->on_peer_message(*s.peer, opened->plaintext);
}

void Connections::on_handshake_frame(Session& s, const std::string& frame) {
  if (s.channel) {
    // The initiator completed first; this is the responder's stream header.
    auto opened = s.channel->open(frame);
    if (!opened.ok()) {
      core_.count_refusal("handshake", opened.error());
      return close_session(s, opened.error().message());
    }
    if (s.joining) return on_join_frame(s, *opened);
    return establish(s);
  }
  auto out = s.driver->receive(frame);
  if (!out.ok()) {
    core_.count_refusal("handshake", out.error());
    log::warn(
        "handshake_refused",
        {{"remote", s.link->remote_address()}, {"dir", s.dialled ? "out" : "in"}, {"reason", out.error().message()}});
    if (s.dialled)
      if (auto d = dialer_for(s.id)) d->last_error = out.error().message();
    if (!s.dialled && s.driver->removed_peer()) {
      // Tell it why, so that it stops redialling (docs/handshake.md section 6).
      s.close_code = kCloseRemoved;
      return close_session(s, "removed from the federation");
    }
    return close_session(s, out.error().message());
  }
  send_frames(s, *out);
  if (!s.driver->is_complete()) return;
  auto channel = s.driver->take_channel();
  if (!channel.ok()) return close_session(s, channel.error().message());
  s.peer = channel->peer();
  s.channel.emplace(std::move(*channel));
  s.joining = s.driver->joiner();
  s.driver.reset();
  if (s.joining) {
    // Not a member: only the join exchange, under the handshake deadline and
    // the Admission ticket it already holds.
    log::info("join_started", {{"joiner", short_id(*s.peer)}, {"remote", s.link->remote_address()}});
    return;
  }
  // The responder has the initiator's header still to come and may
  // establish now; the initiator waits for the responder's header.
  if (!s.dialled) establish(s);
}

void Connections::establish(Session& s) {
  const NodeId peer = *s.peer;
  s.handshake_timer->cancel();
  // One link per pair: keep the one dialled by the smaller node id.
  if (auto existing = active_.find(peer); existing != active_.end()) {
    auto& other = *sessions_.at(existing->second);
    bool mine_is_preferred = (s.dialled == (core_.node.key.public_key() < peer));
    if (!mine_is_preferred) {
      if (auto d = dialer_for(s.id)) d->backoff_ms = 0;
      return close_session(s, "duplicate link");
    }
    close_session(other, "duplicate link");
  }
  s.established = true;
  active_[peer] = s.id;
  admission_.release(std::exchange(s.ticket, 0));  // authenticated: no longer holds a slot at the door
  if (auto d = dialer_for(s.id)) {
    d->backoff_ms = 0;
    d->last_error.clear();
  }
  // A peer that refused us as removed and now links (it dialled us, or an
  // override trusts us again): dial it again once this link drops.
  for (auto& [url, d] : dialers_)
    if (d.expected == peer && d.refuses_us) {
      d.refuses_us = false;
      d.last_error.clear();
    }
  board_.connected(peer, s.dialled ? s.url : std::string());
  core_.count("conect_peer_connections_total", "Authenticated peer links established",
              {{"dir", s.dialled ? "out" : "in"}});
  log::info("peer_connected",
            {{"peer", short_id(peer)}, {"dir", s.dialled ? "out" : "in"}, {"remote", s.link->remote_address()}});
  events_->on_peer_up(peer, s.dialled);
}

void Connections::on_join_frame(Session& s, const net::OpenedFrame& frame) {
  if (frame.kind == net::FrameKind::stream_header) return;  // the joiner's header; its request follows
  if (frame.kind != net::FrameKind::message || s.join_answered) {
    core_.count_refusal("join", Error(Errc::protocol_error, "unexpected frame"));
    return close_session(s, "join: one request, then nothing");
  }
  s.join_answered = true;
  std::string response;
  if (join_handler_) {
    response = join_handler_(frame.plaintext, s.channel->handshake_hash().raw(), *s.peer);
  } else {
    v1::JoinResponse refused;
    refused.set_error("not_found");
    refused.set_detail("this node has no open invites");
    response = refused.SerializeAsString();
  }
  auto sealed = s.channel->seal(response);
  s.closing = true;
  s.link->close("join answered", sealed.ok() ? std::move(*sealed) : std::string());
}

// ---------------------------------------------------------- sending, closing

bool Connections::send(const NodeId& peer, const std::string& plaintext) {
  auto it = active_.find(peer);
  if (it == active_.end()) return false;
  Session& s = *sessions_.at(it->second);
  auto frame = s.channel->seal(plaintext);
  if (!frame.ok()) {
    log::error("seal_failed", {{"peer", short_id(peer)}, {"reason", frame.error().message()}});
    close_session(s, frame.error().message());
    return false;
  }
  bytes_sent_.inc(frame->size());
  s.link->send(std::move(*frame));
  return true;
}

bool Connections::linked(const NodeId& peer) const { return active_.contains(peer); }

void Connections::disconnect(const NodeId& peer, const std::string& reason) {
  if (auto it = active_.find(peer); it != active_.end()) close_session(*sessions_.at(it->second), reason);
}

void Connections::close_session(Session& s, const std::string& reason) {
  if (s.closing) return;
  s.closing = true;
  std::string final_frame;
  if (s.channel && s.established) {
    if (auto f = s.channel->close(); f.ok()) final_frame = std::move(*f);
  }
  if (s.link)
    s.link->close(reason, std::move(final_frame), s.close_code);
  else
    on_link_closed(s.id, reason, CloseCause::closed);
}

void Connections::on_link_closed(std::uint64_t id, const std::string& reason, CloseCause cause) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  auto s = it->second;
  sessions_.erase(it);
  s->handshake_timer->cancel();
  admission_.release(s->ticket);
  if (cause == CloseCause::send_queue_full) {
    // It asks for more than it reads, or stopped reading (ws_link.h).
    core_.count_refusal("send", "send_queue_full");
    log::warn("peer_send_queue_full",
              {{"peer", s->peer ? short_id(*s->peer) : ""}, {"remote", s->link->remote_address()}, {"reason", reason}});
  } else if (cause == CloseCause::frame_too_large) {
    core_.count_refusal("frame", "limit_exceeded");
  }
  if (s->established && s->peer) {
    active_.erase(*s->peer);
    board_.disconnected(*s->peer);
    log::info("peer_disconnected", {{"peer", short_id(*s->peer)}, {"reason", reason}});
    events_->on_peer_down(*s->peer);
    // A dialer that stood back because the peer had dialled us takes over.
    for (auto& [url, d] : dialers_)
      if (d.expected == *s->peer && d.session == 0 && d.session != id) schedule_redial(d);
  }
  // Taken only once this side has verified the peer it dialled (message 2)
  // and sent message 3, which is when a peer refuses a removed member: a
  // close frame travels outside the Noise channel, so before that anyone
  // answering at the address could send it.
  if (auto d = dialer_for(id); d && cause == CloseCause::removed && !s->established && s->channel) {
    // Once, plainly: every redial would be refused the same way.
    d->session = 0;
    d->refuses_us = true;
    d->last_error = "peer " + short_id(d->expected) + " refuses us: this node was removed from the federation";
    board_.refuses_us(d->expected, "this node was removed from the federation");
    core_.count("conect_peer_refuses_us_total", "Peers that refused this node as removed from the federation");
    log::warn("peer_refuses_us", {{"peer", short_id(d->expected)},
                                  {"url", d->url},
                                  {"reason", "this node was removed from the federation; not redialled"}});
    return;
  }
  if (auto d = dialer_for(id)) {
    d->session = 0;
    if (d->last_error.empty() || s->established) d->last_error = reason;
    if (!s->established && reason != "duplicate link") log::debug("dial_failed", {{"url", d->url}, {"reason", reason}});
    schedule_redial(*d);
  }
}

}  // namespace conect::node
