#include "http_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>

namespace conect::api::test {
namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = net::ip::tcp;

namespace {
void set_timeout(tcp::socket& s, int seconds) {
  s.set_option(tcp::no_delay(true));
  timeval tv{seconds, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}
constexpr int kTimeoutSeconds = 20;
}  // namespace

std::string Reply::header(const std::string& lower_name) const {
  for (const auto& [k, v] : headers)
    if (k == lower_name) return v;
  return {};
}

nlohmann::json Reply::json() const { return nlohmann::json::parse(body); }

struct Client::Impl {
  net::io_context io;
  tcp::socket socket{io};
  beast::flat_buffer buffer;
  std::vector<std::pair<std::string, std::string>> defaults;
  std::uint16_t port;

  void connect() {
    socket = tcp::socket(io);
    socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
    set_timeout(socket, kTimeoutSeconds);
    buffer.clear();
  }
};

Client::Client(std::uint16_t port) : impl_(std::make_unique<Impl>()) {
  impl_->port = port;
  impl_->connect();
}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

void Client::set_header(std::string name, std::string value) {
  impl_->defaults.emplace_back(std::move(name), std::move(value));
}
void Client::clear_headers() { impl_->defaults.clear(); }

Reply Client::request(const std::string& method, const std::string& target, const std::string& body,
                      const std::vector<std::pair<std::string, std::string>>& headers) {
  if (!impl_->socket.is_open()) impl_->connect();
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [k, v] : impl_->defaults) req.set(k, v);
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() && req[http::field::content_type].empty()) req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(impl_->socket, req);
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  if (method == "HEAD") parser.skip(true);
  http::read(impl_->socket, impl_->buffer, parser);
  auto& res = parser.get();
  Reply r;
  r.status = static_cast<int>(res.result_int());
  r.body = res.body();
  r.keep_alive = res.keep_alive();
  for (const auto& f : res) {
    std::string name(f.name_string());
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers.emplace_back(std::move(name), std::string(f.value()));
  }
  if (!r.keep_alive) {
    beast::error_code ec;
    impl_->socket.close(ec);
  }
  return r;
}

Reply Client::post(const std::string& target, const nlohmann::json& body) {
  return request("POST", target, body.dump());
}
Reply Client::patch(const std::string& target, const nlohmann::json& body) {
  return request("PATCH", target, body.dump());
}

bool Client::closed_by_peer() {
  if (!impl_->socket.is_open()) return true;
  char c;
  beast::error_code ec;
  impl_->socket.read_some(net::buffer(&c, 1), ec);
  return ec == net::error::eof || ec == net::error::connection_reset;
}

std::string raw_exchange(std::uint16_t port, const std::string& bytes) {
  net::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  set_timeout(s, kTimeoutSeconds);
  beast::error_code ec;
  net::write(s, net::buffer(bytes), ec);
  std::string out;
  char buf[4096];
  for (;;) {
    std::size_t n = s.read_some(net::buffer(buf), ec);
    out.append(buf, n);
    if (ec) break;
  }
  return out;
}

struct RawStream::Impl {
  net::io_context io;
  tcp::socket socket{io};
  std::string received;
};

RawStream::RawStream(std::uint16_t port, const std::string& request) : impl_(std::make_unique<Impl>()) {
  impl_->socket.connect(tcp::endpoint(net::ip::make_address("127.0.0.1"), port));
  set_timeout(impl_->socket, kTimeoutSeconds);
  net::write(impl_->socket, net::buffer(request));
}
RawStream::~RawStream() = default;

std::string RawStream::read_until(const std::string& needle) {
  char buf[4096];
  while (impl_->received.find(needle) == std::string::npos) {
    beast::error_code ec;
    std::size_t n = impl_->socket.read_some(net::buffer(buf), ec);
    impl_->received.append(buf, n);
    if (ec) break;
  }
  return impl_->received;
}

std::string RawStream::read_until_for(const std::string& needle, std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  char buf[4096];
  while (impl_->received.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    pollfd p{impl_->socket.native_handle(), POLLIN, 0};
    if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    beast::error_code ec;
    std::size_t n = impl_->socket.read_some(net::buffer(buf), ec);
    impl_->received.append(buf, n);
    if (ec) break;
  }
  return impl_->received;
}

bool RawStream::wait_closed() {
  char buf[4096];
  for (;;) {
    beast::error_code ec;
    std::size_t n = impl_->socket.read_some(net::buffer(buf), ec);
    impl_->received.append(buf, n);
    if (ec == net::error::eof || ec == net::error::connection_reset) return true;
    if (ec) return false;
  }
}

void RawStream::pause_reading_and_shrink_buffer() {
  int size = 4096;
  ::setsockopt(impl_->socket.native_handle(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
}

}  // namespace conect::api::test
