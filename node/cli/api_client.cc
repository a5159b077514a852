#include "api_client.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <fstream>

#include "conect/config/config.h"

namespace conect::cli {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;

Result<ApiClient> ApiClient::for_data_dir(const DataDir& dir) {
  auto token = read_small_file(dir.token(), true);
  if (!token.ok()) {
    if (token.error().is(Errc::not_found))
      return Error(Errc::not_found, dir.root.string() +
                                        " is not an initialised data directory (no api.token); "
                                        "run `conect-node init` or pass the right --data");
    return token.error();
  }
  while (!token->empty() && (token->back() == '\n' || token->back() == '\r')) token->pop_back();
  std::string host = "127.0.0.1", port;
  if (std::ifstream in(dir.ports()); in) {
    try {
      nlohmann::json ports = nlohmann::json::parse(in);
      port = std::to_string(ports.at("api").get<int>());
    } catch (const std::exception&) {
    }
  }
  if (port.empty()) {
    auto cfg = config::load(dir.config());
    if (!cfg.ok()) return cfg.error();
    host = cfg->api_listen.host == "0.0.0.0" ? "127.0.0.1" : cfg->api_listen.host;
    port = std::to_string(cfg->api_listen.port);
  }
  return ApiClient(host, port, *token);
}

Result<ApiReply> ApiClient::request(const std::string& method, const std::string& target,
                                    const nlohmann::json* body) const {
  try {
    asio::io_context io;
    asio::ip::tcp::resolver resolver(io);
    beast::tcp_stream stream(io);
    stream.expires_after(std::chrono::seconds(60));
    stream.connect(resolver.resolve(host_, port_));
    http::request<http::string_body> req(http::string_to_verb(method), target, 11);
    req.set(http::field::host, host_ + ":" + port_);
    req.set(http::field::authorization, "Bearer " + token_);
    req.set(http::field::user_agent, "conect-node-cli");
    if (body) {
      req.set(http::field::content_type, "application/json");
      req.body() = body->dump();
    }
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(512u << 20);
    http::read(stream, buffer, parser);
    auto& res = parser.get();
    ApiReply reply;
    reply.status = res.result_int();
    reply.content_type = std::string(res[http::field::content_type]);
    reply.raw = res.body();
    if (reply.content_type.find("json") != std::string::npos && !reply.raw.empty())
      reply.body = nlohmann::json::parse(reply.raw, nullptr, false);
    else
      reply.body = reply.raw;
    beast::error_code ignored;
    stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
    return reply;
  } catch (const boost::system::system_error& e) {
    return Error(Errc::io_error, "cannot reach the node's API at " + base_url() + " (" + e.code().message() +
                                     "); is `conect-node run` running for this --data?");
  } catch (const std::exception& e) {
    return Error(Errc::io_error, "bad answer from the node's API at " + base_url() + " (" + e.what() + ")");
  }
}

}  // namespace conect::cli
