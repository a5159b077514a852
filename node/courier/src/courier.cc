#include "conect/courier/courier.h"

#include <algorithm>

#include "conect/crdt/audience.h"

namespace conect::courier {

namespace {

bool is_erased(const v1::RecordState& state, const Hash256& c) {
  for (const auto& e : state.erased())
    if (e == c.raw()) return true;
  return false;
}

std::string short_id(const NodeId& id) { return id.hex().substr(0, 16); }
std::string hex_prefix(std::string_view raw) { return to_hex(raw.substr(0, 8)); }

}  // namespace

const char* event_name(EventKind k) {
  switch (k) {
    case EventKind::envelope_sent:
      return "personal_envelope_sent";
    case EventKind::delivered:
      return "personal_data_delivered";
    case EventKind::refused_by_peer:
      return "personal_data_refused_by_peer";
    case EventKind::opened:
      return "personal_data_received";
    case EventKind::refused:
      return "personal_envelope_refused";
    case EventKind::not_sealed:
      return "personal_envelope_not_sealed";
    case EventKind::store_error:
      return "personal_data_store_error";
    case EventKind::carry_sent:
      return "personal_carry_sent";
    case EventKind::carry_accepted:
      return "personal_carry_accepted";
    case EventKind::carry_refused_by_peer:
      return "personal_carry_refused_by_peer";
    case EventKind::carry_queued:
      return "personal_carry_queued";
    case EventKind::carry_dropped:
      return "personal_carry_dropped";
    case EventKind::ack_authored:
      return "personal_data_acknowledged";
    case EventKind::later:
      return "personal_envelope_later";
    case EventKind::parked:
      return "personal_envelope_parked";
  }
  return "personal_unknown";
}

Courier::Courier(CourierConfig config, const CourierView& view, const SealKeyring& seal)
    : cfg_(std::move(config)), view_(view), seal_(seal) {}

bool Courier::is_courier_message(const v1::SyncMessage& m) {
  return m.has_personal_deliver() || m.has_personal_answer() || m.has_personal_carry() || m.has_personal_carry_answer();
}

std::string Courier::refusal_label(std::string_view answer) {
  std::string_view name = answer.substr(0, answer.find(':'));
  for (const char* r : kRefusalReasons)
    if (name == r) return r;
  return "other";
}

std::string Courier::carry_label(std::string_view answer) {
  std::string_view name = answer.substr(0, answer.find(':'));
  for (const char* r : kCarryReasons)
    if (name == r) return r;
  return "other";
}

std::size_t Courier::carries_in_flight(const NodeId& peer) const {
  auto it = links_.find(peer);
  return it == links_.end() ? 0 : it->second.carry_in_flight.size();
}

bool Courier::held_by(const Hash256& commitment, const NodeId& member) const {
  return held_.contains({commitment, member});
}

std::size_t Courier::in_flight(const NodeId& peer) const {
  auto it = links_.find(peer);
  return it == links_.end() ? 0 : it->second.in_flight.size();
}

std::optional<Action> Courier::poll() {
  if (out_.empty()) return std::nullopt;
  Action a = std::move(out_.front());
  out_.pop_front();
  return a;
}

void Courier::send(const NodeId& peer, v1::SyncMessage m) { out_.emplace_back(SendAction{peer, std::move(m)}); }

void Courier::on_peer_connected(const NodeId& peer, std::uint64_t now) {
  now_ = now;
  links_[peer] = Link{};
  scan_due_ = true;
  sweep(now);
}

void Courier::on_peer_disconnected(const NodeId& peer, std::uint64_t now) {
  now_ = now;
  links_.erase(peer);
  scan_due_ = true;  // its audience members may now need a carrier
  std::erase_if(parked_, [&](const Parked& p) { return p.peer == peer; });  // no link to answer on
}

void Courier::on_message(const NodeId& peer, const v1::SyncMessage& message, std::uint64_t now) {
  now_ = now;
  scan_due_ = true;  // an answer settles an offer or frees its slot
  if (message.has_personal_deliver()) return on_deliver(peer, message.personal_deliver());
  if (message.has_personal_answer()) return on_answer(peer, message.personal_answer());
  if (message.has_personal_carry()) return on_carry(peer, message.personal_carry());
  if (message.has_personal_carry_answer()) return on_carry_answer(peer, message.personal_carry_answer());
}

// ------------------------------------------------------------- owner side

const Courier::Sealed* Courier::envelope_for(const RecordKey& key, const Hash256& commitment,
                                             const std::set<NodeId>& audience,
                                             const std::map<NodeId, SealPublicKey>& seal_keys) {
  std::vector<SealTarget> targets;
  std::map<NodeId, SealPublicKey> recipients;
  for (const NodeId& m : audience) {
    auto k = seal_keys.find(m);
    if (k == seal_keys.end()) continue;
    targets.push_back({m, k->second});
    recipients.emplace(m, k->second);
  }
  // Sealed again when the recipients or their keys change (a widened
  // audience, a seal key announced or rotated): a new content key, the same
  // commitment.
  if (auto it = sealed_.find(commitment); it != sealed_.end() && it->second.recipients == recipients)
    return &it->second;
  if (targets.empty()) return nullptr;
  auto plaintext = view_.blob(commitment);
  if (!plaintext.ok() || !plaintext->has_value() || (*plaintext)->empty()) return nullptr;
  auto bytes = seal_envelope(**plaintext, commitment, key.owner, targets);
  if (!bytes.ok()) {
    event({.kind = EventKind::not_sealed, .record = key.text(), .detail = bytes.error().message()});
    return nullptr;
  }
  Sealed& s = sealed_[commitment];
  s.recipients = std::move(recipients);
  s.bytes = std::move(*bytes);
  return &s;
}

bool Courier::can_offer(const Link& link, std::size_t in_flight, std::optional<std::uint64_t> sent_at) const {
  (void)link;
  if (sent_at) return now_ - *sent_at >= cfg_.answer_timeout_ms;  // unanswered: offered again
  return in_flight < cfg_.max_in_flight_per_peer;
}

void Courier::sweep(std::uint64_t now) {
  now_ = now;
  retry_parked();  // answered LATER once parked for park_ms
  // Read before anything else the sweep reads: a commit landing meanwhile
  // moves it past this value, so the next sweep scans again.
  const std::uint64_t generation = view_.generation();
  // Acknowledgements whose authoring failed are asked for again.
  for (auto it = acks_.begin(); it != acks_.end();) {
    auto& [c, ack] = *it;
    auto done = view_.acknowledged(c, cfg_.self);
    if (done.ok() && *done) {
      it = acks_.erase(it);
      continue;
    }
    if (!ack.asked) {
      ack.asked = true;
      out_.emplace_back(AuthorAckAction{ack.record, c});
    }
    ++it;
  }
  // Offers unanswered for the timeout free their slot: what is still wanted
  // is offered again below, what is not (delivered elsewhere, erased,
  // dropped) must not hold a slot for ever.
  auto timed_out = [&](const auto& offer) { return now - offer.second >= cfg_.answer_timeout_ms; };
  for (auto& [peer, link] : links_)
    if (std::erase_if(link.in_flight, timed_out) + std::erase_if(link.carry_in_flight, timed_out) > 0) scan_due_ = true;
  if (links_.empty() && queue_.empty()) return;
  const NodeId& self = cfg_.self;
  auto roles = view_.member_roles();
  auto seal_keys = view_.seal_keys();
  auto own_head = view_.head_seq(self);
  if (!roles.ok() || !seal_keys.ok() || !own_head.ok()) {
    event({.kind = EventKind::store_error, .detail = "the roster, seal keys or own head could not be read"});
    return;
  }
  sweep_queue(*roles);
  if (links_.empty()) return;
  if (!scan_due_ && scanned_generation_ == generation && now - scanned_at_ < cfg_.idle_rescan_ms) return;
  scan_due_ = false;
  scanned_generation_ = generation;
  scanned_at_ = now;
  ++scans_;
  const std::uint64_t owner_seq = *own_head;
  Status scan = view_.own_records([&](const RecordKey& key, const v1::RecordState& state) {
    if (key.type != v1::MOBILITY && key.type != v1::CONTACT) return;
    auto c = personal_commitment(state);
    if (!c) return;
    if (is_erased(state, *c)) {
      sealed_.erase(*c);
      return;
    }
    std::set<NodeId> audience = personal_audience(key, state, *roles);
    const Sealed* env = nullptr;
    bool sealed_once = false;
    auto seal_once = [&] {
      if (!sealed_once) env = envelope_for(key, *c, audience, *seal_keys);
      sealed_once = true;
      return env;
    };
    for (auto& [peer, link] : links_) {
      if (!audience.contains(peer) || peer == self || link.settled.contains(*c)) continue;
      auto f = link.in_flight.find(*c);
      if (!can_offer(link, link.in_flight.size(),
                     f == link.in_flight.end() ? std::nullopt : std::optional<std::uint64_t>(f->second)))
        continue;
      if (!seal_once() || !env->recipients.contains(peer)) continue;  // no seal key announced yet
      v1::SyncMessage m;
      auto* d = m.mutable_personal_deliver();
      *d->mutable_record() = key.to_proto();
      d->set_type(key.type);
      d->set_envelope(env->bytes);
      d->set_owner_seq(owner_seq);
      send(peer, std::move(m));
      link.in_flight[*c] = now;
      event({.kind = EventKind::envelope_sent, .peer = peer, .record = key.text()});
    }
    // Audience members this node has no link to, that have not acknowledged
    // the data: carried by the linked peers.
    std::set<NodeId> unlinked;
    for (const NodeId& m : audience) {
      if (m == self || links_.contains(m) || held_by(*c, m)) continue;
      auto acked = view_.acknowledged(*c, m);
      if (acked.ok() && !*acked) unlinked.insert(m);
    }
    if (unlinked.empty() || !seal_once()) return;
    std::erase_if(unlinked, [&](const NodeId& m) { return !env->recipients.contains(m); });
    carry_for_others(key, *c, env->bytes, unlinked, owner_seq, *roles);
  });
  if (!scan.ok()) {
    scan_due_ = true;
    event({.kind = EventKind::store_error, .detail = scan.error().message()});
  }
}

void Courier::carry_for_others(const RecordKey& key, const Hash256& c, const std::string& envelope,
                               const std::set<NodeId>& recipients, std::uint64_t owner_seq,
                               const std::map<NodeId, v1::MemberRole>& roles) {
  for (const NodeId& r : recipients) {
    for (auto& [peer, link] : links_) {
      // Auditors take part in nothing personal, not even ciphertext.
      if (auto role = roles.find(peer); role == roles.end() || role->second == v1::AUDITOR) continue;
      offer_carry(peer, link, {c, r}, key, envelope, owner_seq, cfg_.carry_ttl_ms, 1, cfg_.hop_limit);
    }
  }
}

void Courier::offer_carry(const NodeId& peer, Link& link, const CarryKey& ck, const RecordKey& record,
                          const std::string& envelope, std::uint64_t owner_seq, std::uint64_t ttl_ms,
                          std::uint32_t hops, std::uint32_t hop_limit) {
  if (peer == ck.second || link.carry_settled.contains(ck) || ttl_ms == 0) return;
  auto f = link.carry_in_flight.find(ck);
  if (!can_offer(link, link.carry_in_flight.size(),
                 f == link.carry_in_flight.end() ? std::nullopt : std::optional<std::uint64_t>(f->second)))
    return;
  v1::SyncMessage m;
  auto* c = m.mutable_personal_carry();
  *c->mutable_record() = record.to_proto();
  c->set_type(record.type);
  c->set_envelope(envelope);
  c->set_owner_seq(owner_seq);
  c->set_recipient(ck.second.raw());
  c->set_ttl_ms(ttl_ms);
  c->set_hops(hops);
  c->set_hop_limit(hop_limit);
  send(peer, std::move(m));
  link.carry_in_flight[ck] = now_;
  event({.kind = EventKind::carry_sent, .peer = peer, .record = record.text(), .detail = short_id(ck.second)});
}

void Courier::on_answer(const NodeId& peer, const v1::PersonalAnswer& a) {
  auto link = links_.find(peer);
  auto c = Hash256::from_raw(a.commitment());
  if (link == links_.end() || !c) return;
  // An answer for nothing this node offered on this link changes nothing.
  if (link->second.in_flight.erase(*c) == 0) return;
  switch (a.outcome()) {
    case v1::PERSONAL_HELD:
      link->second.settled.insert(*c);
      held_.insert({*c, peer});
      event({.kind = EventKind::delivered, .peer = peer, .detail = c->hex().substr(0, 16)});
      // A relay's delivery: the recipient itself says it holds the data.
      if (queue_.contains({*c, peer})) drop({*c, peer}, "delivered", peer);
      break;
    case v1::PERSONAL_REFUSED:
      link->second.settled.insert(*c);
      event({.kind = EventKind::refused_by_peer,
             .peer = peer,
             .reason = refusal_label(a.reason()),
             .detail = c->hex().substr(0, 16) + " " + a.reason().substr(0, 200)});
      if (queue_.contains({*c, peer})) drop({*c, peer}, "refused", peer, a.reason().substr(0, 200));
      break;
    default:  // LATER: offered again at the next sweep, which the node may bring forward
      event({.kind = EventKind::later, .peer = peer});
      break;
  }
}

// --------------------------------------------------------- recipient side

void Courier::answer(const NodeId& peer, const std::string& commitment, v1::PersonalOutcome outcome,
                     const std::string& reason) {
  v1::SyncMessage m;
  auto* a = m.mutable_personal_answer();
  a->set_commitment(commitment.substr(0, 32));
  a->set_outcome(outcome);
  a->set_reason(reason);
  send(peer, std::move(m));
}

void Courier::refuse(const NodeId& peer, const std::string& commitment, const std::string& reason,
                     const std::string& owner, const std::string& record, const std::string& detail) {
  event(
      {.kind = EventKind::refused, .peer = peer, .owner = owner, .record = record, .reason = reason, .detail = detail});
  answer(peer, commitment, v1::PERSONAL_REFUSED, reason + ": " + detail);
}

void Courier::on_deliver(const NodeId& peer, const v1::PersonalDeliver& d, std::optional<std::uint64_t> parked_since) {
  auto key = RecordKey::from_proto(d.type(), d.record());
  auto parsed = parse_envelope(d.envelope());
  std::string claimed = d.envelope().size() >= envelope::kHeaderBytes ? d.envelope().substr(4, 32) : std::string();
  const std::string owner = key ? short_id(key->owner) : hex_prefix(d.record().owner());
  const std::string record = key ? key->text() : std::string("(malformed id)");
  if (!key || (d.type() != v1::MOBILITY && d.type() != v1::CONTACT))
    return refuse(peer, claimed, "malformed", owner, record, "the delivery names no mobility or contact");
  if (auto* e = std::get_if<EnvelopeError>(&parsed))
    return refuse(peer, claimed, "malformed", owner, record, e->detail);
  const Envelope& env = std::get<Envelope>(parsed);
  auto held_seq = view_.head_seq(key->owner);
  if (!held_seq.ok()) {  // a store error: the sender offers again
    return event({.kind = EventKind::store_error, .record = record, .detail = held_seq.error().message()});
  }
  if (*held_seq < d.owner_seq())
    return not_yet(peer, d, parked_since, claimed, owner, record,
                   "this node has not caught up with the owner's log yet");
  auto state = view_.record(*key);
  if (!state.ok()) return event({.kind = EventKind::store_error, .record = record, .detail = state.error().message()});
  if (!state->has_value())
    return not_yet(peer, d, parked_since, claimed, owner, record, "the record has not arrived here yet");
  auto c = personal_commitment(**state);
  if (!c) return refuse(peer, claimed, "wrong_record", owner, record, "the record carries no personal data");
  if (is_erased(**state, *c)) return refuse(peer, claimed, "erased", owner, record, "its owner erased this data");
  if (env.commitment != *c || env.owner != key->owner)
    return refuse(peer, claimed, "wrong_record", owner, record,
                  "the envelope names another commitment or owner than the signed record");
  auto held = view_.blob(*c);
  if (held.ok() && held->has_value() && (*held)->empty())
    return refuse(peer, claimed, "erased", owner, record, "its owner erased this data");
  auto member_roles = view_.member_roles();
  std::map<NodeId, v1::MemberRole> roles = member_roles.ok() ? *member_roles : std::map<NodeId, v1::MemberRole>{};
  if (!personal_audience(*key, **state, roles).contains(cfg_.self))
    return refuse(
        peer, claimed, "not_in_audience", owner, record,
        "the signed record's audience is " + audience_description(*key, **state) + "; this node is not in it");
  // Every envelope is opened and checked, even for data already held, so a
  // forgery is refused and counted whenever it comes.
  auto opened = open_envelope(env, cfg_.self, seal_, *c, key->owner);
  if (auto* e = std::get_if<EnvelopeError>(&opened))
    return refuse(peer, claimed, envelope_fault_name(e->fault), owner, record, e->detail);
  if (held.ok() && held->has_value()) {
    want_ack(*key, *c);
    return answer(peer, claimed, v1::PERSONAL_HELD);
  }
  const std::uint64_t id = next_store_id_++;
  stores_[id] = PendingStore{peer, *key, claimed};
  out_.emplace_back(StoreBlobAction{id, *key, *c, std::move(std::get<std::string>(opened)), peer});
}

// The envelope and the record's delta leave the owner together, and the
// envelope, checked on the network strand, overtakes the delta waiting for
// this node's writer: answered LATER at once, it would come back only after
// the sender's retry timer. Parked, it is opened right after the batch that
// carries the record commits.
void Courier::not_yet(const NodeId& peer, const v1::PersonalDeliver& d, std::optional<std::uint64_t> parked_since,
                      const std::string& claimed, const std::string& owner, const std::string& record,
                      const char* reason) {
  const bool expired = parked_since && now_ - *parked_since >= cfg_.park_ms;
  std::size_t count = 0, bytes = d.envelope().size();
  for (const Parked& p : parked_)
    if (p.peer == peer) ++count, bytes += p.deliver.envelope().size();
  if (expired || !links_.contains(peer) || count >= cfg_.max_parked_per_peer || bytes > cfg_.max_parked_bytes_per_peer)
    return answer(peer, claimed, v1::PERSONAL_LATER, reason);
  if (!parked_since) event({.kind = EventKind::parked, .peer = peer, .owner = owner, .record = record});
  parked_.push_back({peer, d, parked_since.value_or(now_)});
}

void Courier::retry_parked() {
  auto waiting = std::move(parked_);
  parked_.clear();
  for (auto& p : waiting) on_deliver(p.peer, p.deliver, p.since);
}

void Courier::on_applied(std::uint64_t now) {
  now_ = now;
  retry_parked();
}

void Courier::on_blob_stored(std::uint64_t store_id, const Status& outcome, std::uint64_t now) {
  now_ = now;
  scan_due_ = true;
  auto it = stores_.find(store_id);
  if (it == stores_.end()) return;
  PendingStore p = std::move(it->second);
  stores_.erase(it);
  const std::string owner = short_id(p.key.owner), record = p.key.text();
  if (!outcome.ok()) {
    // A tombstone written meanwhile (the erasure arrived first) refuses it.
    if (outcome.error().is(Errc::not_authorised))
      return refuse(p.peer, p.claimed, "erased", owner, record, "its owner erased this data");
    // Not answered: the sender offers again after its timeout.
    return event({.kind = EventKind::store_error, .record = record, .detail = outcome.error().message()});
  }
  event({.kind = EventKind::opened, .peer = p.peer, .owner = owner, .record = record, .key = p.key});
  answer(p.peer, p.claimed, v1::PERSONAL_HELD);
  if (auto c = Hash256::from_raw(p.claimed)) want_ack(p.key, *c);
}

void Courier::want_ack(const RecordKey& record, const Hash256& commitment) {
  if (acks_.contains(commitment)) return;
  auto done = view_.acknowledged(commitment, cfg_.self);
  if (done.ok() && *done) return;
  acks_[commitment] = Ack{record, true};
  out_.emplace_back(AuthorAckAction{record, commitment});
}

void Courier::on_ack_authored(const Hash256& commitment, const Status& outcome, std::uint64_t now) {
  now_ = now;
  scan_due_ = true;
  auto it = acks_.find(commitment);
  if (it == acks_.end()) return;
  if (!outcome.ok()) {
    // Asked for again at the next sweep (a store fenced after a restore
    // authors nothing for a while: no event, the daemon logs at debug).
    it->second.asked = false;
    return;
  }
  event({.kind = EventKind::ack_authored, .record = it->second.record.text()});
  acks_.erase(it);
}

// ------------------------------------------------------------- relay side

void Courier::drop(const CarryKey& key, const std::string& reason, const NodeId& peer, const std::string& detail) {
  auto it = queue_.find(key);
  if (it == queue_.end()) return;
  queue_bytes_ -= it->second.envelope.size();
  event({.kind = EventKind::carry_dropped,
         .peer = peer,
         .owner = short_id(it->second.record.owner),
         .record = it->second.record.text(),
         .reason = reason,
         .detail = detail.empty() ? "for " + short_id(key.second) : detail});
  queue_.erase(it);
}

void Courier::refuse_carry(const NodeId& peer, const v1::PersonalCarry& c, const std::string& reason,
                           const std::string& record, const std::string& detail) {
  event({.kind = EventKind::carry_dropped, .peer = peer, .record = record, .reason = reason, .detail = detail});
  v1::SyncMessage m;
  auto* a = m.mutable_personal_carry_answer();
  a->set_commitment(c.envelope().size() >= envelope::kHeaderBytes ? c.envelope().substr(4, 32) : std::string());
  a->set_recipient(c.recipient().substr(0, 32));
  a->set_outcome(v1::CARRY_REFUSED);
  a->set_reason(reason + ": " + detail);
  send(peer, std::move(m));
}

void Courier::on_carry(const NodeId& peer, const v1::PersonalCarry& c) {
  auto key = RecordKey::from_proto(c.type(), c.record());
  const std::string record = key ? key->text() : std::string("(malformed id)");
  if (!key || (c.type() != v1::MOBILITY && c.type() != v1::CONTACT))
    return refuse_carry(peer, c, "malformed", record, "the carry names no mobility or contact");
  auto parsed = parse_envelope(c.envelope());
  if (auto* e = std::get_if<EnvelopeError>(&parsed)) return refuse_carry(peer, c, "malformed", record, e->detail);
  const Envelope& env = std::get<Envelope>(parsed);
  auto recipient = NodeId::from_raw(c.recipient());
  if (!recipient) return refuse_carry(peer, c, "malformed", record, "the recipient is not a 32-byte member id");
  if (env.owner != key->owner)
    return refuse_carry(peer, c, "malformed", record, "the envelope names another owner than the record");
  if (std::none_of(env.slots.begin(), env.slots.end(), [&](const EnvelopeSlot& s) { return s.member == *recipient; }))
    return refuse_carry(peer, c, "malformed", record, "the envelope has no slot for its recipient");
  if (c.hops() == 0 || c.hop_limit() == 0 || c.hop_limit() > kMaxHopLimit || c.ttl_ms() > kMaxCarryTtlMs)
    return refuse_carry(peer, c, "malformed", record,
                        "hops, hop limit (1.." + std::to_string(kMaxHopLimit) + ") or time-to-live out of range");
  if (c.hops() > c.hop_limit())
    return refuse_carry(peer, c, "hop_limit", record,
                        "hop " + std::to_string(c.hops()) + " past the limit of " + std::to_string(c.hop_limit()));
  if (c.ttl_ms() == 0) return refuse_carry(peer, c, "expired", record, "its time-to-live ran out");
  if (*recipient == cfg_.self)
    return refuse_carry(peer, c, "recipient", record, "this node is the recipient: deliver it instead");
  if (key->owner == cfg_.self) return refuse_carry(peer, c, "owner", record, "this node owns the record");
  const CarryKey ck{env.commitment, *recipient};
  auto state = view_.record(*key);
  if (state.ok() && state->has_value()) {
    auto committed = personal_commitment(**state);
    if (committed && *committed != env.commitment)
      return refuse_carry(peer, c, "malformed", record, "the envelope names another commitment than the signed record");
    if (is_erased(**state, env.commitment))
      return refuse_carry(peer, c, "erased", record, "its owner erased this data");
  }
  auto acked = view_.acknowledged(env.commitment, *recipient);
  if ((acked.ok() && *acked) || held_by(env.commitment, *recipient))
    return refuse_carry(peer, c, "acknowledged", record, "the recipient already holds it");
  if (auto held = queue_.find(ck); held != queue_.end()) {
    // Carried here already: keep the wider of the two bounds.
    held->second.hops = std::min(held->second.hops, c.hops());
    held->second.deadline = std::max(held->second.deadline, now_ + c.ttl_ms());
  } else {
    if (queue_.size() >= cfg_.max_carried || queue_bytes_ + c.envelope().size() > cfg_.max_carried_bytes)
      return refuse_carry(peer, c, "queue_full", record,
                          "this relay carries " + std::to_string(queue_.size()) + " envelopes already");
    queue_bytes_ += c.envelope().size();
    queue_[ck] = Carried{*key, c.envelope(), c.owner_seq(), now_ + c.ttl_ms(), c.hops(), c.hop_limit(), peer};
    event({.kind = EventKind::carry_queued,
           .peer = peer,
           .owner = short_id(key->owner),
           .record = record,
           .detail = "for " + short_id(*recipient)});
  }
  v1::SyncMessage m;
  auto* a = m.mutable_personal_carry_answer();
  a->set_commitment(env.commitment.raw());
  a->set_recipient(recipient->raw());
  a->set_outcome(v1::CARRY_ACCEPTED);
  send(peer, std::move(m));
  // Passed on at once when the recipient (or another relay) is linked.
  if (auto roles = view_.member_roles(); roles.ok()) sweep_queue(*roles);
}

void Courier::on_carry_answer(const NodeId& peer, const v1::PersonalCarryAnswer& a) {
  auto link = links_.find(peer);
  auto c = Hash256::from_raw(a.commitment());
  auto r = NodeId::from_raw(a.recipient());
  if (link == links_.end() || !c || !r) return;
  const CarryKey ck{*c, *r};
  auto f = link->second.carry_in_flight.find(ck);
  if (f == link->second.carry_in_flight.end()) return;  // nothing offered on this link
  const std::uint64_t sent_at = f->second;
  link->second.carry_in_flight.erase(f);
  const std::string label = a.outcome() == v1::CARRY_ACCEPTED ? std::string() : carry_label(a.reason());
  if (label == "queue_full") {
    // A full relay may have room later: offered again after the answer
    // timeout, like an unanswered offer, instead of settled for the link.
    link->second.carry_in_flight[ck] = sent_at;
  } else {
    link->second.carry_settled.insert(ck);
  }
  if (a.outcome() == v1::CARRY_ACCEPTED) {
    event({.kind = EventKind::carry_accepted, .peer = peer, .detail = "for " + short_id(*r)});
  } else {
    event(
        {.kind = EventKind::carry_refused_by_peer, .peer = peer, .reason = label, .detail = a.reason().substr(0, 200)});
  }
}

void Courier::sweep_queue(const std::map<NodeId, v1::MemberRole>& roles) {
  for (auto it = queue_.begin(); it != queue_.end();) {
    const CarryKey ck = it->first;
    Carried& e = it->second;
    ++it;  // drop() erases ck only
    const auto& [c, r] = ck;
    if (now_ >= e.deadline) {
      drop(ck, "expired", e.from, "its time-to-live ran out before the recipient was reached");
      continue;
    }
    auto acked = view_.acknowledged(c, r);
    if ((acked.ok() && *acked) || held_by(c, r)) {
      drop(ck, "acknowledged", r);
      continue;
    }
    auto state = view_.record(e.record);
    auto blob = view_.blob(c);
    if ((state.ok() && state->has_value() && is_erased(**state, c)) ||
        (blob.ok() && blob->has_value() && (*blob)->empty())) {
      drop(ck, "erased", e.from);
      continue;
    }
    if (auto l = links_.find(r); l != links_.end()) {
      Link& link = l->second;
      if (link.settled.contains(c)) continue;
      auto f = link.in_flight.find(c);
      if (!can_offer(link, link.in_flight.size(),
                     f == link.in_flight.end() ? std::nullopt : std::optional<std::uint64_t>(f->second)))
        continue;
      v1::SyncMessage m;
      auto* d = m.mutable_personal_deliver();
      *d->mutable_record() = e.record.to_proto();
      d->set_type(e.record.type);
      d->set_envelope(e.envelope);
      d->set_owner_seq(e.owner_seq);
      send(r, std::move(m));
      link.in_flight[c] = now_;
      event({.kind = EventKind::envelope_sent, .peer = r, .record = e.record.text()});
      continue;
    }
    if (e.hops >= e.hop_limit) continue;  // only the recipient itself may take it from here
    for (auto& [peer, link] : links_) {
      // Back to the peer it came from too: that peer may have lost it (a
      // restart empties a queue), and if not it answers ACCEPTED at once.
      // Each link is offered a carry once per link (settled by the answer),
      // and the hop limit bounds how far it spreads.
      if (peer == e.record.owner) continue;
      if (auto role = roles.find(peer); role == roles.end() || role->second == v1::AUDITOR) continue;
      offer_carry(peer, link, ck, e.record, e.envelope, e.owner_seq, e.deadline - now_, e.hops + 1, e.hop_limit);
    }
  }
}

}  // namespace conect::courier
