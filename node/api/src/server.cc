// The only translation unit of the API that includes Beast and Asio's
// sockets (compile time on 2 cores matters): the listener, one Connection
// per socket, and the event-stream fan-out.
#include "conect/api/server.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include <atomic>
#include <deque>
#include <mutex>

#include "api.h"
#include "conect/api/events.h"

namespace conect::api {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

struct HandlerPool {
  explicit HandlerPool(std::size_t n) : pool(n == 0 ? 1 : n) {}
  net::thread_pool pool;
  std::mutex mu;
  bool open = true;  // guarded by mu: nothing is posted once the pool is joining
};

class Connection;

struct HttpServer::Shared : std::enable_shared_from_this<HttpServer::Shared> {
  Shared(net::io_context& io_, ApiContext ctx, ApiOptions opts, HandlerPool& pool_)
      : io(io_),
        options(std::move(opts)),
        api(std::move(ctx), options),
        strand(net::make_strand(io_)),
        acceptor(strand),
        pool(pool_),
        events_strand(net::make_strand(io_)) {}

  bool post_handler(std::function<void()> task) {
    std::lock_guard lock(pool.mu);
    if (!pool.open) return false;
    net::post(pool.pool, std::move(task));
    return true;
  }
  void accept();
  void publish(const std::string& event_json);
  Gauge& event_clients() {
    return api.metrics().gauge("conect_api_event_clients", "Connected event-stream clients");
  }

  net::io_context& io;
  ApiOptions options;
  Api api;
  net::strand<net::io_context::executor_type> strand;  // the acceptor's
  tcp::acceptor acceptor;
  HandlerPool& pool;
  net::strand<net::io_context::executor_type> events_strand;  // change events in commit order
  std::atomic<bool> stopping{false};
  std::atomic<std::uint16_t> port{0};

  std::mutex mu;  // guards the two lists and event_seq
  std::vector<std::weak_ptr<Connection>> connections;
  std::vector<std::weak_ptr<Connection>> subscribers;
  std::uint64_t event_seq = 0;
};

namespace {

HttpRequest to_request(http::request<http::string_body>& req) {
  HttpRequest out;
  out.method = std::string(req.method_string());
  out.target = std::string(req.target());
  for (const auto& f : req.base()) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  out.body = std::move(req.body());
  return out;
}

constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
constexpr std::string_view kEventHead =
    "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
    "X-Accel-Buffering: no\r\nConnection: close\r\n\r\nretry: 2000\n\n";

}  // namespace

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  Connection(tcp::socket&& socket, std::shared_ptr<HttpServer::Shared> shared)
      : stream_(std::move(socket)), sh_(std::move(shared)) {}

