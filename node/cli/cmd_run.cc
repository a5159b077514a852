// `conect-node run`: the daemon. Opens the store first (nothing is served to
// a peer before it is open), then the peer port, the sync engine, the API and
// dashboard; writes DIR/ports.json once both ports listen; stops cleanly on
// SIGINT/SIGTERM (current transaction finished, links closed with TAG_FINAL).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/strand.hpp>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "commands.h"
#include "conect/api/events.h"
#include "conect/api/metrics.h"
#include "conect/api/progress.h"
#include "conect/api/server.h"
#include "conect/node/compactor.h"
#include "conect/node/log.h"
#include "conect/node/node_files.h"
#include "conect/node/peer_manager.h"
#include "conect/node/retention.h"
#include "conect/node/thread_name.h"
#include "conect/node/wall_clock.h"
#include "conect/storage/schema.h"

namespace conect::cli {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// Accepts peer connections onto their own strands and hands them over.
class PeerListener : public std::enable_shared_from_this<PeerListener> {
 public:
  PeerListener(asio::io_context& io, node::PeerManager& peers) : io_(io), acceptor_(io), peers_(peers) {}

  Status listen(const config::Endpoint& at) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(at.host, ec);
    if (ec) return Error(Errc::invalid_argument, "peer_listen host '" + at.host + "' is not an IP address");
    tcp::endpoint ep(address, at.port);
    acceptor_.open(ep.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor_.bind(ep, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec)
      return Error(Errc::io_error, "cannot listen for peers on " + at.text() + ": " + ec.message() +
                                       " (is another node running? choose another port with --peer-listen)");
    return {};
  }
  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  void start() { accept_next(); }
  void stop() {
    boost::system::error_code ignored;
    acceptor_.close(ignored);
  }

 private:
  void accept_next() {
    acceptor_.async_accept(asio::make_strand(io_),
                           [self = shared_from_this()](boost::system::error_code ec, tcp::socket socket) {
                             if (ec == asio::error::operation_aborted) return;
                             if (!ec) self->peers_.accept(std::move(socket));
                             self->accept_next();
                           });
  }

  asio::io_context& io_;
  tcp::acceptor acceptor_;
  node::PeerManager& peers_;
};

int fail(const Global& g, const Error& e, int exit_code = kRefused) {
  log::error("node_failed", {{"reason", e.message()}});
  return refuse(g, e, exit_code);
}

std::filesystem::path default_web_root() {
  // Installed layout: <prefix>/bin/conect-node and <prefix>/share/conect/web;
  // build tree: build/<flavour>/node/cli/conect-node and the source's web/.
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {};
  for (auto dir = exe.parent_path(); dir.has_relative_path(); dir = dir.parent_path()) {
    if (std::filesystem::exists(dir / "share/conect/web/index.html")) return dir / "share/conect/web";
    if (std::filesystem::exists(dir / "web/index.html")) return dir / "web";
  }
  return {};
}

// The API works without the dashboard, but an operator who opens the URL
// must learn why it is missing and how to fix it (GET / says so too).
void warn_without_dashboard(const std::filesystem::path& root, bool given) {
  std::error_code ec;
  if (!root.empty() && std::filesystem::is_regular_file(root / "index.html", ec)) return;
  std::string where = given ? "--web-root " + root.string() + " holds no index.html"
                            : "none found in <prefix>/share/conect/web or a web/ folder above the binary";
  log::warn("dashboard_missing", {{"detail", "no dashboard files (" + where +
                                                 "): pass --web-root DIR, the web/ folder of the sources or "
                                                 "share/conect/web of an installation; the API works without them"}});
}

}  // namespace

DataDirLock::~DataDirLock() {
  if (fd_ >= 0) ::close(fd_);
}

