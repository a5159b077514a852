// Wires SyncEngines back to back over MemLogs with a FIFO wire, for exact
// message-level unit tests. Every message sent is recorded, credit granted
// is checked against every batch, and buffering against its bound.
#pragma once

#include <gtest/gtest.h>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mem_log.h"

namespace conect::sync::test {

struct TestNode {
  Author author;
  MemLog log;
  std::unique_ptr<SyncEngine> engine;
  SyncConfig cfg;
  std::vector<Event> events;
  std::vector<DisconnectAction> disconnects;
  std::vector<StoreEvidenceAction> evidence;
  bool auto_apply = true;
  std::deque<ApplyBatchAction> held;  // applies not yet carried out

  TestNode(std::uint8_t seed, const FederationId& fed) : author(seed, fed) {}
  const NodeId& id() const { return author.id(); }
  std::size_t count(EventKind k) const {
    std::size_t n = 0;
    for (const auto& e : events) n += e.kind == k;
    return n;
  }
};

struct Sent {
  int from, to;
  v1::SyncMessage msg;
};

class Wire {
 public:
  explicit Wire(std::uint64_t now = 0) : now_(now) {}

  TestNode& add(std::uint8_t seed, std::vector<NodeId> roster = {}, SyncConfig cfg = {}) {
    nodes_.push_back(std::make_unique<TestNode>(seed, test_federation()));
    TestNode& n = *nodes_.back();
    cfg.federation = test_federation();
    cfg.self = n.id();
    n.cfg = cfg;
    roster_extra_.push_back(std::move(roster));
    return n;
  }
  // Starts every engine; each trusts every node plus its extra roster.
  void start() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) restart(static_cast<int>(i));
  }
  void restart(int i) {
    TestNode& n = *nodes_[static_cast<std::size_t>(i)];
    std::vector<NodeId> roster = roster_extra_[static_cast<std::size_t>(i)];
    for (const auto& m : nodes_) roster.push_back(m->id());
    n.engine = std::make_unique<SyncEngine>(n.cfg, n.log, roster, now_);
  }
  TestNode& node(int i) { return *nodes_[static_cast<std::size_t>(i)]; }
  int index_of(const NodeId& id) const {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
      if (nodes_[i]->id() == id) return static_cast<int>(i);
    return -1;
  }

  void connect(int dialler, int acceptor) {
    node(dialler).engine->on_peer_connected(node(acceptor).id(), PeerRole::dialler, now_);
    node(acceptor).engine->on_peer_connected(node(dialler).id(), PeerRole::acceptor, now_);
    drain_all();
  }
  void disconnect(int a, int b) {
    node(a).engine->on_peer_disconnected(node(b).id(), now_);
    node(b).engine->on_peer_disconnected(node(a).id(), now_);
    queue_.clear();
    drain_all();
  }

  // Collects every engine's actions: sends are queued, applies carried out.
  void drain_all() {
    for (std::size_t i = 0; i < nodes_.size(); ++i) drain(static_cast<int>(i));
  }
  void drain(int i) {
    TestNode& n = node(i);
    if (!n.engine) return;
    while (auto a = n.engine->poll()) {
      if (auto* s = std::get_if<SendAction>(&*a)) {
        check_credit(i, index_of(s->peer), s->message);
        sent.push_back({i, index_of(s->peer), s->message});
        queue_.push_back({i, index_of(s->peer), std::move(s->message)});
      } else if (auto* ap = std::get_if<ApplyBatchAction>(&*a)) {
        n.held.push_back(std::move(*ap));
      } else if (auto* ev = std::get_if<StoreEvidenceAction>(&*a)) {
        n.log.add_evidence(*ev);
        n.evidence.push_back(std::move(*ev));
      } else if (auto* d = std::get_if<DisconnectAction>(&*a)) {
        n.disconnects.push_back(*d);
        int other = index_of(d->peer);
        if (other >= 0 && node(other).engine) node(other).engine->on_peer_disconnected(n.id(), now_);
      } else if (auto* e = std::get_if<EventAction>(&*a)) {
        n.events.push_back(e->event);
      }
    }
    EXPECT_LE(n.engine->buffered_bytes(), n.cfg.max_buffer_bytes);
    if (n.auto_apply) apply_held(i);
  }
  void apply_held(int i, std::size_t max = ~std::size_t{0}) {
    TestNode& n = node(i);
    std::size_t k = 0;
    for (; k < max && !n.held.empty(); ++k) {
      ApplyBatchAction ap = std::move(n.held.front());
      n.held.pop_front();
      Status st = n.log.apply(ap.deltas);
      n.engine->on_batch_applied({ap.apply_id, st}, now_);
    }
    if (k != 0) drain(i);
  }

  // Delivers queued messages in order until the wire is quiet; `lost`, when
  // given, picks messages that never arrive (a peer that answers nothing).
  void run(std::size_t limit = 100000, const std::function<bool(const Sent&)>& lost = {}) {
    for (std::size_t k = 0; k < limit && !queue_.empty(); ++k) {
      Sent s = std::move(queue_.front());
      queue_.pop_front();
      if (s.to < 0 || !node(s.to).engine) continue;
      if (lost && lost(s)) continue;
      std::string bytes = s.msg.SerializeAsString();
      node(s.to).engine->on_message_bytes(node(s.from).id(), bytes, now_);
      drain_all();
    }
  }
  void advance(std::uint64_t ms) {
    now_ += ms;
    for (auto& n : nodes_)
      if (n->engine) n->engine->on_timer(now_);
    drain_all();
  }
  std::uint64_t now() const { return now_; }
  void inject(int from, int to, v1::SyncMessage m) { queue_.push_back({from, to, std::move(m)}); }
  std::deque<Sent>& queue() { return queue_; }

  std::vector<Sent> sent;

 private:
  // Every batch must fit in the credit its request was granted.
  void check_credit(int from, int to, const v1::SyncMessage& m) {
    if (m.has_request()) {
      auto& c = credit_[{from, m.request().request_id()}];
      c = {m.request().max_count(), m.request().max_bytes()};
    } else if (m.has_credit()) {
      auto& c = credit_[{from, m.credit().request_id()}];
      c.first += m.credit().add_count();
      c.second += m.credit().add_bytes();
    } else if (m.has_batch() && m.batch().deltas_size() > 0) {
      auto& c = credit_[{to, m.batch().request_id()}];
      std::uint64_t bytes = 0;
      for (const auto& d : m.batch().deltas()) bytes += delta_bytes(d);
      EXPECT_LE(static_cast<std::uint64_t>(m.batch().deltas_size()), c.first) << "batch beyond count credit";
      EXPECT_LE(bytes, c.second) << "batch beyond byte credit";
      c.first -= std::min<std::uint64_t>(c.first, static_cast<std::uint64_t>(m.batch().deltas_size()));
      c.second -= std::min(c.second, bytes);
    }
  }

  std::uint64_t now_;
  std::vector<std::unique_ptr<TestNode>> nodes_;
  std::vector<std::vector<NodeId>> roster_extra_;
  std::deque<Sent> queue_;
  std::map<std::pair<int, std::uint64_t>, std::pair<std::uint64_t, std::uint64_t>> credit_;
};

inline std::vector<std::string> kinds(const std::vector<Sent>& sent) {
  std::vector<std::string> out;
  for (const auto& s : sent) {
    std::string k = message_name(s.msg);
    if (s.msg.has_summary()) k += ":" + v1::SummaryMode_Name(s.msg.summary().mode());
    out.push_back(std::to_string(s.from) + ">" + std::to_string(s.to) + " " + k);
  }
  return out;
}

}  // namespace conect::sync::test
