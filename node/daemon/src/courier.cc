#include "courier.h"

#include <variant>

#include "conect/crdt/audience.h"
#include "conect/node/log.h"

namespace conect::node {

namespace {

bool is_erased(const v1::RecordState& state, const Hash256& c) {
  for (const auto& e : state.erased())
    if (e == c.raw()) return true;
  return false;
}

std::string hex_prefix(std::string_view raw) { return to_hex(raw.substr(0, 8)); }

}  // namespace

namespace {

constexpr const char* kSent = "conect_personal_envelopes_sent_total";
constexpr const char* kSentHelp = "Envelopes of personal data sent to audience members";
constexpr const char* kDelivered = "conect_personal_envelopes_delivered_total";
constexpr const char* kDeliveredHelp = "Envelopes of personal data an audience member answered it holds";
constexpr const char* kRefusedByPeer = "conect_personal_envelopes_refused_by_peer_total";
constexpr const char* kRefusedByPeerHelp =
    "Envelopes of personal data this node sent that the recipient refused, by reason";
constexpr const char* kOpened = "conect_personal_envelopes_opened_total";
constexpr const char* kOpenedHelp = "Envelopes of personal data opened, checked and stored";
constexpr const char* kRefused = "conect_personal_envelopes_refused_total";
constexpr const char* kRefusedHelp = "Envelopes of personal data refused, by reason";

// The reason a recipient gave ("reason: detail"), as a label value: one of
// Courier::kRefusalReasons, else "other".
std::string refusal_label(std::string_view answer) {
  std::string_view name = answer.substr(0, answer.find(':'));
  for (const char* r : Courier::kRefusalReasons)
    if (name == r) return r;
  return "other";
}

}  // namespace

Courier::Courier(DaemonCore& core, Connections& connections, const SealKeyring& seal)
    : core_(core), connections_(connections), seal_(seal) {
  // Every series at 0 from the start, so a dashboard or an alert on a rate
  // sees the series before the first envelope.
  core_.metrics.counter(kSent, kSentHelp);
  core_.metrics.counter(kDelivered, kDeliveredHelp);
  core_.metrics.counter(kOpened, kOpenedHelp);
  for (const char* r : kRefusalReasons) {
    core_.metrics.counter(kRefused, kRefusedHelp, {{"reason", r}});
    core_.metrics.counter(kRefusedByPeer, kRefusedByPeerHelp, {{"reason", r}});
  }
  core_.metrics.counter(kRefusedByPeer, kRefusedByPeerHelp, {{"reason", "other"}});
}

void Courier::on_peer_up(const NodeId& peer) {
  links_[peer] = Link{};
  sweep();
}

void Courier::on_peer_down(const NodeId& peer) { links_.erase(peer); }

void Courier::on_message(const NodeId& peer, const v1::SyncMessage& message) {
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
  // Re-sealed when the recipients or their keys change (a widened audience,
  // a seal key announced or rotated): a new content key, the same commitment.
  if (auto it = sealed_.find(commitment); it != sealed_.end() && it->second.recipients == recipients)
    return &it->second;
  if (targets.empty()) return nullptr;
  auto plaintext = core_.store.blob(commitment);
  if (!plaintext.ok() || !plaintext->has_value() || (*plaintext)->empty()) return nullptr;
  auto bytes = seal_envelope(**plaintext, commitment, key.owner, targets);
  if (!bytes.ok()) {
    log::warn("personal_envelope_not_sealed", {{"record", key.text()}, {"detail", bytes.error().message()}});
    return nullptr;
  }
  Sealed& s = sealed_[commitment];
  s.recipients = std::move(recipients);
  s.bytes = std::move(*bytes);
  return &s;
}

void Courier::sweep() {
  if (core_.stopping || links_.empty()) return;
  const NodeId self = core_.node.key.public_key();
  auto roles = core_.store.member_roles();
  auto seal_keys = core_.store.seal_keys();
  if (!roles.ok() || !seal_keys.ok()) return;
  const std::uint64_t now = core_.now();
  auto own_head = core_.store.head(self);
  const std::uint64_t owner_seq = own_head.ok() && own_head->has_value() ? (*own_head)->seq.value : 0;
  for (auto type : {v1::MOBILITY, v1::CONTACT}) {
    std::string cursor;
    do {
      auto page = core_.store.list(type, cursor, 256,
                                   [&](const RecordKey& k, const v1::RecordState&) { return k.owner == self; });
      if (!page.ok()) return;
      for (const auto& [key, state] : page->items) {
        auto c = personal_commitment(state);
        if (!c) continue;
        if (is_erased(state, *c)) {
          sealed_.erase(*c);
          continue;
        }
        std::set<NodeId> audience = personal_audience(key, state, *roles);
        const Sealed* env = nullptr;
        bool sealed_once = false;
        for (auto& [peer, link] : links_) {
          if (!audience.contains(peer) || peer == self || link.settled.contains(*c)) continue;
          if (auto f = link.in_flight.find(*c); f != link.in_flight.end() && now - f->second < kAnswerTimeoutMs)
            continue;
          if (link.in_flight.size() >= kMaxInFlightPerPeer) continue;
          if (!sealed_once) {
            env = envelope_for(key, *c, audience, *seal_keys);
            sealed_once = true;
          }
          if (!env || !env->recipients.contains(peer)) continue;  // no seal key announced yet
          v1::SyncMessage m;
          auto* d = m.mutable_personal_deliver();
          *d->mutable_record() = key.to_proto();
          d->set_type(type);
          d->set_envelope(env->bytes);
          d->set_owner_seq(owner_seq);
          if (!connections_.send(peer, m.SerializeAsString())) continue;
          link.in_flight[*c] = now;
          core_.count(kSent, kSentHelp);
        }
      }
      cursor = page->next_cursor;
    } while (!cursor.empty());
  }
}

void Courier::on_answer(const NodeId& peer, const v1::PersonalAnswer& a) {
  auto link = links_.find(peer);
  auto c = Hash256::from_raw(a.commitment());
  if (link == links_.end() || !c) return;
  link->second.in_flight.erase(*c);
  switch (a.outcome()) {
    case v1::PERSONAL_HELD:
      link->second.settled.insert(*c);
      core_.count(kDelivered, kDeliveredHelp);
      log::info("personal_data_delivered", {{"peer", short_id(peer)}, {"commitment", c->hex().substr(0, 16)}});
      break;
    case v1::PERSONAL_REFUSED:
      link->second.settled.insert(*c);
      core_.count(kRefusedByPeer, kRefusedByPeerHelp, {{"reason", refusal_label(a.reason())}});
      log::warn(
          "personal_data_refused_by_peer",
          {{"peer", short_id(peer)}, {"commitment", c->hex().substr(0, 16)}, {"reason", a.reason().substr(0, 200)}});
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
  connections_.send(peer, m.SerializeAsString());
}

void Courier::refuse(const NodeId& peer, const std::string& commitment, const std::string& reason,
                     const std::string& owner, const std::string& record, const std::string& detail) {
  core_.count(kRefused, kRefusedHelp, {{"reason", reason}});
  log::warn("personal_envelope_refused",
            {{"peer", short_id(peer)}, {"owner", owner}, {"record", record}, {"reason", reason}, {"detail", detail}});
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
  auto owner_head = core_.store.head(key->owner);
  if (!owner_head.ok()) return;  // a store error: the owner offers again
  const std::uint64_t held_seq = owner_head->has_value() ? (*owner_head)->seq.value : 0;
  if (held_seq < d.owner_seq())
    return answer(peer, claimed, v1::PERSONAL_LATER, "this node has not caught up with the owner's log yet");
  auto state = core_.store.record(*key);
  if (!state.ok()) return;  // a store error: the owner offers again
  if (!state->has_value()) return answer(peer, claimed, v1::PERSONAL_LATER, "the record has not arrived here yet");
  auto c = personal_commitment(**state);
  if (!c) return refuse(peer, claimed, "wrong_record", owner, record, "the record carries no personal data");
  if (is_erased(**state, *c)) return refuse(peer, claimed, "erased", owner, record, "its owner erased this data");
  if (env.commitment != *c || env.owner != key->owner)
    return refuse(peer, claimed, "wrong_record", owner, record,
                  "the envelope names another commitment or owner than the signed record");
  auto held = core_.store.blob(*c);
  if (held.ok() && held->has_value() && (*held)->empty())
    return refuse(peer, claimed, "erased", owner, record, "its owner erased this data");
  const NodeId self = core_.node.key.public_key();
  auto member_roles = core_.store.member_roles();
  std::map<NodeId, v1::MemberRole> roles = member_roles.ok() ? *member_roles : std::map<NodeId, v1::MemberRole>{};
  if (!personal_audience(*key, **state, roles).contains(self))
    return refuse(
        peer, claimed, "not_in_audience", owner, record,
        "the signed record's audience is " + audience_description(*key, **state) + "; this node is not in it");
  // Every envelope is opened and checked, even for data already held, so a
  // forgery is refused and counted whenever it comes.
  auto opened = open_envelope(env, self, seal_, *c, key->owner);
  if (auto* e = std::get_if<EnvelopeError>(&opened))
    return refuse(peer, claimed, envelope_fault_name(e->fault), owner, record, e->detail);
  if (held.ok() && held->has_value()) return answer(peer, claimed, v1::PERSONAL_HELD);
  Status st = core_.store.put_blob(*c, std::get<std::string>(opened));
  if (!st.ok()) {
    if (st.error().is(Errc::not_authorised))
      return refuse(peer, claimed, "erased", owner, record, "its owner erased this data");
    log::warn("personal_data_not_stored", {{"record", record}, {"detail", st.error().message()}});
    return;
  }
  core_.count(kOpened, kOpenedHelp);
  log::info("personal_data_received", {{"peer", short_id(peer)}, {"owner", owner}, {"record", record}});
  answer(peer, claimed, v1::PERSONAL_HELD);
  if (on_stored_) on_stored_(*key);
}

}  // namespace conect::node