Status DataDirLock::take(const DataDir& dir) {
  fd_ = ::open(dir.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd_ < 0) return Error(Errc::io_error, "cannot open " + dir.root.string() + ": " + std::strerror(errno));
  int rc;
  while ((rc = ::flock(fd_, LOCK_EX | LOCK_NB)) != 0 && errno == EINTR) {
  }
  if (rc == 0) return Status::Ok();
  if (errno != EWOULDBLOCK)
    return Error(Errc::io_error, "cannot lock " + dir.root.string() + ": " + std::strerror(errno));
  std::string pid;
  std::ifstream in(dir.ports());
  if (auto ports = nlohmann::json::parse(in, nullptr, false); ports.is_object() && ports.contains("pid"))
    pid = " (pid " + ports["pid"].dump() + ")";
  return Error(Errc::already_exists, "a node is already running on " + dir.root.string() + pid);
}

int run(const Global& g, const RunOptions& o) {
  auto loaded = NodeFiles::load(DataDir::resolve(g.data));
  if (!loaded.ok()) return fail(g, loaded.error());
  NodeFiles& node = *loaded;
  DataDirLock one_daemon;
  if (Status st = one_daemon.take(node.dir); !st.ok()) {
    Error e = st.error();
    e.detail +=
        ": one data directory runs one node; stop it first, or give this node a data directory of its own "
        "(conect-node init)";
    return fail(g, e);
  }
  if (!o.peer_listen.empty()) {
    auto e = config::parse_endpoint(o.peer_listen);
    if (!e.ok()) return fail(g, Error(Errc::invalid_argument, "--peer-listen: " + e.error().detail), kUsage);
    node.config.peer_listen = *e;
  }
  if (!o.api_listen.empty()) {
    auto e = config::parse_endpoint(o.api_listen);
    if (!e.ok()) return fail(g, Error(Errc::invalid_argument, "--api-listen: " + e.error().detail), kUsage);
    node.config.api_listen = *e;
  }
  log::Level level = log::Level::info;
  log::parse_level(g.log_level.empty() ? node.config.log_level : g.log_level, level);
  std::string format = g.log_format.empty() ? node.config.log_format : g.log_format;
  log::configure(format == "json" ? log::Format::json : log::Format::text, level);

  auto store_result = node.open_store(/*upgrade=*/true);
  if (!store_result.ok()) return fail(g, store_result.error());
  storage::Store& store = **store_result;
  if (const auto& up = store.upgraded()) {
    std::string steps;
    for (const auto& step : up->steps) steps += (steps.empty() ? "" : "; ") + step;
    log::info("store_upgraded", {{"from_schema", std::to_string(up->from)},
                                 {"to_schema", std::to_string(up->to)},
                                 {"steps", steps},
                                 {"ms", std::to_string(up->duration_ms)}});
  }
  auto noise_key = node.noise_private_key();
  if (!noise_key.ok()) return fail(g, noise_key.error());
  // Data directories made before seal keys existed get one here; the peer
  // manager announces it in the node's log (DESIGN §5).
  bool seal_created = false;
  auto seal_key = SealKey::load_or_create(node.dir.seal_key(), &seal_created);
  if (!seal_key.ok()) return fail(g, seal_key.error());
  if (seal_created) log::info("seal_key_created", {{"file", node.dir.seal_key().string()}});

  asio::io_context io;
  api::Metrics metrics;
  metrics
      .gauge("conect_build_info", "Always 1; the labels say which build runs",
             {{"version", CONECT_VERSION}, {"schema", std::to_string(storage::current_schema().version)}})
      .set(1);
  api::ProgressBoard progress(&metrics, wall_ms);
  node::PeerManager peers(io, node, store, metrics, *noise_key, *seal_key, &progress);
  auto listener = std::make_shared<PeerListener>(io, peers);
  if (Status st = listener->listen(node.config.peer_listen); !st.ok()) return fail(g, st.error());

  api::ApiContext ctx;
  ctx.store = &store;
  ctx.key = &node.key;
  ctx.federation = node.federation;
  ctx.now_ms = wall_ms;
  ctx.token = node.token;
  ctx.metrics = &metrics;
  ctx.progress = &progress;
  ctx.status = [&] {
    api::NodeStatus s;
    s.name = node.config.name;
    s.country = node.config.country;
    s.role = node.config.role;
    s.peers = peers.peer_status();
    return s;
  };
  // The daemon's authoring policy (auditors, restore and rollback fences)
  // lives with the rest of its policy, in the peer manager.
  ctx.author = [&peers](DeltaDraft draft) { return peers.author(std::move(draft)); };
  ctx.rotate_key = [&peers] { return peers.rotate_key(); };
  api::ApiOptions api_options;
  api_options.host = node.config.api_listen.host;
  api_options.port = node.config.api_listen.port;
  api_options.max_body_bytes = node.config.api_max_body_bytes;
  api_options.allowed_hosts = node.config.api_hosts;
  api_options.web_root = o.web_root.empty() ? default_web_root() : std::filesystem::path(o.web_root);
  warn_without_dashboard(api_options.web_root, !o.web_root.empty());
  api::HttpServer api_server(io, ctx, api_options);
  if (Status st = api_server.start(); !st.ok()) return fail(g, st.error());

  // One change event per commit: the dashboard refetches what it shows.
  store.set_on_committed([&api_server](std::span<const VerifiedDelta> deltas) { api_server.publish_change(deltas); });
  // Personal data delivered here changes what a record shows without a delta.
  api::Gauge& event_clients = metrics.gauge("conect_api_event_clients", "Connected event-stream clients");
  peers.set_on_personal_data([&api_server, &event_clients](const RecordKey& key) {
    if (event_clients.value() > 0) api_server.publish(api::record_change_event_json(key));
  });

  if (Status st = peers.start(); !st.ok()) return fail(g, st.error());
  listener->start();
  // Erased personal data leaves data.mdb within a bounded time (compactor.h).
  node::Compactor compactor(store, metrics, node::Compactor::Options{});
  compactor.start();
  // [privacy] retain_mobility_personal_data_days (retention.h); off at 0.
  const std::uint32_t retain_days = node.config.retain_mobility_personal_data_days;
  node::RetentionSweeper retention(
      store, store.own_id().value_or(node.key.public_key()), metrics,
      [&peers](DeltaDraft draft) { return peers.author(std::move(draft)); }, wall_ms,
      node::RetentionSweeper::Options{retain_days, std::chrono::minutes(1)});
  if (retain_days > 0) log::info("personal_data_retention", {{"days", std::to_string(retain_days)}});
  retention.start();

  nlohmann::json ports{{"peer", listener->port()}, {"api", api_server.port()}, {"pid", ::getpid()}};
  if (Status st = write_file_atomic(node.dir.ports(), ports.dump() + "\n", 0644, true); !st.ok())
    return fail(g, st.error());
  log::info("node_started",
            {{"node", node.key.public_key().hex()},
             {"name", node.config.name},
             {"peer_port", std::to_string(listener->port())},
             {"api", "http://" + node.config.api_listen.host + ":" + std::to_string(api_server.port()) + "/"}});

  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::atomic<bool> stopping{false};
  signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec || stopping.exchange(true)) return;
    log::info("node_stopping", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
    listener->stop();
    api_server.stop();
    peers.stop([&io] {
      // Give the close frames a moment on the wire, then end the loop.
      auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(200));
      timer->async_wait([timer, &io](boost::system::error_code) { io.stop(); });
    });
  });

  // Both threads run the network, the API and the sync strand (the main
  // thread keeps the process's name, which ps and pgrep show); the store's
  // writer has its own thread ("conect-writer").
  std::thread second([&io] {
    conect::node::name_this_thread("conect-io");
    io.run();
  });
  io.run();
  second.join();
  std::error_code ec;
  std::filesystem::remove(node.dir.ports(), ec);
  log::info("node_stopped");
  return kOk;
}

}  // namespace conect::cli
