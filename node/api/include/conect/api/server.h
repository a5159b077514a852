// The node's local HTTP/1.1 API (DESIGN §8, docs/api.md): the JSON resources
// under /api/v1/, the dashboard's static files, /healthz, /metrics and the
// server-sent change stream.
//
// Threading: the server accepts and does all socket I/O on the io_context
// it is given (one strand per connection, so a connection's state needs no
// lock); request handlers, which may block on LMDB reads and on a durable
// commit, run on a small pool of the server's own so the io_context never
// waits on the disk. publish() and issue_login_code() may be called from any
// thread.
//
// Limits: request bodies over ApiOptions::max_body_bytes are answered 413
// and the connection closed; headers over max_header_bytes 431; a request
// that does not arrive within read_timeout (and an idle keep-alive
// connection) is closed. An event-stream client whose queue exceeds
// event_queue_limit is dropped (it reconnects and refetches).
//
// Lifetime: the daemon constructs the server, calls start(), runs the
// io_context, and calls stop() (or destroys the server) before the
// io_context and the services in ApiContext go away.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "conect/crdt/delta.h"
#include "conect/crdt/error.h"
#include "conect/crdt/identity.h"
#include "conect/crdt/types.h"

namespace boost::asio {
class io_context;
}
namespace conect::storage {
class Store;
}

namespace conect::api {

class Metrics;
class ProgressBoard;

struct PeerStatus {
  NodeId id;
  std::string address;              // ws://host:port/sync, or "" for an inbound peer
  bool connected = false;
  std::uint64_t lag_deltas = 0;     // deltas the peer is known to have that we lack
  std::uint64_t lag_ms = 0;         // how long we have lacked some (0 when lag_deltas is 0)
  std::uint64_t last_seen_ms = 0;   // 0 = never
  std::uint64_t last_sync_ms = 0;   // last time we held all it showed (0 = never)
  std::string sync_state;           // the engine's: comparing | in_sync | catching_up ("" when not linked)
  std::string refuses_us;           // why the peer refuses this node ("" unless it does)
};

// What only the daemon knows; the server adds the store's figures.
struct NodeStatus {
  std::string name;
  std::string country;
  std::string role;  // school | company | auditor
  std::vector<PeerStatus> peers;
};

// The services the daemon hands the API. Everything must outlive the server.
struct ApiContext {
  storage::Store* store = nullptr;
  const KeyPair* key = nullptr;  // the node's identity (signs confirmations)
  FederationId federation;
  std::function<std::uint64_t()> now_ms;  // wall clock, ms since the epoch
  std::string token;                      // contents of DIR/api.token
  std::function<NodeStatus()> status;     // called per GET /api/v1/status
  Metrics* metrics = nullptr;
  // Long work (catch-up, imports, audit): GET /api/v1/progress and the
  // status's "progress"; imports and audit routes report into it.
  ProgressBoard* progress = nullptr;
  // Authors one delta: the daemon routes it to Store::author and, once it
  // committed durably, pushes it to peers. Called from the handler pool.
  std::function<Result<VerifiedDelta>(DeltaDraft)> author;
  // `key rotate`: a new identity key announced by a Rotate (docs/membership.md).
  std::function<Result<VerifiedDelta>()> rotate_key;
};

struct ApiOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 7780;  // 0 picks a free port; see HttpServer::port()
  std::size_t max_body_bytes = 1024 * 1024;  // node.toml [limits] api_max_body_bytes
  std::size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds read_timeout{30'000};
  std::size_t handler_threads = 4;
  std::size_t event_queue_limit = 256;
  std::size_t max_event_clients = 64;
  std::filesystem::path web_root;  // the dashboard (web/); empty: none
  std::chrono::milliseconds session_ttl{std::chrono::hours(12)};
  // Host names (besides IP literals and "localhost") a request's Host and
  // Origin headers may name: node.toml [network] api_hosts. Any other name
  // is refused (403 host_not_allowed), so a web page whose DNS name was
  // rebound to this machine reaches nothing (DNS rebinding).
  std::vector<std::string> allowed_hosts;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, ApiContext context, ApiOptions options);
  ~HttpServer();  // stop() and wait for the handler pool
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds, listens and starts accepting. Errors: io_error naming the
  // address (in use, not local, permission), invalid_argument (bad host).
  Status start();
  // The bound port (the chosen one when options.port was 0); 0 before start.
  std::uint16_t port() const;

  // Sends one change notification (a JSON object, one line) to every
  // event-stream client as `event: change`. Thread-safe; never blocks.
  void publish(const std::string& event_json);
  // Publishes the change event of one commit (events.h). Called on the
  // committing thread, the store's writer, which bounds a catch-up: with no
  // event-stream client it returns at once, otherwise it copies what the
  // event names and the JSON is built and sent on the io_context, one commit
  // after another in call order.
  void publish_change(std::span<const VerifiedDelta> deltas);

  // A single-use code for POST /api/v1/session {"login": CODE}, valid ten
  // minutes; `demo` and `run` print it in the dashboard URL (/?login=CODE).
  std::string issue_login_code();

  // Graceful stop: no new connections; requests in progress finish and get
  // their response, idle and streaming connections are closed. Idempotent.
  void stop();

  struct Shared;

 private:
  std::shared_ptr<Shared> shared_;
  std::unique_ptr<struct HandlerPool> pool_;
};

}  // namespace conect::api
