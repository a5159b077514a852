#include "conect/node/ws_link.h"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include <deque>

namespace conect::node {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

Result<WsUrl> parse_ws_url(std::string_view url) {
  constexpr std::string_view scheme = "ws://";
  if (url.substr(0, scheme.size()) != scheme)
    return Error(Errc::invalid_argument, "'" + std::string(url) + "' must start with ws:// (e.g. ws://host:7700/sync)");
  std::string_view rest = url.substr(scheme.size());
  auto slash = rest.find('/');
  std::string_view authority = rest.substr(0, slash);
  std::string path = slash == std::string_view::npos ? "/sync" : std::string(rest.substr(slash));
  auto colon = authority.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == authority.size())
    return Error(Errc::invalid_argument, "'" + std::string(url) + "' needs HOST:PORT (e.g. ws://host:7700/sync)");
  WsUrl out;
  out.host = std::string(authority.substr(0, colon));
  out.port = std::string(authority.substr(colon + 1));
  if (out.host.front() == '[' && out.host.back() == ']') out.host = out.host.substr(1, out.host.size() - 2);
  for (char c : out.port)
    if (c < '0' || c > '9') return Error(Errc::invalid_argument, "'" + std::string(url) + "': port is not a number");
  out.path = path;
  return out;
}

namespace {

class WsLinkImpl final : public WsLink, public std::enable_shared_from_this<WsLinkImpl> {
 public:
  WsLinkImpl(tcp::socket socket, const WsLimits& limits, Handler handler)
      : ws_(std::move(socket)), limits_(limits), handler_(std::move(handler)) {}
  WsLinkImpl(asio::io_context& io, const WsLimits& limits, Handler handler)
      : ws_(asio::make_strand(io)), resolver_(ws_.get_executor()), limits_(limits), handler_(std::move(handler)) {}

  void start_accept(std::string path) {
    path_ = std::move(path);
    try {
      remote_ = beast::get_lowest_layer(ws_).socket().remote_endpoint().address().to_string();
    } catch (const std::exception&) {
      remote_ = "?";
    }
    beast::get_lowest_layer(ws_).expires_after(limits_.handshake_timeout);
    http::async_read(beast::get_lowest_layer(ws_), buffer_, request_,
                     beast::bind_front_handler(&WsLinkImpl::on_request, shared_from_this()));
  }

  void start_dial(WsUrl url) {
    url_ = std::move(url);
    remote_ = url_.host;
    resolver_->async_resolve(url_.host, url_.port,
                             beast::bind_front_handler(&WsLinkImpl::on_resolve, shared_from_this()));
  }

  void send(std::string frame) override {
    // dispatch, not post: called from the sync strand on an I/O thread (a
    // push right after its commit), the frame goes out on this thread when
    // the link's strand is idle, instead of waiting for another thread to
    // be woken for it (≈ 60 µs at p50, 100+ at p90 on the 2-core VM). From
    // any other thread, or while the strand is busy, it is queued as before.
    asio::dispatch(ws_.get_executor(), [self = shared_from_this(), frame = std::move(frame)]() mutable {
      if (self->closed_ || self->closing_) return;
      if (self->queue_.size() >= self->limits_.send_queue_max_frames ||
          self->queued_bytes_ + frame.size() > self->limits_.send_queue_max_bytes)
        return self->fail("send queue full (" + std::to_string(self->queue_.size()) + " frames, " +
                              std::to_string(self->queued_bytes_) + " bytes not yet read by the peer)",
                          CloseCause::send_queue_full);
      self->push(std::move(frame));
      if (self->queue_.size() == 1 && self->open_) self->write_next();
    });
  }

