// What every part of the peer manager shares (internal to node/daemon): the
// node strand on which all link, session and engine state lives, the node's
// files, store and metrics, and the clock the sync engine runs on.
//
// Lifetime: the parts are members of one object owned by a shared_ptr
// (PeerManager's Impl). A handler that outlives the call that set it up
// captures alive(), so the whole peer manager lives until its last handler
// has run or been dropped; handlers that must not keep it alive hold
// `anchor` and lock it when they run.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "conect/api/metrics.h"
#include "conect/node/node_files.h"
#include "conect/storage/store.h"

namespace conect::node {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;
using Strand = asio::strand<asio::io_context::executor_type>;

// The first 16 hex characters of a node id: enough for a log line.
inline std::string short_id(const NodeId& id) { return id.hex().substr(0, 16); }

struct DaemonCore {
  DaemonCore(asio::io_context& io_, const NodeFiles& node_, storage::Store& store_, api::Metrics& metrics_)
      : io(io_),
        strand(asio::make_strand(io_)),
        node(node_),
        store(store_),
        metrics(metrics_),
        started(Clock::now()),
        signer_(std::make_shared<const KeyPair>(node_.signer())) {}

  asio::io_context& io;
  Strand strand;
  const NodeFiles& node;
  storage::Store& store;
  api::Metrics& metrics;
  const Clock::time_point started;
  // Set by stop() on the strand: no new links, dials or timers.
  bool stopping = false;
  std::weak_ptr<void> anchor;

  std::shared_ptr<void> alive() const { return anchor.lock(); }

  // The key this node signs with now (its identity key, or the one its last
  // Rotate introduced). Any thread.
  std::shared_ptr<const KeyPair> signer() const {
    std::lock_guard lock(signer_mu_);
    return signer_;
  }
  void set_signer(const KeyPair& key) {
    std::lock_guard lock(signer_mu_);
    signer_ = std::make_shared<const KeyPair>(key);
  }
  const NodeId& id() const { return node.key.public_key(); }

  // Milliseconds since start: the sync engine's clock.
  std::uint64_t now() const {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - started).count());
  }
  Clock::time_point at(std::uint64_t ms) const { return started + std::chrono::milliseconds(ms); }

  void count(const std::string& name, const std::string& help, const api::Labels& labels = {},
             std::uint64_t n = 1) {
    metrics.counter(name, help, labels).inc(n);
  }
  // conect_peer_refused_total{stage, reason}: every link closed for a failed
  // check or misbehaviour, and every connection refused at the door.
  void count_refusal(const std::string& stage, const std::string& reason) {
    count("conect_peer_refused_total", "Peer connections closed for misbehaviour or failed checks",
          {{"stage", stage}, {"reason", reason}});
  }
  // conect_store_write_seconds{kind}: one write transaction, from the call
  // to its durable commit ("apply": a batch from peers; "author": a local
  // write, including its wait for the writer).
  api::Histogram& write_seconds(const std::string& kind) {
    static const std::vector<double> kBounds{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                             0.1,    0.25,  0.5,    1,     2.5,  5,     10};
    return metrics.histogram("conect_store_write_seconds", "Write transactions, call to durable commit", kBounds,
                             {{"kind", kind}});
  }
  void count_refusal(const std::string& stage, const Error& e) {
    count_refusal(stage, errc_name(static_cast<Errc>(e.code.value())));
  }

 private:
  mutable std::mutex signer_mu_;
  std::shared_ptr<const KeyPair> signer_;
};

}  // namespace conect::node