  void start() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->read_header(); });
  }

  // Graceful stop: idle and streaming connections close now, busy ones after
  // their response.
  void close_from_server() {
    net::post(stream_.get_executor(), [self = shared_from_this()] {
      if (self->state_ == State::reading || self->state_ == State::streaming) self->close();
    });
  }

  // dispatch, not post: publish runs on the events strand on an I/O thread,
  // so an idle connection writes the event on this thread instead of
  // waiting for another to be woken (a change event is on the live path,
  // after the receiver's commit). Order holds: a strand runs inline only
  // when nothing is queued on it.
  void push_event(std::shared_ptr<const std::string> event) {
    net::dispatch(stream_.get_executor(), [self = shared_from_this(), event = std::move(event)] {
      if (self->state_ != State::streaming) return;
      if (self->events_.size() >= self->sh_->options.event_queue_limit) {
        self->sh_->api.metrics()
            .counter("conect_api_event_clients_dropped_total", "Event-stream clients dropped for falling behind")
            .inc();
        self->close();
        return;
      }
      self->events_.push_back(event);
      if (!self->event_writing_) self->write_next_event();
    });
  }

  ~Connection() {
    if (counted_) sh_->event_clients().add(-1);
  }

 private:
  enum class State { reading, handling, streaming, closed };

  void read_header() {
    if (sh_->stopping) return close();
    state_ = State::reading;
    parser_.emplace();
    parser_->body_limit(sh_->options.max_body_bytes);
    parser_->header_limit(static_cast<std::uint32_t>(sh_->options.max_header_bytes));
    stream_.expires_after(sh_->options.read_timeout);
    http::async_read_header(stream_, buffer_, *parser_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              self->on_header(ec);
                            });
  }

  void on_header(beast::error_code ec) {
    if (ec) return on_read_error(ec);
    auto& req = parser_->get();
    if (beast::iequals(req[http::field::expect], "100-continue") && !parser_->is_done()) {
      net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                       [self = shared_from_this()](beast::error_code wec, std::size_t) {
                         if (wec) return self->close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    if (parser_->is_done()) return on_request();
    http::async_read(stream_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->on_read_error(ec);
      self->on_request();
    });
  }

  void on_read_error(beast::error_code ec) {
    if (ec == http::error::body_limit)
      return send_error_and_close(413, "body_too_large",
                                  "request body exceeds " + std::to_string(sh_->options.max_body_bytes) +
                                      " bytes (node.toml [limits] api_max_body_bytes)");
    if (ec == http::error::header_limit)
      return send_error_and_close(431, "headers_too_large", "request headers are too large");
    if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
        ec != http::error::end_of_stream && ec != http::error::partial_message)
      return send_error_and_close(400, "malformed_request", "not a valid HTTP/1.1 request: " + ec.message());
    close();
  }

  // The request was refused before its body was read. Closing at once would leave that body
  // unread in our receive buffer, and the kernel answers unread data with a reset, which can
  // reach the client before it has read our answer: it would see "connection reset" instead of
  // the reason. So, like nginx's lingering close, answer, stop sending, and discard what the
  // client still sends (bounded in bytes and time) before closing.
  void send_error_and_close(int status, std::string_view code, const std::string& detail) {
    state_ = State::handling;
    linger_after_write_ = true;
    write_response(error_response(status, code, detail), false, 11, false);
  }

  void linger_then_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return close();
    stream_.expires_after(kLingerTime);
    drain();
  }

  void drain() {
    stream_.async_read_some(net::buffer(probe_), [self = shared_from_this()](beast::error_code ec, std::size_t n) {
      self->lingered_bytes_ += n;
      if (ec || self->lingered_bytes_ > kLingerBytes) return self->close();
      self->drain();
    });
  }

  void on_request() {
    stream_.expires_never();
    state_ = State::handling;
    auto& req = parser_->get();
    bool keep_alive = req.keep_alive();
    unsigned version = req.version();
    bool head = req.method() == http::verb::head;
    HttpRequest request = to_request(req);
    if (auto st = parse_target(request.target, request); !st)
      return write_response(error_response(st.error()), false, version, head);
    bool posted = sh_->post_handler([self = shared_from_this(), request = std::move(request), keep_alive,
                                     version, head]() mutable {
      HttpResponse resp = self->sh_->api.handle(request);
      net::post(self->stream_.get_executor(), [self, resp = std::move(resp), keep_alive, version, head]() mutable {
        self->on_handled(std::move(resp), keep_alive, version, head);
      });
    });
    if (!posted) close();
  }

  void on_handled(HttpResponse resp, bool keep_alive, unsigned version, bool head) {
    if (resp.event_stream && resp.status == 200) return start_events();
    write_response(std::move(resp), keep_alive, version, head);
  }

  void write_response(HttpResponse r, bool keep_alive, unsigned version, bool head) {
    auto res = std::make_shared<http::response<http::string_body>>(static_cast<http::status>(r.status), version);
    res->set(http::field::server, "conect");
    res->set(http::field::content_type, r.content_type);
    for (const auto& [k, v] : r.headers) res->insert(k, v);
    res->keep_alive(keep_alive && !sh_->stopping);
    if (head) {
      res->content_length(r.body.size());
    } else {
      res->body() = std::move(r.body);
      res->prepare_payload();
    }
    stream_.expires_after(sh_->options.read_timeout);
    http::async_write(stream_, *res, [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
      if (!ec && self->linger_after_write_) return self->linger_then_close();
      if (ec || !res->keep_alive()) return self->close();
      self->read_header();
    });
  }

  void start_events() {
    {
      std::lock_guard lock(sh_->mu);
      std::erase_if(sh_->subscribers, [](const auto& w) { return w.expired(); });
      if (sh_->subscribers.size() >= sh_->options.max_event_clients) {
        return write_response(error_response(503, "too_many_clients", "too many event-stream clients; retry later"),
                              false, 11, false);
      }
      sh_->subscribers.push_back(weak_from_this());
    }
    counted_ = true;
    sh_->event_clients().add(1);
    state_ = State::streaming;
    event_writing_ = true;
    stream_.expires_after(sh_->options.read_timeout);
    net::async_write(stream_, net::buffer(kEventHead.data(), kEventHead.size()),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       self->event_writing_ = false;
                       if (ec) return self->close();
                       self->watch_for_close();
                       self->write_next_event();
                     });
  }

  // A streaming client sends nothing; any read completion means it left.
  void watch_for_close() {
    stream_.socket().async_read_some(net::buffer(probe_), [self = shared_from_this()](beast::error_code, std::size_t) {
      self->close();
    });
  }

  void write_next_event() {
    if (state_ != State::streaming) return;
    if (events_.empty()) {
      stream_.expires_never();
      return;
    }
    event_writing_ = true;
    auto event = events_.front();
    events_.pop_front();
    stream_.expires_after(sh_->options.read_timeout);
    net::async_write(stream_, net::buffer(*event), [self = shared_from_this(), event](beast::error_code ec, std::size_t) {
      self->event_writing_ = false;
      if (ec) return self->close();
      self->write_next_event();
    });
  }

  void close() {
    if (state_ == State::closed) return;
    state_ = State::closed;
    events_.clear();
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
    stream_.close();
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<HttpServer::Shared> sh_;
  State state_ = State::reading;
  std::deque<std::shared_ptr<const std::string>> events_;
  bool event_writing_ = false;
  bool counted_ = false;
  bool linger_after_write_ = false;
  std::size_t lingered_bytes_ = 0;
  static constexpr auto kLingerTime = std::chrono::seconds(2);
  static constexpr std::size_t kLingerBytes = 64u << 20;
  char probe_[4096];
};