  void close(std::string reason, std::string final_frame, std::uint16_t close_code) override {
    asio::post(ws_.get_executor(), [self = shared_from_this(), reason = std::move(reason),
                                    final_frame = std::move(final_frame), close_code]() mutable {
      if (self->closed_) return;
      if (!self->open_) return self->fail(reason);
      self->close_reason_ = reason;
      self->close_code_ = close_code;
      if (!final_frame.empty()) self->push(std::move(final_frame));
      self->closing_ = true;
      if (self->queue_.empty())
        self->do_close();
      else if (self->queue_.size() == 1)
        self->write_next();
    });
  }

  std::string remote_address() const override { return remote_; }
  auto executor() { return ws_.get_executor(); }

 private:
  void push(std::string frame) {
    queued_bytes_ += frame.size();
    queue_.push_back(std::move(frame));
  }

  // Back-pressure: stop reading a peer whose answers pile up unread.
  bool queue_is_high() const {
    return queue_.size() >= limits_.send_queue_limit || queued_bytes_ >= limits_.send_queue_max_bytes / 2;
  }

  void configure_stream(bool server) {
    beast::get_lowest_layer(ws_).expires_never();
    // Sync is request/response (summaries, credit, batches): Nagle's
    // algorithm holding a small frame back for the peer's delayed ACK costs
    // tens of milliseconds per round trip.
    boost::system::error_code ignored;
    beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true), ignored);
    websocket::stream_base::timeout t{};
    t.handshake_timeout = limits_.handshake_timeout;
    t.idle_timeout = limits_.idle_timeout;
    t.keep_alive_pings = true;
    ws_.set_option(t);
    ws_.read_message_max(limits_.max_frame_bytes);
    ws_.binary(true);
    ws_.set_option(websocket::stream_base::decorator([server](auto& m) {
      m.set(http::field::server, "conect-node");
      (void)server;
    }));
  }

  void on_request(beast::error_code ec, std::size_t) {
    if (ec) return fail(ec == beast::error::timeout ? "handshake timeout" : "bad http request: " + ec.message());
    if (!websocket::is_upgrade(request_) || request_.target() != path_) {
      auto res = std::make_shared<http::response<http::string_body>>(http::status::not_found, request_.version());
      res->set(http::field::content_type, "application/json");
      res->body() = R"({"error":"not_found","detail":"the peer port serves only the WebSocket path )" + path_ + "\"}";
      res->prepare_payload();
      res->keep_alive(false);
      http::async_write(beast::get_lowest_layer(ws_), *res,
                        [self = shared_from_this(), res](beast::error_code, std::size_t) {
                          self->fail("not a websocket upgrade to " + self->path_);
                        });
      return;
    }
    configure_stream(true);
    ws_.async_accept(request_, beast::bind_front_handler(&WsLinkImpl::on_open, shared_from_this()));
  }

  void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
    if (ec) return fail("cannot resolve " + url_.host + ": " + ec.message());
    beast::get_lowest_layer(ws_).expires_after(limits_.handshake_timeout);
    beast::get_lowest_layer(ws_).async_connect(results,
                                               beast::bind_front_handler(&WsLinkImpl::on_connect, shared_from_this()));
  }

  void on_connect(beast::error_code ec, tcp::resolver::results_type::endpoint_type ep) {
    if (ec) return fail("cannot connect to " + url_.text() + ": " + ec.message());
    remote_ = ep.address().to_string();
    configure_stream(false);
    ws_.async_handshake(url_.host + ":" + url_.port, url_.path,
                        beast::bind_front_handler(&WsLinkImpl::on_open, shared_from_this()));
  }

  void on_open(beast::error_code ec) {
    if (ec) return fail("websocket handshake failed: " + ec.message());
    open_ = true;
    if (handler_.on_open) handler_.on_open();
    if (closed_) return;
    if (!queue_.empty()) write_next();
    read_next();
  }

  void read_next() {
    if (reading_ || closed_) return;
    if (queue_is_high()) return;  // resumed by on_write once the queue drains
    reading_ = true;
    ws_.async_read(read_buffer_, beast::bind_front_handler(&WsLinkImpl::on_read, shared_from_this()));
  }

  void on_read(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec) {
      if (ec == websocket::error::message_too_big) return fail("frame too large", CloseCause::frame_too_large);
      if (ec == websocket::error::closed) {
        // Both sides closing at once (it answered our final frame with its
        // own close): the link ends for the reason we closed it.
        if (closing_) return fail(close_reason_);
        const auto& why = ws_.reason();
        if (why.code == kCloseRemoved) return fail("refused: " + std::string(why.reason.c_str()), CloseCause::removed);
        return fail("closed by peer");
      }
      if (ec == beast::error::timeout) return fail("idle timeout");
      return fail(ec.message());
    }
    if (!ws_.got_binary()) return fail("text frame (only binary frames are spoken here)");
    std::string frame = beast::buffers_to_string(read_buffer_.data());
    read_buffer_.consume(read_buffer_.size());
    if (handler_.on_frame) handler_.on_frame(std::move(frame));
    read_next();
  }

  void write_next() {
    ws_.async_write(asio::buffer(queue_.front()), beast::bind_front_handler(&WsLinkImpl::on_write, shared_from_this()));
  }

  void on_write(beast::error_code ec, std::size_t) {
    if (ec) return fail("write failed: " + ec.message());
    if (closed_) return;  // failed meanwhile: the queue is gone
    queued_bytes_ -= queue_.front().size();
    queue_.pop_front();
    if (!queue_.empty()) return write_next();
    if (closing_) return do_close();
    read_next();
  }

  void do_close() {
    websocket::close_reason why(websocket::close_code::normal);
    if (close_code_ != websocket::close_code::normal) {
      why.code = close_code_;
      why.reason = close_reason_.substr(0, 123).c_str();
    }
    ws_.async_close(why, [self = shared_from_this()](beast::error_code) { self->fail(self->close_reason_); });
  }

  void fail(const std::string& reason, CloseCause cause = CloseCause::closed) {
    if (closed_) return;
    closed_ = true;
    // A write in flight (the front, once open) still reads its frame until
    // its handler runs; the rest can go now.
    if (open_ && !queue_.empty())
      queue_.erase(std::next(queue_.begin()), queue_.end());
    else
      queue_.clear();
    queued_bytes_ = 0;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
    beast::get_lowest_layer(ws_).socket().close(ignored);
    if (handler_.on_close) handler_.on_close(reason, cause);
    handler_ = {};  // break reference cycles held by the callbacks
  }

  websocket::stream<beast::tcp_stream> ws_;
  std::optional<tcp::resolver> resolver_;
  WsLimits limits_;
  Handler handler_;
  WsUrl url_;
  std::string path_;
  std::string remote_;
  beast::flat_buffer buffer_;
  beast::flat_buffer read_buffer_;
  http::request<http::string_body> request_;
  std::deque<std::string> queue_;
  std::size_t queued_bytes_ = 0;  // of the frames in queue_, the one being written included
  std::string close_reason_ = "closed";
  std::uint16_t close_code_ = websocket::close_code::normal;
  bool open_ = false;
  bool reading_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace

std::shared_ptr<WsLink> accept_ws(tcp::socket socket, const std::string& path, const WsLimits& limits,
                                  WsLink::Handler handler) {
  // The listener accepts onto a strand executor, so every handler of the
  // link runs serialised on it.
  auto link = std::make_shared<WsLinkImpl>(std::move(socket), limits, std::move(handler));
  link->start_accept(path);
  return link;
}

std::shared_ptr<WsLink> dial_ws(asio::io_context& io, const WsUrl& url, const WsLimits& limits,
                                WsLink::Handler handler) {
  auto link = std::make_shared<WsLinkImpl>(io, limits, std::move(handler));
  asio::post(link->executor(), [link, url] { link->start_dial(url); });
  return link;
}

}  // namespace conect::node
