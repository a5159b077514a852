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
constexpr const char* kCarrySent = "conect_personal_carry_sent_total";
constexpr const char* kCarrySentHelp = "Envelopes of personal data handed to a relay to carry (as owner or relay)";
constexpr const char* kCarryQueued = "conect_personal_carry_queued_total";
constexpr const char* kCarryQueuedHelp = "Envelopes of personal data this node took into its relay queue";
constexpr const char* kCarryDropped = "conect_personal_carry_dropped_total";
constexpr const char* kCarryDroppedHelp =
    "Carried envelopes this relay did not take or no longer keeps, by reason (delivered and acknowledged included)";
constexpr const char* kCarryRefusedByPeer = "conect_personal_carry_refused_by_peer_total";
constexpr const char* kCarryRefusedByPeerHelp = "Envelopes a relay refused to carry for this node, by reason";
constexpr const char* kAcks = "conect_personal_envelope_acks_total";
constexpr const char* kAcksHelp = "Acknowledgements of held personal data authored in this node's log";

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
  Result<bool> acknowledged(const Hash256& commitment, const NodeId& member) const override {
    return core_.store.envelope_acknowledged(commitment, member);
  }
  Status own_records(const RecordVisitor& visit) const override {
    const NodeId self = core_.node.key.public_key();
    for (auto type : {v1::MOBILITY, v1::CONTACT}) {
      std::string cursor;
      do {
        auto page = core_.store.list_owned(type, self, cursor, 256);
        if (!page.ok()) return page.error();
        for (const auto& [key, state] : page->items) visit(key, state);
        cursor = page->next_cursor;
      } while (!cursor.empty());
    }
    return {};
  }
  std::uint64_t generation() const override { return core_.store.last_commit_id(); }

 private:
  DaemonCore& core_;
};

Courier::Courier(DaemonCore& core, Connections& connections, const SealKeyring& seal)
    : core_(core),
      connections_(connections),
      view_(std::make_unique<StoreView>(core)),
      machine_(courier::CourierConfig{.self = core.node.key.public_key()}, *view_, seal),
      queue_envelopes_(core.metrics.gauge("conect_personal_relay_queue_envelopes",
                                          "Envelopes this node carries for others (memory only)")),
      queue_bytes_(core.metrics.gauge("conect_personal_relay_queue_bytes",
                                      "Bytes of the envelopes this node carries for others")),
      retry_(core.strand) {
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
  core_.metrics.counter(kCarrySent, kCarrySentHelp);
  core_.metrics.counter(kCarryQueued, kCarryQueuedHelp);
  core_.metrics.counter(kAcks, kAcksHelp);
  for (const char* r : courier::Courier::kCarryReasons) {
    core_.metrics.counter(kCarryDropped, kCarryDroppedHelp, {{"reason", r}});
    core_.metrics.counter(kCarryRefusedByPeer, kCarryRefusedByPeerHelp, {{"reason", r}});
  }
  core_.metrics.counter(kCarryRefusedByPeer, kCarryRefusedByPeerHelp, {{"reason", "other"}});
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

void Courier::on_applied() {
  if (core_.stopping || machine_.parked() == 0) return;
  machine_.on_applied(core_.now());
  drain();
}

// Carries out what the machine asked for, in order; a store outcome is
// reported back at once (Store::put_blob is one short transaction). The
// acknowledgements asked for in one pass go into one delta.
void Courier::drain() {
  std::vector<courier::AuthorAckAction> acks;
  do {
    while (auto action = machine_.poll()) {
      if (auto* s = std::get_if<courier::SendAction>(&*action)) {
        connections_.send(s->peer, s->message.SerializeAsString());
      } else if (auto* b = std::get_if<courier::StoreBlobAction>(&*action)) {
        Status st = core_.store.put_blob(b->commitment, b->plaintext);
        machine_.on_blob_stored(b->store_id, st, core_.now());
      } else if (auto* a = std::get_if<courier::AuthorAckAction>(&*action)) {
        acks.push_back(std::move(*a));
      } else if (auto* e = std::get_if<courier::Event>(&*action)) {
        report(*e);
      }
    }
    if (acks.empty()) break;
    std::vector<v1::Operation> ops;
    for (const auto& a : acks) ops.push_back(envelope_ack_operation(a.record, a.commitment));
    Status st = author_ ? author_(std::move(ops)) : Status(Error(Errc::invalid_argument, "no author"));
    if (!st.ok()) log::debug("personal_data_ack_deferred", {{"detail", st.error().message()}});
    for (const auto& a : acks) machine_.on_ack_authored(a.commitment, st, core_.now());
    acks.clear();
  } while (true);
  queue_envelopes_.set(static_cast<std::int64_t>(machine_.queued()));
  queue_bytes_.set(static_cast<std::int64_t>(machine_.queued_bytes()));
}

void Courier::report(const courier::Event& ev) {
  using courier::EventKind;
  const courier::Event* e = &ev;
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
    case EventKind::carry_sent:
      core_.count(kCarrySent, kCarrySentHelp);
      log::debug(name, {{"peer", short_id(e->peer)}, {"record", e->record}, {"recipient", e->detail}});
      break;
    case EventKind::carry_accepted:
      log::info(name, {{"peer", short_id(e->peer)}, {"detail", e->detail}});
      break;
    case EventKind::carry_refused_by_peer:
      core_.count(kCarryRefusedByPeer, kCarryRefusedByPeerHelp, {{"reason", e->reason}});
      log::info(name, {{"peer", short_id(e->peer)}, {"reason", e->reason}, {"detail", e->detail}});
      break;
    case EventKind::carry_queued:
      core_.count(kCarryQueued, kCarryQueuedHelp);
      log::info(name, {{"peer", short_id(e->peer)}, {"owner", e->owner}, {"record", e->record}, {"detail", e->detail}});
      break;
    case EventKind::carry_dropped:
      core_.count(kCarryDropped, kCarryDroppedHelp, {{"reason", e->reason}});
      log::info(name,
                {{"peer", short_id(e->peer)}, {"record", e->record}, {"reason", e->reason}, {"detail", e->detail}});
      break;
    case EventKind::ack_authored:
      core_.count(kAcks, kAcksHelp);
      log::info(name, {{"record", e->record}});
      break;
    case EventKind::parked:
      log::debug(name, {{"peer", short_id(e->peer)}, {"owner", e->owner}, {"record", e->record}});
      break;
    case EventKind::later:
      // The peer is still without the record 2 s after the envelope came
      // (it keeps one that merely overtook the record's delta): offer again
      // in 100 ms, not at the next 1 s sweep. One timer for every such answer.
      if (!retry_armed_) {
        retry_armed_ = true;
        retry_.expires_after(std::chrono::milliseconds(100));
        retry_.async_wait([this, keep = core_.alive()](boost::system::error_code ec) {
          retry_armed_ = false;
          if (!ec) sweep();
        });
      }
      break;
  }
}

}  // namespace conect::node
