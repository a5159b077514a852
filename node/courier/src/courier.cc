#include "conect/courier/courier.h"

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
  }
  return "personal_unknown";
}

Courier::Courier(CourierConfig config, const CourierView& view, const SealKeyring& seal)
    : cfg_(std::move(config)), view_(view), seal_(seal) {}

bool Courier::is_courier_message(const v1::SyncMessage& m) {
  return m.has_personal_deliver() || m.has_personal_answer();
}

std::string Courier::refusal_label(std::string_view answer) {
  std::string_view name = answer.substr(0, answer.find(':'));
  for (const char* r : kRefusalReasons)
    if (name == r) return r;
  return "other";
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
  sweep(now);
}

void Courier::on_peer_disconnected(const NodeId& peer, std::uint64_t now) {
  now_ = now;
  links_.erase(peer);
}

void Courier::on_message(const NodeId& peer, const v1::SyncMessage& message, std::uint64_t now) {
  now_ = now;
  if (message.has_personal_deliver()) return on_deliver(peer, message.personal_deliver());
  if (message.has_personal_answer()) return on_answer(peer, message.personal_answer());
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

void Courier::sweep(std::uint64_t now) {
  now_ = now;
  if (links_.empty()) return;
  const NodeId& self = cfg_.self;
  auto roles = view_.member_roles();
  auto seal_keys = view_.seal_keys();
  auto own_head = view_.head_seq(self);
  if (!roles.ok() || !seal_keys.ok() || !own_head.ok()) {
    event({.kind = EventKind::store_error, .detail = "the roster, seal keys or own head could not be read"});
    return;
  }
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
    for (auto& [peer, link] : links_) {
      if (!audience.contains(peer) || peer == self || link.settled.contains(*c)) continue;
      if (auto f = link.in_flight.find(*c); f != link.in_flight.end() && now - f->second < cfg_.answer_timeout_ms)
        continue;
      if (link.in_flight.size() >= cfg_.max_in_flight_per_peer && !link.in_flight.contains(*c)) continue;
      if (!sealed_once) {
        env = envelope_for(key, *c, audience, *seal_keys);
        sealed_once = true;
      }
      if (!env || !env->recipients.contains(peer)) continue;  // no seal key announced yet
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
  });
  if (!scan.ok()) event({.kind = EventKind::store_error, .detail = scan.error().message()});
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
      event({.kind = EventKind::delivered, .peer = peer, .detail = c->hex().substr(0, 16)});
      break;
    case v1::PERSONAL_REFUSED:
      link->second.settled.insert(*c);
      event({.kind = EventKind::refused_by_peer,
             .peer = peer,
             .reason = refusal_label(a.reason()),
             .detail = c->hex().substr(0, 16) + " " + a.reason().substr(0, 200)});
      break;
    default:  // LATER: offered again at the next sweep
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

void Courier::on_deliver(const NodeId& peer, const v1::PersonalDeliver& d) {
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
    return answer(peer, claimed, v1::PERSONAL_LATER, "this node has not caught up with the owner's log yet");
  auto state = view_.record(*key);
  if (!state.ok()) return event({.kind = EventKind::store_error, .record = record, .detail = state.error().message()});
  if (!state->has_value()) return answer(peer, claimed, v1::PERSONAL_LATER, "the record has not arrived here yet");
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
  if (held.ok() && held->has_value()) return answer(peer, claimed, v1::PERSONAL_HELD);
  const std::uint64_t id = next_store_id_++;
  stores_[id] = PendingStore{peer, *key, claimed};
  out_.emplace_back(StoreBlobAction{id, *key, *c, std::move(std::get<std::string>(opened)), peer});
}

void Courier::on_blob_stored(std::uint64_t store_id, const Status& outcome, std::uint64_t now) {
  now_ = now;
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
}

}  // namespace conect::courier