void HttpServer::Shared::accept() {
  acceptor.async_accept(net::make_strand(io), [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
    if (self->stopping || ec == net::error::operation_aborted || !self->acceptor.is_open()) return;
    if (ec) {
      // Out of descriptors and the like: back off instead of spinning.
      auto timer = std::make_shared<net::steady_timer>(self->strand, std::chrono::milliseconds(100));
      timer->async_wait([self, timer](beast::error_code) { self->accept(); });
      return;
    }
    beast::error_code nec;
    socket.set_option(tcp::no_delay(true), nec);
    auto conn = std::make_shared<Connection>(std::move(socket), self);
    {
      std::lock_guard lock(self->mu);
      if (self->connections.size() > 64)
        std::erase_if(self->connections, [](const auto& w) { return w.expired(); });
      self->connections.push_back(conn);
    }
    conn->start();
    self->accept();
  });
}

HttpServer::HttpServer(net::io_context& io, ApiContext context, ApiOptions options)
    : pool_(std::make_unique<HandlerPool>(options.handler_threads)) {
  shared_ = std::make_shared<Shared>(io, std::move(context), std::move(options), *pool_);
}

HttpServer::~HttpServer() {
  stop();
  {
    std::lock_guard lock(pool_->mu);
    pool_->open = false;
  }
  pool_->pool.join();
}

Status HttpServer::start() {
  auto& sh = *shared_;
  std::string host = sh.options.host == "localhost" ? "127.0.0.1" : sh.options.host;
  beast::error_code ec;
  auto address = net::ip::make_address(host, ec);
  if (ec) return Error(Errc::invalid_argument, "API listen address \"" + sh.options.host + "\" is not an IP address");
  tcp::endpoint ep(address, sh.options.port);
  std::string where = sh.options.host + ":" + std::to_string(sh.options.port);
  sh.acceptor.open(ep.protocol(), ec);
  if (!ec) sh.acceptor.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) sh.acceptor.bind(ep, ec);
  if (!ec) sh.acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    sh.acceptor.close(ignored);
    return Error(Errc::io_error, "cannot listen for the API on " + where + ": " + ec.message() +
                                     " (choose another --api-listen port, or 0 for any)");
  }
  sh.port = sh.acceptor.local_endpoint(ec).port();
  sh.api.set_port(sh.port);
  sh.accept();
  return {};
}

std::uint16_t HttpServer::port() const { return shared_->port; }

void HttpServer::publish(const std::string& event_json) { shared_->publish(event_json); }

void HttpServer::publish_change(std::span<const VerifiedDelta> deltas) {
  if (shared_->event_clients().value() == 0) return;
  net::post(shared_->events_strand, [weak = std::weak_ptr<Shared>(shared_), change = summarize_change(deltas)] {
    if (auto sh = weak.lock()) sh->publish(change_event_json(change));
  });
}

void HttpServer::Shared::publish(const std::string& event_json) {
  auto& sh = *this;
  std::vector<std::shared_ptr<Connection>> targets;
  std::string frame;
  {
    std::lock_guard lock(sh.mu);
    frame = "id: " + std::to_string(++sh.event_seq) + "\nevent: change\n";
    for (auto& w : sh.subscribers)
      if (auto c = w.lock()) targets.push_back(std::move(c));
  }
  // Each line of the payload is its own data: line (the SSE framing rule).
  std::string_view rest = event_json;
  do {
    auto nl = rest.find('\n');
    frame += "data: ";
    frame += rest.substr(0, nl);
    frame += '\n';
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  } while (!rest.empty());
  frame += '\n';
  auto shared_frame = std::make_shared<const std::string>(std::move(frame));
  for (auto& c : targets) c->push_event(shared_frame);
}

std::string HttpServer::issue_login_code() { return shared_->api.sessions().issue_login_code(); }

void HttpServer::stop() {
  auto sh = shared_;
  if (sh->stopping.exchange(true)) return;
  net::post(sh->strand, [sh] {
    beast::error_code ec;
    sh->acceptor.close(ec);
  });
  std::vector<std::shared_ptr<Connection>> all;
  {
    std::lock_guard lock(sh->mu);
    for (auto& w : sh->connections)
      if (auto c = w.lock()) all.push_back(std::move(c));
  }
  for (auto& c : all) c->close_from_server();
  sh->api.stop_jobs();
}

}  // namespace conect::api
