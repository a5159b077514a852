#include "courier.h"

#include <variant>

#include "conect/node/log.h"

namespace conect::node {

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

}  // namespace

// The courier's reads, from the node's store.
class Courier::StoreView final : public courier::CourierView {
 public:
  StoreView(DaemonCore& core) : core_(core) {}

  Result<std::uint64_t> head_seq(const NodeId& origin) const override {
    auto h = core_.store.head(origin);
    if (!h.ok()) return h.error();
    return h->has_value() ? (*h)->seq.value : 0;
  }
  Result<std::optional<v1::RecordState>> record(const RecordKey& key) const override { return core_.store.record(key); }
  Result<std::optional<std::string>> blob(const Hash256& commitment) const override {
    return core_.store.blob(commitment);
  }
  Result<std::map<NodeId, v1::MemberRole>> member_roles() const override { return core_.store.member_roles(); }
  Result<std::map<NodeId, SealPublicKey>> seal_keys() const override { return core_.store.seal_keys(); }
  Status own_records(const RecordVisitor& visit) const override {
    const NodeId self = core_.node.key.public_key();
    for (auto type : {v1::MOBILITY, v1::CONTACT}) {
      std::string cursor;
      do {
        auto page = core_.store.list(type, cursor, 256,
                                     [&](const RecordKey& k, const v1::RecordState&) { return k.owner == self; });
        if (!page.ok()) return page.error();
        for (const auto& [key, state] : page->items) visit(key, state);
        cursor = page->next_cursor;
      } while (!cursor.empty());
    }
    return {};
  }

 private:
  DaemonCore& core_;
};

Courier::Courier(DaemonCore& core, Connections& connections, const SealKeyring& seal)
    : core_(core),
      connections_(connections),
      view_(std::make_unique<StoreView>(core)),
      machine_(courier::CourierConfig{.self = core.node.key.public_key()}, *view_, seal) {
  // Every series at 0 from the start, so a dashboard or an alert on a rate
  // sees the series before the first envelope.
  core_.metrics.counter(kSent, kSentHelp);
  core_.metrics.counter(kDelivered, kDeliveredHelp);
  core_.metrics.counter(kOpened, kOpenedHelp);
  for (const char* r : courier::Courier::kRefusalReasons) {
    core_.metrics.counter(kRefused, kRefusedHelp, {{"reason", r}});
    core_.metrics.counter(kRefusedByPeer, kRefusedByPeerHelp, {{"reason", r}});
  }
  core_.metrics.counter(kRefusedByPeer, kRefusedByPeerHelp, {{"reason", "other"}});
}

Courier::~Courier() = default;

void Courier::on_peer_up(const NodeId& peer) {
  if (core_.stopping) return;
  machine_.on_peer_connected(peer, core_.now());
  drain();
}

void Courier::on_peer_down(const NodeId& peer) {
  machine_.on_peer_disconnected(peer, core_.now());
  drain();
}

void Courier::on_message(const NodeId& peer, const v1::SyncMessage& message) {
  machine_.on_message(peer, message, core_.now());
  drain();
}

void Courier::sweep() {
  if (core_.stopping) return;
  machine_.sweep(core_.now());
  drain();
}

// Carries out what the machine asked for, in order; a store outcome is
// reported back at once (Store::put_blob is one short transaction).
void Courier::drain() {
  while (auto action = machine_.poll()) {
    if (auto* s = std::get_if<courier::SendAction>(&*action)) {
      connections_.send(s->peer, s->message.SerializeAsString());
    } else if (auto* b = std::get_if<courier::StoreBlobAction>(&*action)) {
      Status st = core_.store.put_blob(b->commitment, b->plaintext);
      machine_.on_blob_stored(b->store_id, st, core_.now());
    } else if (auto* e = std::get_if<courier::Event>(&*action)) {
      using courier::EventKind;
      const char* name = courier::event_name(e->kind);
      switch (e->kind) {
        case EventKind::envelope_sent:
          core_.count(kSent, kSentHelp);
          break;
        case EventKind::delivered:
          core_.count(kDelivered, kDeliveredHelp);
          log::info(name, {{"peer", short_id(e->peer)}, {"commitment", e->detail}});
          break;
        case EventKind::refused_by_peer:
          core_.count(kRefusedByPeer, kRefusedByPeerHelp, {{"reason", e->reason}});
          log::warn(name, {{"peer", short_id(e->peer)}, {"reason", e->reason}, {"detail", e->detail}});
          break;
        case EventKind::opened:
          core_.count(kOpened, kOpenedHelp);
          log::info(name, {{"peer", short_id(e->peer)}, {"owner", e->owner}, {"record", e->record}});
          if (on_stored_ && e->key) on_stored_(*e->key);
          break;
        case EventKind::refused:
          core_.count(kRefused, kRefusedHelp, {{"reason", e->reason}});
          log::warn(name, {{"peer", short_id(e->peer)},
                           {"owner", e->owner},
                           {"record", e->record},
                           {"reason", e->reason},
                           {"detail", e->detail}});
          break;
        case EventKind::not_sealed:
        case EventKind::store_error:
          log::warn(name, {{"record", e->record}, {"detail", e->detail}});
          break;
      }
    }
  }
}

}  // namespace conect::node
